//! Glass-to-glass latency: the capture time the publisher wrote into the picture (the pixel
//! clock), read back from frames the browser actually composited (CDP screencast), against the
//! time each was drawn.

use std::time::Duration;

use anyhow::Context;

use crate::chromium::{Chromium, Recorder};
use crate::page::Page;
use crate::picture;
use crate::pixel_clock::{self, VideoRect};

/// The width of the pictures the test publisher captures, in whose pixels the pixel clock is
/// drawn. A lighter rendition is a scaled copy, so its clock lands on the same place of the
/// page whatever rendition plays (and the viewer may switch during a recording).
const CAPTURE_WIDTH: f64 = 1280.0;

/// Where the viewer's video is shown, in CSS pixels: the box of the element showing it (the
/// `<video>` the viewer puts in the canvas's place, or the canvas), letterboxed by
/// `object-fit: contain`; `width` is the picture's width on the page.
const VIDEO_RECT_JS: &str = "(() => { const v = document.querySelector('video'); \
    const e = v ?? document.querySelector('canvas'); \
    const [w, h] = v ? [v.videoWidth, v.videoHeight] : [e.width, e.height]; \
    const r = e.getBoundingClientRect(); \
    const s = Math.min(r.width / w, r.height / h); \
    return {x: r.x + (r.width - w * s) / 2, y: r.y + (r.height - h * s) / 2, width: w * s}; })()";

/// One composited frame whose clock could be read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// When the compositor drew it (Unix ms).
    pub drawn_ms: f64,
    /// When the publisher captured it (Unix ms), from its pixels.
    pub captured_ms: u64,
}

impl Sample {
    pub fn latency_ms(&self) -> f64 {
        self.drawn_ms - self.captured_ms as f64
    }
}

/// A recording: the frames whose clock could be read, how many frames were composited, and the
/// last composited frame (PNG) for a look when nothing could be read.
pub struct Recording {
    pub samples: Vec<Sample>,
    pub frames: usize,
    pub last_png: Option<Vec<u8>>,
}

/// Record the page for `duration` and read the clock from every composited frame.
pub fn record(
    chromium: &mut Chromium,
    recorder: Recorder,
    duration: Duration,
) -> anyhow::Result<Recording> {
    let css = chromium.evaluate(VIDEO_RECT_JS)?;
    let (x, y, scale) = (
        css["x"].as_f64().context("video rect")?,
        css["y"].as_f64().context("video rect")?,
        css["width"].as_f64().context("video rect")? / CAPTURE_WIDTH,
    );
    let mut samples = Vec::new();
    let mut frames = 0;
    let mut last_png = None;
    chromium.screencast(recorder, duration, |frame| {
        frames += 1;
        let mut rect = None;
        let rows = picture::decode_png_top(&frame.png, |width| {
            let image_scale = if frame.device_width > 0.0 {
                width as f64 / frame.device_width
            } else {
                1.0
            };
            let found = VideoRect {
                x: x * image_scale,
                y: y * image_scale,
                scale: scale * image_scale,
            };
            rect = Some(found);
            found.last_row() + 1
        })?;
        if let Some(rect) = rect
            && let Some(value) = pixel_clock::read(rect, |x, y| rows.luma(x, y))
        {
            samples.push(Sample {
                drawn_ms: frame.drawn_unix_ms,
                captured_ms: pixel_clock::unwrap(value, frame.drawn_unix_ms as u64),
            });
        }
        last_png = Some(frame.png);
        Ok(())
    })?;
    Ok(Recording {
        samples,
        frames,
        last_png,
    })
}

/// Glass-to-glass statistics over a recording.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
    /// Distinct video frames shown per second.
    pub fps_shown: f64,
    /// The longest time the shown clock did not change (ms): between two distinct frames'
    /// first composites, or from the last one to the end of the recording.
    pub longest_freeze: f64,
}

/// Each distinct video frame counts once, at the first composite that showed it (later repeats
/// of a frame say how long it stayed up, not how late it was).
pub fn summarize(samples: &[Sample], duration: Duration) -> Option<Summary> {
    let mut first_shown: Vec<&Sample> = Vec::new();
    for sample in samples {
        if first_shown
            .iter()
            .all(|s| s.captured_ms != sample.captured_ms)
        {
            first_shown.push(sample);
        }
    }
    let mut longest_freeze: f64 = 0.0;
    for pair in first_shown.windows(2) {
        longest_freeze = longest_freeze.max(pair[1].drawn_ms - pair[0].drawn_ms);
    }
    if let (Some(first), Some(last)) = (samples.first(), first_shown.last()) {
        let end = first.drawn_ms + duration.as_secs_f64() * 1000.0;
        longest_freeze = longest_freeze.max(end - last.drawn_ms);
    }
    let mut latencies: Vec<f64> = first_shown.iter().map(|s| s.latency_ms()).collect();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    (!latencies.is_empty()).then(|| Summary {
        p50: at(0.5),
        p95: at(0.95),
        max: at(1.0),
        fps_shown: first_shown.len() as f64 / duration.as_secs_f64(),
        longest_freeze,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(drawn_ms: f64, captured_ms: u64) -> Sample {
        Sample {
            drawn_ms,
            captured_ms,
        }
    }

    #[test]
    fn each_video_frame_counts_once_at_its_first_composite() {
        let samples = [
            sample(1030.0, 1000),
            sample(1046.0, 1000), // the same frame, still up
            sample(1063.0, 1033),
            sample(1080.0, 1050),
        ];
        let summary = summarize(&samples, Duration::from_secs(1)).unwrap();
        assert_eq!(summary.p50, 30.0);
        assert_eq!(summary.max, 30.0);
        assert_eq!(summary.fps_shown, 3.0);
        // 1000 was shown from 1030 to 1063, 1050 from 1080 until the end (1030 + 1000).
        assert_eq!(summary.longest_freeze, 950.0);
    }

    #[test]
    fn percentiles_of_a_spread() {
        let samples: Vec<Sample> = (0..100)
            .map(|i| sample(1000.0 + i as f64 * 17.0 + (i as f64), 1000 + i * 17))
            .collect();
        let summary = summarize(&samples, Duration::from_secs(2)).unwrap();
        assert_eq!((summary.p50, summary.p95, summary.max), (50.0, 94.0, 99.0));
        assert_eq!(summary.fps_shown, 50.0);
        assert_eq!(
            summary.longest_freeze,
            1000.0 + 2000.0 - (1000.0 + 99.0 * 18.0)
        );
        assert_eq!(summarize(&[], Duration::from_secs(1)), None);
    }
}
