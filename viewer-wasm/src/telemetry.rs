//! Everything `stats()` reports, updated by the playback glue as frames move through: the
//! lifecycle state, frame counters, the playing rendition, end-to-end latency and decode time.

use serde::{Deserialize, Serialize};

use crate::audio::status::{AudioReport, AudioStatus};
use crate::clock::Clock;
use crate::selection::Acceleration;
use crate::state::{Event, State, Status};
use crate::stats::{DecodeTimes, Summary, Window};

/// Samples kept for the percentiles: at most five seconds' worth, and no more than 300 (five
/// seconds at 60 fps).
pub const WINDOW: usize = 300;
pub const WINDOW_MS: f64 = 5000.0;

/// A live broadcast that sends no media for this long has stopped, whatever the relay says
/// yet (a publisher that dies without saying goodbye stays announced until its connection
/// times out). Publishers send every frame, even of a still picture, so this is never normal.
pub const STALL_MS: f64 = 3000.0;
/// A live broadcast that sends no media for this long says so (`noDataMs`): a person watching
/// a picture that stands still should know it is the link, not the desktop.
pub const NO_DATA_MS: f64 = 1000.0;

/// Frame counts since the viewer was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Non-empty frames read from the video track.
    #[serde(rename = "framesReceived")]
    pub received: u64,
    /// Frames the decoder output.
    #[serde(rename = "framesDecoded")]
    pub decoded: u64,
    /// Frames painted to the canvas.
    #[serde(rename = "framesRendered")]
    pub rendered: u64,
    /// Frames never painted: skipped before decoding or overtaken after it.
    #[serde(rename = "framesDropped")]
    pub dropped: u64,
    /// Decoder failures recovered from (rebuilt decoder, resumed at a keyframe).
    #[serde(rename = "decoderErrors")]
    pub decoder_errors: u64,
}

/// A point-in-time copy of the telemetry: what `stats()` returns to JavaScript (serialised
/// as JSON, camelCase) and what the test harness reads back (deserialised). `null` stands for
/// anything not known yet.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// "connecting" | "waiting for broadcast" | "live" | "offline" | "error".
    pub state: String,
    pub error: Option<String>,
    /// Why there is no picture while the broadcast's sound plays (the browser cannot decode
    /// any of its video renditions): the page shows it, since nothing else fails.
    pub video_error: Option<String>,
    pub codec: Option<String>,
    /// The size of the picture painted last: the rendition playing.
    pub width: Option<u32>,
    pub height: Option<u32>,
    #[serde(rename = "hardwareAcceleration")]
    pub acceleration: Option<String>,
    #[serde(flatten)]
    pub counters: Counters,
    /// Paint wall clock minus capture wall clock, last ~5 s.
    pub latency_ms: Summary,
    /// `decode()` call to decoder output, last ~5 s.
    pub decode_ms: Summary,
    /// The video rendition decoded, 0 being the best (set by the player).
    pub rendition: Option<usize>,
    /// How far decoding is behind the newest frame received, in media time (set by the
    /// player).
    pub lag_ms: Option<f64>,
    /// How much later than usual the last video frame arrived (set by the player).
    pub late_ms: Option<f64>,
    /// Rendition switches since the viewer was created (set by the player).
    pub switches: u64,
    /// The relay's estimate of what it can send this viewer, kb/s (its congestion
    /// controller's; absent where the relay reports none).
    #[serde(default)]
    pub bandwidth_kbps: Option<f64>,
    /// How the viewer reaches the relay: "webtransport" or "websocket" (set by the page).
    #[serde(default)]
    pub transport: Option<String>,
    /// How long the broadcast has sent no media, ms, once that is a second (the link or the
    /// publisher is stuck; the last picture stays); absent while media flows.
    #[serde(default)]
    pub no_data_ms: Option<f64>,
    pub audio: AudioReport,
}

/// The live telemetry of one viewer.
#[derive(Debug, Clone)]
pub struct Telemetry {
    pub status: Status,
    pub counters: Counters,
    pub audio: AudioStatus,
    codec: Option<String>,
    video_error: Option<String>,
    size: Option<(u32, u32)>,
    acceleration: Option<Acceleration>,
    clock: Option<Clock>,
    latency: Window,
    decode: Window,
    in_flight: DecodeTimes,
    /// When the last video frame arrived (or playback started), monotonic ms.
    last_frame_ms: f64,
    /// Whether the viewer went offline because video stopped, rather than by unannouncement.
    stalled: bool,
    /// The relay's bandwidth estimate, b/s.
    pub bandwidth_bps: Option<u64>,
    /// How long a live broadcast has sent nothing, once it is [`NO_DATA_MS`].
    no_data_ms: Option<f64>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            status: Status::default(),
            counters: Counters::default(),
            audio: AudioStatus::default(),
            codec: None,
            video_error: None,
            size: None,
            acceleration: None,
            clock: None,
            latency: Window::new(WINDOW, WINDOW_MS),
            decode: Window::new(WINDOW, WINDOW_MS),
            in_flight: DecodeTimes::default(),
            last_frame_ms: 0.0,
            stalled: false,
            bandwidth_bps: None,
            no_data_ms: None,
        }
    }
}

/// The rendition playback starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Playing<'a> {
    /// The video codec; `None` when only sound plays.
    pub codec: Option<&'a str>,
    /// Why only sound plays though the broadcast has video.
    pub video_error: Option<&'a str>,
    pub size: Option<(u32, u32)>,
    pub acceleration: Acceleration,
    pub clock: Option<Clock>,
}

impl Telemetry {
    /// A rendition was chosen and subscribed at `now_ms` (monotonic): the viewer is live, and
    /// the percentiles start over.
    pub fn playing(&mut self, playing: Playing<'_>, now_ms: f64) {
        self.codec = playing.codec.map(str::to_owned);
        self.video_error = playing.video_error.map(str::to_owned);
        self.size = playing.size;
        self.acceleration = Some(playing.acceleration);
        self.clock = playing.clock;
        self.latency.clear();
        self.decode.clear();
        self.in_flight.clear();
        self.last_frame_ms = now_ms;
        self.stalled = false;
        self.status.on(Event::Playing);
    }

    /// The catalog changed without changing the rendition (a publisher restart re-spliced
    /// into the same subscription): its clock may have moved.
    pub fn set_clock(&mut self, clock: Option<Clock>) {
        self.clock = clock;
    }

    /// A video frame arrived at `now_ms` (monotonic); video that resumes after a stall is live
    /// again.
    pub fn received(&mut self, now_ms: f64) {
        self.counters.received += 1;
        self.last_frame_ms = now_ms;
        self.no_data_ms = None;
        if self.stalled {
            self.stalled = false;
            self.status.on(Event::Playing);
        }
    }

    /// Note how long a live broadcast has sent no media, once that is [`NO_DATA_MS`]; go
    /// offline once it is [`STALL_MS`].
    pub fn check_stall(&mut self, now_ms: f64) {
        let quiet_ms = now_ms - self.last_frame_ms;
        let waiting = self.status.state() == State::Live || self.stalled;
        self.no_data_ms = (waiting && quiet_ms >= NO_DATA_MS).then_some(quiet_ms);
        if self.status.state() == State::Live && quiet_ms > STALL_MS {
            self.stalled = true;
            self.status.on(Event::Gone);
        }
    }

    /// A chunk stamped `timestamp_us` was passed to `decode()` at `now_ms` (monotonic).
    pub fn submitted(&mut self, timestamp_us: f64, now_ms: f64) {
        self.in_flight.submitted(timestamp_us, now_ms);
    }

    /// The decoder output the frame stamped `timestamp_us` at `now_ms` (same clock as submit).
    /// Returns how long its decode took, when its submission is known.
    pub fn decoded(&mut self, timestamp_us: f64, now_ms: f64) -> Option<f64> {
        self.counters.decoded += 1;
        let took = self.in_flight.completed(timestamp_us, now_ms)?;
        self.decode.push(took, now_ms);
        Some(took)
    }

    /// The decoder was reset: nothing in flight will come out.
    pub fn decoder_reset(&mut self) {
        self.in_flight.clear();
    }

    /// The frame stamped `timestamp_us` reached the canvas at `now_unix_ms` (wall clock).
    pub fn painted(&mut self, timestamp_us: f64, now_unix_ms: f64, size: (u32, u32)) {
        self.counters.rendered += 1;
        self.size = Some(size);
        if let Some(captured_unix_ms) = self.captured_unix_ms(timestamp_us) {
            self.latency
                .push(now_unix_ms - captured_unix_ms, now_unix_ms);
        }
    }

    /// When the frame stamped `timestamp_us` was captured, Unix ms (if the catalog has a clock).
    pub fn captured_unix_ms(&self, timestamp_us: f64) -> Option<f64> {
        self.clock.map(|clock| clock.sender_unix_ms(timestamp_us))
    }

    /// The median paint latency of the last few seconds, which audio is played at.
    pub fn video_latency_p50(&mut self) -> Option<f64> {
        self.latency.summary().p50
    }

    /// Media of any kind arrived at `now_ms` (monotonic): an audio-only broadcast is alive.
    pub fn alive(&mut self, now_ms: f64) {
        self.last_frame_ms = self.last_frame_ms.max(now_ms);
        if self.stalled {
            self.stalled = false;
            self.status.on(Event::Playing);
        }
    }

    pub fn report(&mut self) -> Report {
        let latency_ms = self.latency.summary();
        Report {
            audio: self.audio.report(latency_ms.p50),
            state: self.status.state().as_str().to_owned(),
            error: self.status.error().map(str::to_owned),
            video_error: self.video_error.clone(),
            codec: self.codec.clone(),
            width: self.size.map(|(width, _)| width),
            height: self.size.map(|(_, height)| height),
            acceleration: self.acceleration.map(|a| a.as_str().to_owned()),
            counters: self.counters,
            latency_ms,
            decode_ms: self.decode.summary(),
            rendition: None,
            lag_ms: None,
            late_ms: None,
            switches: 0,
            bandwidth_kbps: self.bandwidth_bps.map(|bps| bps as f64 / 1000.0),
            no_data_ms: self.no_data_ms,
            transport: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MOQ_EPOCH_UNIX_MILLIS;

    fn live() -> Telemetry {
        let mut telemetry = Telemetry::default();
        telemetry.status.on(Event::Connected);
        telemetry.playing(
            Playing {
                codec: Some("avc1.640020"),
                video_error: None,
                size: Some((1280, 720)),
                acceleration: Acceleration::NoPreference,
                // Timestamp zero at the moq epoch itself.
                clock: Some(Clock::new(0, 1_000_000).expect("clock")),
            },
            0.0,
        );
        telemetry
    }

    #[test]
    fn a_fresh_viewer_reports_nothing_known() {
        let report = Telemetry::default().report();
        assert_eq!(report.state, "connecting");
        assert_eq!(
            (report.codec, report.width, report.error),
            (None, None, None)
        );
        assert_eq!(report.latency_ms, Summary::default());
        assert_eq!(report.decode_ms, Summary::default());
    }

    #[test]
    fn latency_is_paint_wall_clock_minus_sender_wall_clock() {
        let mut telemetry = live();
        // Frame captured 2 s after timestamp zero, painted 35 ms later.
        telemetry.painted(2_000_000.0, MOQ_EPOCH_UNIX_MILLIS + 2_035.0, (1280, 720));
        let report = telemetry.report();
        assert_eq!(report.state, "live");
        assert_eq!(report.counters.rendered, 1);
        let last = report.latency_ms.last.expect("measured");
        assert!((last - 35.0).abs() < 1e-3, "{last}");
        assert_eq!(report.codec.as_deref(), Some("avc1.640020"));
        assert_eq!((report.width, report.height), (Some(1280), Some(720)));
        assert_eq!(report.acceleration.as_deref(), Some("no-preference"));
    }

    #[test]
    fn no_clock_means_no_latency() {
        let mut telemetry = Telemetry::default();
        telemetry.playing(
            Playing {
                codec: Some("avc1.640020"),
                video_error: None,
                size: None,
                acceleration: Acceleration::PreferHardware,
                clock: None,
            },
            0.0,
        );
        telemetry.painted(0.0, 1.0, (640, 360));
        let report = telemetry.report();
        assert_eq!(report.latency_ms.last, None);
        assert_eq!(report.width, Some(640));
    }

    #[test]
    fn decode_time_is_output_minus_submit() {
        let mut telemetry = live();
        telemetry.submitted(0.0, 100.0);
        telemetry.submitted(16_667.0, 116.0);
        telemetry.decoded(0.0, 104.0);
        telemetry.decoded(16_667.0, 122.0);
        let report = telemetry.report();
        assert_eq!(report.counters.decoded, 2);
        assert_eq!(report.decode_ms.p50, Some(4.0));
        assert_eq!(report.decode_ms.p95, Some(6.0));

        telemetry.submitted(33_333.0, 130.0);
        telemetry.decoder_reset();
        telemetry.decoded(33_333.0, 140.0);
        assert_eq!(
            telemetry.report().decode_ms.last,
            Some(6.0),
            "reset forgets in-flight chunks"
        );
    }

    #[test]
    fn video_that_stops_goes_offline_and_comes_back() {
        let mut telemetry = live();
        telemetry.received(1_000.0);
        telemetry.check_stall(1_000.0 + STALL_MS);
        assert_eq!(telemetry.report().state, "live");
        telemetry.check_stall(1_001.0 + STALL_MS);
        assert_eq!(telemetry.report().state, "offline");
        telemetry.received(9_000.0);
        let report = telemetry.report();
        assert_eq!(report.state, "live");
        assert_eq!(report.counters.received, 2);
    }

    #[test]
    fn a_second_without_media_says_so_until_media_comes_again() {
        let mut telemetry = live();
        telemetry.received(1_000.0);
        telemetry.check_stall(1_999.0);
        assert_eq!(telemetry.report().no_data_ms, None);
        telemetry.check_stall(2_500.0);
        assert_eq!(telemetry.report().no_data_ms, Some(1_500.0));
        telemetry.check_stall(1_000.0 + STALL_MS + 500.0);
        let report = telemetry.report();
        assert_eq!(report.state, "offline");
        assert_eq!(report.no_data_ms, Some(STALL_MS + 500.0), "still counting");
        telemetry.received(5_000.0);
        assert_eq!(telemetry.report().no_data_ms, None);
    }

    #[test]
    fn a_broadcast_that_never_sends_video_goes_offline() {
        let mut telemetry = live();
        telemetry.check_stall(STALL_MS + 1.0);
        assert_eq!(telemetry.report().state, "offline");
    }

    #[test]
    fn only_a_stall_is_undone_by_video() {
        let mut telemetry = live();
        telemetry.status.on(Event::Gone);
        telemetry.received(10.0);
        assert_eq!(
            telemetry.report().state,
            "offline",
            "unannounced stays offline"
        );
        telemetry.status.on(Event::Failed("boom".into()));
        telemetry.check_stall(STALL_MS * 2.0);
        assert_eq!(telemetry.report().state, "error", "only live can stall");
    }

    #[test]
    fn the_report_reads_back_as_the_javascript_object_it_serialises_to() {
        let mut telemetry = live();
        telemetry.counters.rendered = 7;
        telemetry.painted(2_000_000.0, MOQ_EPOCH_UNIX_MILLIS + 2_035.0, (1280, 720));
        let report = telemetry.report();
        let json = serde_json::to_value(&report).expect("serialises");
        assert_eq!(json["state"], "live");
        assert_eq!(json["framesRendered"], 8);
        assert_eq!(json["hardwareAcceleration"], "no-preference");
        assert!(json["latencyMs"]["p50"].is_number());
        assert!(json["decodeMs"]["p50"].is_null());
        assert_eq!(json["audio"]["state"], "off");
        assert!(json["audio"]["sampleRate"].is_null());
        let back: Report = serde_json::from_value(json).expect("deserialises");
        assert_eq!(back, report);
    }

    #[test]
    fn a_new_clock_moves_latency() {
        let mut telemetry = live();
        telemetry.set_clock(Some(Clock::new(1_000_000, 1_000_000).expect("clock")));
        telemetry.painted(0.0, MOQ_EPOCH_UNIX_MILLIS + 1_020.0, (1280, 720));
        let last = telemetry.report().latency_ms.last.expect("measured");
        assert!((last - 20.0).abs() < 1e-3, "{last}");
    }
}
