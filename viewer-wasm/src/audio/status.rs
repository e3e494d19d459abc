//! What `stats().audio` reports: the audio state (including why there is no sound), the
//! playing rendition, the ring's fill, underruns and concealment, and the audio latency and
//! A/V skew, and the recent stalls of what feeds the ring.

use std::collections::VecDeque;

use crate::stats::{Summary, Window};

/// Audio latency samples kept: five seconds of 10 ms packets.
const LATENCY_SAMPLES: usize = 500;
const LATENCY_WINDOW_MS: f64 = 5_000.0;
/// A chunk that comes out of the decoder this long after the previous one ends a stall, ms:
/// two packet intervals with nothing to write.
pub const STALL_MS: f64 = 20.0;
/// Stalls kept for the report.
const STALLS_KEPT: usize = 32;

/// A stretch in which no chunk came out of the decoder: the writer thread, the decoder or what
/// delivers the packets held up. What the ring had left when it ended says whether it was heard.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stall {
    /// When it ended (the chunk after it came out), Unix ms.
    pub ended_unix_ms: f64,
    /// How long nothing came, ms.
    pub gap_ms: f64,
    /// Audio left in the ring when it ended, ms (0: the worklet concealed).
    pub buffered_ms: f64,
}

/// Where audio playback is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioState {
    /// The broadcast has no audio (or nothing is playing yet).
    #[default]
    Off,
    /// Audio is being set up (decoder, audio context, worklet).
    Starting,
    /// The browser blocks sound until the user interacts: show "click to unmute".
    Blocked,
    Playing,
    /// Playing, but the user muted it.
    Muted,
    /// This browser or viewer cannot play the broadcast's audio; `error` says why.
    Unsupported,
    /// Audio failed; `error` says why. Video is unaffected.
    Failed,
}

impl AudioState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Starting => "starting",
            Self::Blocked => "blocked",
            Self::Playing => "playing",
            Self::Muted => "muted",
            Self::Unsupported => "unsupported",
            Self::Failed => "error",
        }
    }
}

/// The audio part of the telemetry.
#[derive(Debug, Clone)]
pub struct AudioStatus {
    pub state: AudioState,
    pub error: Option<String>,
    pub codec: Option<String>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    /// "shared" (SharedArrayBuffer ring) or "message" (posted chunks).
    pub transport: Option<&'static str>,
    /// Where audio is received, decoded and written: "worker" (a dedicated worker, on
    /// cross-origin isolated pages) or "page" (the page's thread).
    pub thread: Option<&'static str>,
    /// Audio written but not yet played, ms.
    pub buffered_ms: Option<f64>,
    /// Packets read from the audio track.
    pub packets_received: u64,
    /// The playout latency audio is planned at, ms.
    pub target_ms: Option<f64>,
    /// Capture → decoded latency of recent packets.
    pub arrival_ms: Summary,
    /// How far from its planned time the last chunk would have been heard before correction,
    /// ms (positive: late).
    pub error_ms: Option<f64>,
    pub underruns: u64,
    /// Time the worklet concealed (played on where the ring ran dry), ms, over the playback.
    pub concealed_ms: f64,
    /// Concealment events (runs of dry output after audio), over the playback.
    pub concealments: u64,
    /// Decoded audio dropped because the ring was full.
    pub overruns: u64,
    /// Audible corrections: skips and inserted silences.
    pub jumps: u64,
    /// Frames that left the worklet with audio in them.
    pub frames_played: u64,
    pub decoder_errors: u64,
    pub muted: bool,
    pub volume: f64,
    /// Capture → speakers, per chunk as scheduled.
    latency: Window,
    /// The latest stalls, oldest first.
    pub stalls: VecDeque<Stall>,
    /// Frames concealed over the playback, to set against `frames_played`.
    concealed_frames: u64,
    /// The worklet's concealment counters as last seen; `None` before its first report.
    concealment_counters: Option<(u32, u32)>,
    /// The playing track's figures as its player last reported them (it keeps its own status,
    /// on the page's thread or in the audio worker): they stand for this status's own.
    playback: Option<AudioReport>,
}

impl Default for AudioStatus {
    fn default() -> Self {
        Self {
            state: AudioState::Off,
            error: None,
            codec: None,
            sample_rate: None,
            channels: None,
            transport: None,
            thread: None,
            buffered_ms: None,
            packets_received: 0,
            target_ms: None,
            arrival_ms: Summary::default(),
            error_ms: None,
            underruns: 0,
            concealed_ms: 0.0,
            concealments: 0,
            overruns: 0,
            jumps: 0,
            frames_played: 0,
            decoder_errors: 0,
            muted: false,
            volume: 1.0,
            latency: Window::new(LATENCY_SAMPLES, LATENCY_WINDOW_MS),
            stalls: VecDeque::new(),
            concealed_frames: 0,
            concealment_counters: None,
            playback: None,
        }
    }
}

/// A point-in-time copy, for `stats().audio`.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioReport {
    pub state: String,
    pub error: Option<String>,
    pub codec: Option<String>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    pub transport: Option<String>,
    /// "worker" or "page" (absent from older viewers' reports).
    #[serde(default)]
    pub thread: Option<String>,
    pub buffered_ms: Option<f64>,
    pub packets_received: u64,
    pub target_ms: Option<f64>,
    pub arrival_ms: Summary,
    pub error_ms: Option<f64>,
    pub underruns: u64,
    /// Time concealed where the ring ran dry, ms, over the playback (absent from older
    /// viewers' reports: 0).
    #[serde(default)]
    pub concealed_ms: f64,
    /// Concealment events over the playback.
    #[serde(default)]
    pub concealments: u64,
    /// Concealed frames per frame heard (concealed and played), %, over the playback.
    #[serde(default)]
    pub concealed_percent: Option<f64>,
    pub overruns: u64,
    pub jumps: u64,
    pub frames_played: u64,
    pub decoder_errors: u64,
    pub muted: bool,
    pub volume: f64,
    pub latency_ms: Summary,
    /// Audio latency minus video latency (medians): positive when sound comes after picture.
    pub skew_ms: Option<f64>,
    /// The latest stalls (at most 32), oldest first (absent from older viewers' reports).
    #[serde(default)]
    pub stalls: Vec<Stall>,
    /// When the player made these figures, Unix ms: the page shows the latest the audio
    /// worker posted, which may be a tick (or a busy page's while) old.
    #[serde(default)]
    pub reported_unix_ms: Option<f64>,
}

impl AudioStatus {
    /// A rendition started playing: forget the previous one's figures.
    pub fn start(&mut self, codec: &str, sample_rate: u32, channels: u32) {
        self.codec = Some(codec.to_owned());
        self.sample_rate = Some(sample_rate);
        self.channels = Some(channels);
        self.error = None;
        self.buffered_ms = None;
        self.latency.clear();
        self.concealment_counters = None;
        self.playback = None;
        self.state = AudioState::Starting;
    }

    /// Audio cannot play (`state` says whether for good or by failure) because of `why`.
    pub fn refuse(&mut self, state: AudioState, why: String) {
        self.state = state;
        self.error = Some(why);
        self.buffered_ms = None;
        if let Some(playback) = &mut self.playback {
            playback.buffered_ms = None;
        }
    }

    /// The broadcast stopped having audio.
    pub fn stop(&mut self) {
        self.state = AudioState::Off;
        self.buffered_ms = None;
        self.latency.clear();
        self.playback = None;
    }

    /// The player's figures (its own status's report): reported from now on in place of this
    /// status's, all but what the page decides (state, muting, the rendition chosen).
    pub fn played(&mut self, playback: AudioReport) {
        self.playback = Some(playback);
    }

    /// Whether the audio context runs (`running`) decides between blocked and playing.
    pub fn context_running(&mut self, running: bool) {
        if matches!(
            self.state,
            AudioState::Starting | AudioState::Blocked | AudioState::Playing | AudioState::Muted
        ) {
            self.state = match (running, self.muted) {
                (false, _) => AudioState::Blocked,
                (true, true) => AudioState::Muted,
                (true, false) => AudioState::Playing,
            };
        }
    }

    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
        self.state = match (self.state, muted) {
            (AudioState::Playing, true) => AudioState::Muted,
            (AudioState::Muted, false) => AudioState::Playing,
            (state, _) => state,
        };
    }

    /// A stall ended: kept for the report, the oldest let go.
    pub fn stalled(&mut self, stall: Stall) {
        if self.stalls.len() == STALLS_KEPT {
            self.stalls.pop_front();
        }
        self.stalls.push_back(stall);
    }

    /// A chunk captured at `capture_unix_ms` is scheduled to be heard at `heard_unix_ms`.
    pub fn scheduled(&mut self, capture_unix_ms: f64, heard_unix_ms: f64) {
        self.latency
            .push(heard_unix_ms - capture_unix_ms, heard_unix_ms);
    }

    /// The worklet's concealment counters (`Counters::concealed_frames` and `concealments`,
    /// from 0 with each worklet, wrapping) at `sample_rate`: what they grew by since the last
    /// call is added to the playback's figures. Counters lower than last seen are a new
    /// worklet's, counted from 0 (the frames counter wraps only after 2³² concealed frames,
    /// a day of concealment).
    pub fn concealment(&mut self, concealed_frames: u32, concealments: u32, sample_rate: f64) {
        let (frames_before, events_before) = self
            .concealment_counters
            .filter(|&(frames, events)| concealed_frames >= frames && concealments >= events)
            .unwrap_or((0, 0));
        let frames = u64::from(concealed_frames - frames_before);
        self.concealed_frames += frames;
        if sample_rate > 0.0 {
            self.concealed_ms += frames as f64 * 1000.0 / sample_rate;
        }
        self.concealments += u64::from(concealments - events_before);
        self.concealment_counters = Some((concealed_frames, concealments));
    }

    pub fn report(&mut self, video_latency_p50: Option<f64>) -> AudioReport {
        let mut report = match &self.playback {
            Some(playback) => playback.clone(),
            None => self.figures(),
        };
        report.state = self.state.as_str().to_owned();
        report.error = self.error.clone().or(report.error);
        report.codec = self.codec.clone();
        report.sample_rate = self.sample_rate;
        report.channels = self.channels;
        report.muted = self.muted;
        report.volume = self.volume;
        report.skew_ms = report
            .latency_ms
            .p50
            .zip(video_latency_p50)
            .map(|(a, v)| a - v);
        report
    }

    /// This status's own figures (a player's, or the page's before any player reported).
    fn figures(&mut self) -> AudioReport {
        let latency_ms = self.latency.summary();
        AudioReport {
            state: self.state.as_str().to_owned(),
            error: self.error.clone(),
            codec: self.codec.clone(),
            sample_rate: self.sample_rate,
            channels: self.channels,
            transport: self.transport.map(str::to_owned),
            thread: self.thread.map(str::to_owned),
            buffered_ms: self.buffered_ms,
            packets_received: self.packets_received,
            target_ms: self.target_ms,
            arrival_ms: self.arrival_ms,
            error_ms: self.error_ms,
            underruns: self.underruns,
            concealed_ms: self.concealed_ms,
            concealments: self.concealments,
            concealed_percent: self.concealed_percent(),
            overruns: self.overruns,
            jumps: self.jumps,
            frames_played: self.frames_played,
            decoder_errors: self.decoder_errors,
            muted: self.muted,
            volume: self.volume,
            latency_ms,
            skew_ms: None,
            stalls: self.stalls.iter().copied().collect(),
            reported_unix_ms: None,
        }
    }

    fn concealed_percent(&self) -> Option<f64> {
        let heard = self.concealed_frames + self.frames_played;
        (heard > 0).then(|| self.concealed_frames as f64 * 100.0 / heard as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_context_asks_for_a_click_and_plays_once_running() {
        let mut audio = AudioStatus::default();
        audio.start("opus", 48_000, 2);
        assert_eq!(audio.report(None).state, "starting");
        audio.context_running(false);
        assert_eq!(audio.report(None).state, "blocked");
        audio.context_running(true);
        assert_eq!(audio.report(None).state, "playing");
        audio.set_muted(true);
        assert_eq!(audio.report(None).state, "muted");
        audio.context_running(true);
        assert_eq!(
            audio.report(None).state,
            "muted",
            "muting outlives context checks"
        );
        audio.set_muted(false);
        assert_eq!(audio.report(None).state, "playing");
    }

    #[test]
    fn a_refusal_says_why_and_is_not_undone_by_the_context() {
        let mut audio = AudioStatus::default();
        audio.start("ac-3", 48_000, 6);
        audio.refuse(
            AudioState::Unsupported,
            "this browser cannot decode ac-3".into(),
        );
        audio.context_running(true);
        let report = audio.report(Some(30.0));
        assert_eq!(report.state, "unsupported");
        assert_eq!(
            report.error.as_deref(),
            Some("this browser cannot decode ac-3")
        );
    }

    #[test]
    fn concealment_adds_up_over_the_playback_in_time_events_and_share() {
        let mut audio = AudioStatus::default();
        audio.start("opus", 48_000, 2);
        assert_eq!(
            audio.report(None).concealed_percent,
            None,
            "nothing heard yet"
        );
        audio.frames_played = 47_520;
        audio.concealment(480, 1, 48_000.0);
        audio.concealment(480, 1, 48_000.0);
        let report = audio.report(None);
        assert_eq!((report.concealed_ms, report.concealments), (10.0, 1));
        assert_eq!(report.concealed_percent, Some(1.0));
        // A new rendition's worklet counts from 0 again; the playback's figures go on.
        let mut audio = AudioStatus::default();
        audio.concealment(960, 2, 48_000.0);
        audio.start("opus", 16_000, 1);
        audio.concealment(160, 1, 16_000.0);
        let report = audio.report(None);
        assert_eq!((report.concealed_ms, report.concealments), (30.0, 3));
        // Without a start, a worklet whose counters went back is new too.
        audio.concealment(80, 1, 16_000.0);
        assert_eq!(
            audio.concealed_frames,
            960 + 160 + 80,
            "a lower counter is a new worklet's"
        );
        let report = audio.report(None);
        assert_eq!((report.concealed_ms, report.concealments), (35.0, 4));
    }

    #[test]
    fn the_report_names_concealment_in_camel_case_and_reads_older_reports() {
        let mut audio = AudioStatus {
            frames_played: 990,
            ..AudioStatus::default()
        };
        audio.concealment(10, 1, 1_000.0);
        let json = serde_json::to_value(audio.report(None)).expect("serialises");
        assert_eq!(json["concealedMs"], 10.0);
        assert_eq!(json["concealments"], 1);
        assert_eq!(json["concealedPercent"], 1.0);
        let mut older = json.as_object().expect("an object").clone();
        for name in ["concealedMs", "concealments", "concealedPercent"] {
            older.remove(name);
        }
        let report: AudioReport =
            serde_json::from_value(older.into()).expect("an older report reads");
        assert_eq!(
            (
                report.concealed_ms,
                report.concealments,
                report.concealed_percent
            ),
            (0.0, 0, None)
        );
    }

    #[test]
    fn a_players_figures_stand_for_the_pages_own_but_not_its_state_or_settings() {
        // The player (in the audio worker) keeps its own status and reports it.
        let mut player = AudioStatus {
            transport: Some("shared"),
            thread: Some("worker"),
            underruns: 2,
            packets_received: 300,
            error: Some("audio decoder: broken".into()),
            ..AudioStatus::default()
        };
        player.scheduled(0.0, 70.0);
        player.concealment(480, 1, 48_000.0);
        // The page chose the rendition, and the user muted it.
        let mut page = AudioStatus::default();
        page.start("opus", 48_000, 2);
        page.context_running(true);
        page.set_muted(true);
        page.played(player.report(None));
        let report = page.report(Some(30.0));
        assert_eq!(report.state, "muted");
        assert!(report.muted);
        assert_eq!(report.codec.as_deref(), Some("opus"));
        assert_eq!(report.thread.as_deref(), Some("worker"));
        assert_eq!(report.transport.as_deref(), Some("shared"));
        assert_eq!((report.underruns, report.packets_received), (2, 300));
        assert_eq!((report.concealed_ms, report.concealments), (10.0, 1));
        assert_eq!(report.error.as_deref(), Some("audio decoder: broken"));
        assert_eq!(report.skew_ms, Some(40.0), "skew against the page's video");
        // The page's own refusal comes first; a new rendition forgets the player's figures.
        page.refuse(AudioState::Failed, "the audio worker stopped".into());
        assert_eq!(
            page.report(None).error.as_deref(),
            Some("the audio worker stopped")
        );
        page.start("opus", 48_000, 2);
        let report = page.report(None);
        assert_eq!((report.underruns, report.thread), (0, None));
    }

    #[test]
    fn skew_is_audio_latency_minus_video_latency() {
        let mut audio = AudioStatus::default();
        audio.start("opus", 48_000, 2);
        for n in 0..10 {
            let capture = f64::from(n) * 10.0;
            audio.scheduled(capture, capture + 45.0);
        }
        let report = audio.report(Some(30.0));
        assert_eq!(report.latency_ms.p50, Some(45.0));
        assert_eq!(report.skew_ms, Some(15.0));
        assert_eq!(audio.report(None).skew_ms, None, "no video, no skew");
    }
}
