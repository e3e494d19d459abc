//! The publisher's live status: what it is doing and how the stream is flowing.
//!
//! [`Meter`] is pure: frames are recorded with the time they were read, and [`Meter::report`]
//! summarises the last reporting window. The caller prints [`Report`]'s one-line `Display`.

use std::fmt;

/// What the publisher is doing right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Connecting,
    Live,
    Reconnecting,
    /// The relay refuses this publisher (no token, or one it does not accept); still retrying.
    Refused,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Connecting => "connecting",
            State::Live => "live",
            State::Reconnecting => "reconnecting",
            State::Refused => "refused",
        })
    }
}

/// Frame counters over a reporting window.
#[derive(Debug, Default)]
pub struct Meter {
    total_frames: u64,
    window_start_ms: Option<u64>,
    window_frames: u64,
    window_bytes: u64,
    /// Capture → read latencies in this window (ms); a second of frames at most.
    window_ingest_ms: Vec<f64>,
}

/// A summary of one window.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub state: State,
    pub fps: f64,
    pub kbps: f64,
    pub frames: u64,
    /// Median capture → read latency in the window, when frames carried capture times.
    pub ingest_ms: Option<f64>,
}

impl Meter {
    /// A frame of `bytes` was read at `now_ms`, `ingest_ms` after it was captured.
    pub fn frame(&mut self, now_ms: u64, bytes: usize, ingest_ms: Option<f64>) {
        self.window_start_ms.get_or_insert(now_ms);
        self.total_frames += 1;
        self.window_frames += 1;
        self.window_bytes += bytes as u64;
        if let Some(ms) = ingest_ms {
            self.window_ingest_ms.push(ms);
        }
    }

    /// Summarise the window that ends at `now_ms` and start a new one.
    pub fn report(&mut self, now_ms: u64, state: State) -> Report {
        let seconds = self
            .window_start_ms
            .map(|start| now_ms.saturating_sub(start) as f64 / 1000.0)
            .filter(|s| *s > 0.0);
        let (fps, kbps) = match seconds {
            Some(s) => (
                self.window_frames as f64 / s,
                self.window_bytes as f64 * 8.0 / 1000.0 / s,
            ),
            None => (0.0, 0.0),
        };
        let ingest_ms = median(&mut self.window_ingest_ms);
        self.window_start_ms = Some(now_ms);
        self.window_frames = 0;
        self.window_bytes = 0;
        self.window_ingest_ms.clear();
        Report {
            state,
            fps,
            kbps,
            frames: self.total_frames,
            ingest_ms,
        }
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<12} {:5.1} fps  {:6.2} Mb/s  {:>8} frames",
            self.state,
            self.fps,
            self.kbps / 1000.0,
            self.frames
        )?;
        if let Some(ms) = self.ingest_ms {
            write!(f, "  ingest {ms:.1} ms")?;
        }
        Ok(())
    }
}

/// Another rendition's part of the status line, in the audio's style, named by `label` (`light`,
/// or the second codec's name): its median ingest latency, rate and bitrate
/// (`light 3 ms 30.0 fps 0.75 Mb/s`), or that no frame came.
pub struct ExtraReport(pub &'static str, pub Report);

impl fmt::Display for ExtraReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Report {
            fps,
            kbps,
            ingest_ms,
            ..
        } = self.1;
        let label = self.0;
        match ingest_ms {
            Some(ms) => write!(
                f,
                "{label} {ms:.0} ms {fps:.1} fps {:.2} Mb/s",
                kbps / 1000.0
            ),
            None => write!(f, "{label} stalled"),
        }
    }
}

/// What the video's ffmpeg is doing, when it is not simply running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VideoState {
    Running,
    /// It ended (`ffmpeg exited: …`, `ffmpeg stalled: …`) and is being restarted.
    Restarting(String),
}

impl fmt::Display for VideoState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VideoState::Running => f.write_str("video running"),
            VideoState::Restarting(why) => write!(f, "video restarting ({why})"),
        }
    }
}

/// What the audio is doing right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AudioState {
    /// No audio: `--no-audio`, a source without sound, or nothing to capture.
    Off,
    /// Its ffmpeg is starting (or restarting) and nothing has arrived yet.
    Starting,
    Live,
    /// It could not start, or gave up; video goes on without it.
    Failed,
    /// It ended (`ffmpeg exited: …`, `ffmpeg stalled: …`) after running and is being restarted.
    Restarting(String),
}

/// Audio counters over a reporting window, and the audio's state.
#[derive(Debug)]
pub struct AudioMeter {
    pub state: AudioState,
    /// Codec name and bitrate for the status line.
    codec: &'static str,
    kbps: u32,
    pub total_packets: u64,
    window_ingest_ms: Vec<f64>,
}

/// A summary of the audio over one window.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioReport {
    pub state: AudioState,
    pub codec: &'static str,
    pub kbps: u32,
    /// Median capture → read latency of the window's packets.
    pub ingest_ms: Option<f64>,
}

impl AudioMeter {
    pub fn new(state: AudioState, codec: &'static str, kbps: u32) -> Self {
        Self {
            state,
            codec,
            kbps,
            total_packets: 0,
            window_ingest_ms: Vec::new(),
        }
    }

    /// A packet was read, `ingest_ms` after its first sample was captured.
    pub fn packet(&mut self, ingest_ms: Option<f64>) {
        self.total_packets += 1;
        if let Some(ms) = ingest_ms
            && self.window_ingest_ms.len() < 10_000
        {
            self.window_ingest_ms.push(ms);
        }
    }

    /// Summarise the window and start a new one.
    pub fn report(&mut self) -> AudioReport {
        let ingest_ms = median(&mut self.window_ingest_ms);
        self.window_ingest_ms.clear();
        AudioReport {
            state: self.state.clone(),
            codec: self.codec,
            kbps: self.kbps,
            ingest_ms,
        }
    }
}

impl fmt::Display for AudioReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            AudioState::Live => {
                return match self.ingest_ms {
                    Some(ms) => write!(f, "audio {ms:.0} ms {} {} kb/s", self.codec, self.kbps),
                    None => write!(f, "audio stalled {} {} kb/s", self.codec, self.kbps),
                };
            }
            AudioState::Off => "off",
            AudioState::Starting => "starting",
            AudioState::Failed => "failed",
            AudioState::Restarting(why) => return write!(f, "audio restarting ({why})"),
        };
        write!(f, "audio {state}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restarting_video_says_why() {
        let state = VideoState::Restarting("ffmpeg exited: signal: 9 (SIGKILL)".into());
        assert_eq!(
            state.to_string(),
            "video restarting (ffmpeg exited: signal: 9 (SIGKILL))"
        );
    }

    #[test]
    fn audio_shows_its_latency_codec_and_bitrate_when_live_and_its_state_otherwise() {
        let mut meter = AudioMeter::new(AudioState::Starting, "opus", 144);
        assert_eq!(meter.report().to_string(), "audio starting");
        meter.state = AudioState::Live;
        for ms in [2.0, 3.0, 9.0] {
            meter.packet(Some(ms));
        }
        assert_eq!(meter.report().to_string(), "audio 3 ms opus 144 kb/s");
        assert_eq!(meter.report().to_string(), "audio stalled opus 144 kb/s");
        meter.state = AudioState::Restarting("ffmpeg exited: signal: 9 (SIGKILL)".into());
        assert_eq!(
            meter.report().to_string(),
            "audio restarting (ffmpeg exited: signal: 9 (SIGKILL))"
        );
        meter.state = AudioState::Failed;
        assert_eq!(meter.report().to_string(), "audio failed");
        assert_eq!(
            AudioMeter::new(AudioState::Off, "aac", 128)
                .report()
                .to_string(),
            "audio off"
        );
        assert_eq!(meter.total_packets, 3);
    }

    #[test]
    fn reports_rate_bitrate_and_median_ingest_over_the_window() {
        let mut meter = Meter::default();
        for i in 0..60u64 {
            meter.frame(1000 + i * 1000 / 60, 10_000, Some((i % 10) as f64));
        }
        let report = meter.report(2000, State::Live);
        assert!((report.fps - 60.0).abs() < 0.01, "{report:?}");
        assert!((report.kbps - 4800.0).abs() < 0.1, "{report:?}");
        assert_eq!(report.frames, 60);
        assert_eq!(report.ingest_ms, Some(5.0));
        let line = report.to_string();
        assert!(line.starts_with("live"), "{line}");
        assert!(
            line.contains("60.0 fps")
                && line.contains("4.80 Mb/s")
                && line.contains("ingest 5.0 ms"),
            "{line}"
        );
    }

    #[test]
    fn the_light_rendition_shows_latency_rate_and_bitrate_or_that_it_stalled() {
        let mut meter = Meter::default();
        for i in 0..30u64 {
            meter.frame(1000 + i * 1000 / 30, 3125, Some(3.0));
        }
        let report = ExtraReport("light", meter.report(2000, State::Live));
        assert_eq!(report.to_string(), "light 3 ms 30.0 fps 0.75 Mb/s");
        let idle = ExtraReport("light", meter.report(3000, State::Live));
        assert_eq!(idle.to_string(), "light stalled");
    }

    #[test]
    fn a_new_window_starts_after_each_report_and_totals_keep_counting() {
        let mut meter = Meter::default();
        meter.frame(0, 100, None);
        meter.report(1000, State::Live);
        let idle = meter.report(2000, State::Reconnecting);
        assert_eq!(
            (idle.fps, idle.kbps, idle.frames, idle.ingest_ms),
            (0.0, 0.0, 1, None)
        );
        assert!(idle.to_string().starts_with("reconnecting"));
    }

    #[test]
    fn no_frames_yet_reports_zero_not_nan() {
        let report = Meter::default().report(5000, State::Connecting);
        assert_eq!((report.fps, report.kbps), (0.0, 0.0));
    }
}
