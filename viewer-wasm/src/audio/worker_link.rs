//! What the page and the audio worker tell each other when audio runs in a dedicated worker
//! (cross-origin isolated pages): the page starts the worker with [`WorkerStart`] (where to
//! dial, which track, how to decode it) and then posts a [`Tick`] every [`TICK_MS`] with what
//! only the page knows (the audio context's output clock, whether it runs, the video's
//! latency); the worker posts its playback figures back as an
//! [`AudioReport`](crate::audio::status::AudioReport) as often. All travel as JSON.

use crate::transport::Transport;
use serde::{Deserialize, Serialize};

use crate::audio::schedule::OutputClock;
use crate::catalog::AudioRendition;
use crate::clock::Clock;

/// How often the page posts a tick and the worker its figures, ms.
pub const TICK_MS: f64 = 250.0;

/// Everything the worker needs to play the track the page chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStart {
    /// The relay URL the page dials (with its subscribe token, if any).
    pub relay: String,
    /// Where the relay certificate's fingerprint is served, when it is pinned.
    pub fingerprint: Option<String>,
    /// How the page reaches the relay: the worker does the same.
    pub transport: Transport,
    pub broadcast: String,
    pub track: String,
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u32,
    pub description: Option<Vec<u8>>,
    /// The catalog's clock (capture time of timestamp zero), when it has one.
    pub clock: Option<Clock>,
}

impl WorkerStart {
    /// The rendition to decode, as the catalog said it.
    pub fn rendition(&self) -> AudioRendition {
        AudioRendition {
            codec: self.codec.clone(),
            sample_rate: self.sample_rate,
            number_of_channels: self.channels,
            description: self.description.clone(),
            bitrate: None,
            container: Default::default(),
            broadcast: None,
            problem: None,
        }
    }
}

/// The audio context's output timestamp: `contextTime` and when it is heard, Unix ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputStamp {
    pub context_seconds: f64,
    pub unix_ms: f64,
}

/// The farthest from now a context says its `contextTime` is heard and still be believed, ms:
/// output latencies are tens of ms. WebKitGTK's `getOutputTimestamp()` put it 12 s away,
/// and sound planned by it ran seconds late.
pub const MAX_STAMP_OFFSET_MS: f64 = 1_000.0;

impl OutputStamp {
    /// Whether a stamp taken at `now_unix_ms` is believable ([`MAX_STAMP_OFFSET_MS`]).
    pub fn plausible(&self, now_unix_ms: f64) -> bool {
        (self.unix_ms - now_unix_ms).abs() <= MAX_STAMP_OFFSET_MS
    }

    /// The output clock at `sample_rate` for a worklet whose context frame minus ring frame is
    /// `frame_offset`. A stamp some ticks old still places frames right: the context's clock
    /// and the wall clock run together (a few ppm apart), so any stamp is a point on the line.
    pub fn clock(&self, sample_rate: f64, frame_offset: u32) -> OutputClock {
        OutputClock {
            sample_rate,
            frame_offset,
            context_frames: self.context_seconds * sample_rate,
            unix_ms: self.unix_ms,
        }
    }
}

/// What the page posts to the worker every [`TICK_MS`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tick {
    /// `None` until the context has a timestamp.
    pub output: Option<OutputStamp>,
    /// Whether the audio context runs (not blocked waiting for a click).
    pub running: bool,
    /// The video's paint latency median, which audio is played at.
    pub video_latency_p50: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::status::AudioReport;

    #[test]
    fn a_start_travels_as_json_with_its_clock_and_description() {
        let start = WorkerStart {
            relay: "https://127.0.0.1:4443/anon?jwt=x".into(),
            fingerprint: Some("https://127.0.0.1:8443/certificate.sha256".into()),
            transport: Transport::WebSocket,
            broadcast: "screen".into(),
            track: "audio".into(),
            codec: "opus".into(),
            sample_rate: 48_000,
            channels: 2,
            description: Some(vec![1, 2, 255]),
            clock: Some(Clock::new(189_216_000_000_000, 1_000_000).expect("valid clock")),
        };
        let json = serde_json::to_string(&start).expect("serialises");
        let back: WorkerStart = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, start);
        let rendition = back.rendition();
        assert_eq!(rendition.describe(), "opus 48000 Hz x2");
        assert_eq!(rendition.unplayable_reason(), None);
        assert_eq!(rendition.description, Some(vec![1, 2, 255]));
    }

    #[test]
    fn a_tick_and_a_report_travel_as_json() {
        let tick = Tick {
            output: Some(OutputStamp {
                context_seconds: 1.5,
                unix_ms: 1.7e12,
            }),
            running: true,
            video_latency_p50: Some(31.0),
        };
        let json = serde_json::to_string(&tick).expect("serialises");
        assert!(json.contains("videoLatencyP50"), "{json}");
        assert_eq!(serde_json::from_str::<Tick>(&json).expect("reads"), tick);
        let report = AudioReport {
            underruns: 3,
            thread: Some("worker".into()),
            ..AudioReport::default()
        };
        let json = serde_json::to_string(&report).expect("serialises");
        assert_eq!(
            serde_json::from_str::<AudioReport>(&json).expect("reads"),
            report
        );
    }

    #[test]
    fn a_stamp_heard_seconds_away_is_not_believed() {
        let stamp = |unix_ms| OutputStamp {
            context_seconds: 3.0,
            unix_ms,
        };
        assert!(stamp(10_040.0).plausible(10_000.0));
        assert!(!stamp(22_000.0).plausible(10_000.0));
        assert!(!stamp(f64::NAN).plausible(10_000.0));
    }

    #[test]
    fn an_old_stamp_places_frames_as_a_fresh_one_does() {
        let rate = 48_000.0;
        // Context frame 48 000 (1 s) is heard at Unix 10 000 ms; the worklet's ring frame 0 is
        // context frame 4 800.
        let stamp = OutputStamp {
            context_seconds: 1.0,
            unix_ms: 10_000.0,
        };
        let fresh = OutputStamp {
            context_seconds: 3.0,
            unix_ms: 12_000.0,
        };
        for frame in [0, 43_200, 200_000] {
            let old = stamp.clock(rate, 4_800).heard_unix_ms(frame);
            let new = fresh.clock(rate, 4_800).heard_unix_ms(frame);
            assert!((old - new).abs() < 1e-6, "{old} vs {new}");
        }
        assert!((stamp.clock(rate, 4_800).heard_unix_ms(43_200) - 10_000.0).abs() < 1e-6);
    }
}
