//! Which video rendition to play: the best one the viewer keeps up with. Renditions are
//! ranked best first (index 0). A viewer whose decoding stays behind steps down one rung; one
//! that has kept up comfortably for a while probes one rung up, and waits twice as long before
//! the next probe each time a probe fails (steps down again soon after).
//!
//! "Behind" is the larger of two lags: the decode lag in media time (see [`super::decode`]),
//! and how much later than usual frames reach the player ([`Lateness`]: a network that cannot
//! carry the rendition, or a page too busy to read it). More than [`STEP_DOWN_LAG_MS`] for
//! [`STEP_DOWN_AFTER_MS`] on end ([`LATE_STEP_DOWN_AFTER_MS`] when it is the frames that come
//! late), or a jump to the next keyframe (which happens only beyond the jump budget) steps
//! down at once.
//!
//! A probe up needs evidence of headroom too: the decoder's busy fraction (each frame's
//! service time, from its submission or the previous output, whichever is later, to its
//! output) scaled by how much more the rung above costs (pixels × frame rate) must stay under
//! [`PROBE_HEADROOM`]. Without it a viewer that cannot decode the rung above would probe,
//! stall, and step down again every few minutes. And the link must have room for it: its
//! bitrate within [`FIT_SHARE`] of the relay's bandwidth estimate, where the relay gives one.

use std::collections::VecDeque;

/// Decode lag that, sustained, means the viewer cannot keep up with this rendition.
pub const STEP_DOWN_LAG_MS: f64 = 150.0;
pub const STEP_DOWN_AFTER_MS: f64 = 1000.0;
/// How long frames arriving that late must last to step down: a network that cannot carry the
/// rendition only gets later, while a stall of the network (a Wi-Fi scan, a roam) is over, and
/// its frames in, well within this.
pub const LATE_STEP_DOWN_AFTER_MS: f64 = 500.0;
/// How far back the trend of the lateness is judged, ms.
pub const LATE_TREND_MS: f64 = 250.0;
/// Frames that got this much less late over [`LATE_TREND_MS`] are catching up (falling at
/// 100 ms per second or faster), not behind.
pub const CATCHING_UP_MS: f64 = 25.0;

/// Decode lag under which the viewer counts as comfortable.
pub const CALM_LAG_MS: f64 = 50.0;

/// How long a viewer must stay comfortable before the first probe up, and the longest wait.
pub const FIRST_PROBE_MS: f64 = 10_000.0;
pub const LONGEST_PROBE_MS: f64 = 160_000.0;

/// Joining is no evidence: a subscription starts with its group's backlog to decode through
/// (and may jump if the next keyframe comes first). Until the player first catches up, or this
/// long after the start, nothing steps down.
pub const JOIN_GRACE_MS: f64 = 2500.0;

/// A step down this soon after a step up means the probe failed.
const PROBE_FAILED_WITHIN_MS: f64 = 10_000.0;

/// The decoder's estimated busy fraction on the rung above must stay under this to probe.
pub const PROBE_HEADROOM: f64 = 0.75;

/// The share of the relay's bandwidth estimate a rung probed up to may take (the upstream
/// player picks by 0.8 × its estimate too): the rest absorbs keyframes and audio.
pub const FIT_SHARE: f64 = 0.8;

/// How much decoding the busy fraction covers.
const LOAD_WINDOW_MS: f64 = 3000.0;

#[derive(Debug, Clone, PartialEq)]
pub struct Ladder {
    /// Relative decode cost of each rendition, ranked best first.
    costs: Vec<f64>,
    /// Each rendition's bitrate (b/s), where the catalog says it.
    bitrates: Vec<Option<f64>>,
    /// The relay's estimate of what it can send this viewer, b/s, once it has one.
    bandwidth_bps: Option<f64>,
    playing: usize,
    load: DecodeLoad,
    /// (arrival ms, how much later than usual) of the rendition playing's frames over the
    /// last [`LATE_TREND_MS`], oldest first.
    late: VecDeque<(f64, f64)>,
    behind_since: Option<f64>,
    calm_since: Option<f64>,
    probe_after_ms: f64,
    stepped_up_at: Option<f64>,
    /// When playback started (the first update), and whether it has caught up since.
    started_ms: Option<f64>,
    caught_up: bool,
}

impl Ladder {
    /// Renditions ranked best first with their relative decode costs, playing `playing`.
    pub fn new(costs: Vec<f64>, playing: usize) -> Self {
        Self {
            bitrates: vec![None; costs.len()],
            bandwidth_bps: None,
            costs,
            playing,
            load: DecodeLoad::default(),
            late: VecDeque::new(),
            behind_since: None,
            calm_since: None,
            probe_after_ms: FIRST_PROBE_MS,
            stepped_up_at: None,
            started_ms: None,
            caught_up: false,
        }
    }

    /// The renditions' bitrates (b/s, ranked as the costs), where known.
    pub fn with_bitrates(self, bitrates: Vec<Option<f64>>) -> Self {
        Self { bitrates, ..self }
    }

    pub fn playing(&self) -> usize {
        self.playing
    }

    /// The relay's bandwidth estimate changed (`None`: it has none now).
    pub fn bandwidth(&mut self, bps: Option<f64>) {
        self.bandwidth_bps = bps;
    }

    /// Whether the link leaves room for the rung above: its bitrate within [`FIT_SHARE`] of
    /// the relay's estimate. Without an estimate or a bitrate, only the decoder's load
    /// decides.
    fn fits_above(&self) -> bool {
        let above = self.playing.checked_sub(1);
        let bitrate = above.and_then(|up| self.bitrates.get(up).copied().flatten());
        match (bitrate, self.bandwidth_bps) {
            (Some(bitrate), Some(bandwidth)) => bitrate <= bandwidth * FIT_SHARE,
            _ => true,
        }
    }

    /// The decoder output a frame at `now_ms`, `took_ms` after its chunk was submitted (the
    /// telemetry's decode time).
    pub fn decoded(&mut self, now_ms: f64, took_ms: f64) {
        self.load.decoded(now_ms, took_ms);
    }

    /// A frame of the rendition playing arrived at `now_ms`, `late_ms` later than usual
    /// ([`Lateness`]).
    pub fn arriving(&mut self, now_ms: f64, late_ms: f64) {
        self.late.push_back((now_ms, late_ms));
        while self
            .late
            .front()
            .is_some_and(|&(at, _)| now_ms - at > LATE_TREND_MS)
        {
            self.late.pop_front();
        }
    }

    /// How late frames arrive, as far as it counts as being behind: not while they get less
    /// late by more than [`CATCHING_UP_MS`] over [`LATE_TREND_MS`] — a backlog draining after
    /// an outage or a stall of the network, over a link faster than the stream. A link that
    /// cannot carry the rendition only gets later.
    fn late_behind_ms(&self) -> f64 {
        let (Some(&(_, oldest)), Some(&(_, newest))) = (self.late.front(), self.late.back()) else {
            return 0.0;
        };
        match newest < oldest - CATCHING_UP_MS {
            true => 0.0,
            false => newest,
        }
    }

    /// Whether the rung above would leave the decoder some headroom, judged by the load now.
    fn headroom_above(&self, now_ms: f64) -> bool {
        let (Some(&here), Some(&above)) = (
            self.costs.get(self.playing),
            self.playing
                .checked_sub(1)
                .and_then(|up| self.costs.get(up)),
        ) else {
            return false;
        };
        let scale = if here > 0.0 {
            above / here
        } else {
            f64::INFINITY
        };
        self.load
            .busy_fraction(now_ms)
            .is_some_and(|busy| busy * scale < PROBE_HEADROOM)
    }

    /// The decode lag at `now_ms`, and whether the player just jumped ahead. Returns the
    /// rendition to switch to, if any; the switch counts from now.
    pub fn update(&mut self, now_ms: f64, lag_ms: f64, jumped: bool) -> Option<usize> {
        let late_ms = self.late_behind_ms();
        let lag_ms = lag_ms.max(late_ms);
        let started = *self.started_ms.get_or_insert(now_ms);
        if !self.caught_up {
            self.caught_up = lag_ms <= STEP_DOWN_LAG_MS && !jumped;
            if !self.caught_up && now_ms - started < JOIN_GRACE_MS {
                return None;
            }
        }
        if lag_ms > STEP_DOWN_LAG_MS || jumped {
            self.calm_since = None;
            let since = *self.behind_since.get_or_insert(now_ms);
            let after = match late_ms > STEP_DOWN_LAG_MS {
                true => LATE_STEP_DOWN_AFTER_MS,
                false => STEP_DOWN_AFTER_MS,
            };
            let sustained = now_ms - since >= after;
            if (jumped || sustained) && self.playing + 1 < self.costs.len() {
                if self
                    .stepped_up_at
                    .is_some_and(|at| now_ms - at < PROBE_FAILED_WITHIN_MS)
                {
                    self.probe_after_ms = (self.probe_after_ms * 2.0).min(LONGEST_PROBE_MS);
                }
                return Some(self.switch(self.playing + 1));
            }
            return None;
        }
        self.behind_since = None;
        if lag_ms >= CALM_LAG_MS {
            self.calm_since = None;
            return None;
        }
        let since = *self.calm_since.get_or_insert(now_ms);
        if self.playing > 0
            && now_ms - since >= self.probe_after_ms
            && self.headroom_above(now_ms)
            && self.fits_above()
        {
            self.stepped_up_at = Some(now_ms);
            return Some(self.switch(self.playing - 1));
        }
        None
    }

    fn switch(&mut self, to: usize) -> usize {
        self.playing = to;
        self.late.clear();
        self.behind_since = None;
        self.calm_since = None;
        to
    }
}

/// How much later than usual frames arrive: each frame's arrival time minus its timestamp,
/// against the smallest such delay of the last [`LATENESS_WINDOW_MS`] (so neither the clock
/// offset between sender and viewer nor a slow drift between their clocks counts).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lateness {
    /// (arrival ms, delay ms), delays increasing: the candidates for the window's minimum.
    minima: VecDeque<(f64, f64)>,
    late_ms: f64,
}

/// How far back the usual delay is looked for.
pub const LATENESS_WINDOW_MS: f64 = 30_000.0;

impl Lateness {
    /// A frame stamped `timestamp_ms` (media clock) arrived at `now_ms` (monotonic).
    pub fn arrived(&mut self, now_ms: f64, timestamp_ms: f64) {
        let delay = now_ms - timestamp_ms;
        while self.minima.back().is_some_and(|&(_, d)| d >= delay) {
            self.minima.pop_back();
        }
        self.minima.push_back((now_ms, delay));
        while self
            .minima
            .front()
            .is_some_and(|&(at, _)| at < now_ms - LATENESS_WINDOW_MS)
        {
            self.minima.pop_front();
        }
        let usual = self.minima.front().map_or(delay, |&(_, d)| d);
        self.late_ms = delay - usual;
    }

    /// How much later than usual the last frame arrived, ms.
    pub fn late_ms(&self) -> f64 {
        self.late_ms
    }
}

/// The decoder's recent service times, for its busy fraction.
#[derive(Debug, Clone, PartialEq, Default)]
struct DecodeLoad {
    last_output_ms: Option<f64>,
    /// (output time, service time) over the last [`LOAD_WINDOW_MS`].
    served: VecDeque<(f64, f64)>,
    /// When the window began filling.
    since_ms: Option<f64>,
}

impl DecodeLoad {
    /// A frame came out at `now_ms`, `took_ms` after its submission: the decoder served it
    /// from the later of its submission and the previous output.
    fn decoded(&mut self, now_ms: f64, took_ms: f64) {
        self.since_ms.get_or_insert(now_ms - took_ms);
        let service = match self.last_output_ms {
            Some(previous) => took_ms.min(now_ms - previous),
            None => took_ms,
        };
        self.last_output_ms = Some(now_ms);
        self.served.push_back((now_ms, service.max(0.0)));
        while self
            .served
            .front()
            .is_some_and(|&(at, _)| at < now_ms - LOAD_WINDOW_MS)
        {
            self.served.pop_front();
        }
    }

    /// The fraction of the last window the decoder spent decoding, once a window has passed.
    fn busy_fraction(&self, now_ms: f64) -> Option<f64> {
        let since = self.since_ms?;
        if now_ms - since < LOAD_WINDOW_MS {
            return None;
        }
        let busy: f64 = self
            .served
            .iter()
            .filter(|&&(at, _)| at >= now_ms - LOAD_WINDOW_MS)
            .map(|&(_, service)| service)
            .sum();
        Some(busy / LOAD_WINDOW_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A main rendition and one at a quarter of the pixels and half the frame rate.
    fn two() -> Vec<f64> {
        vec![1280.0 * 720.0 * 60.0, 640.0 * 360.0 * 30.0]
    }

    /// Feed `ladder` a decoder that takes `service_ms` per frame at 30 fps from `from_ms` to
    /// `to_ms`.
    fn decode(ladder: &mut Ladder, service_ms: f64, from_ms: f64, to_ms: f64) {
        let mut t = from_ms;
        while t < to_ms {
            ladder.decoded(t + service_ms, service_ms);
            t += 1000.0 / 30.0;
        }
    }

    /// Frames every 1000 / 60 ms from `from_ms` to `to_ms`, each `late(t)` late, the ladder
    /// updated after each with no decode lag; the first switch asked for.
    fn arrivals(
        ladder: &mut Ladder,
        from_ms: f64,
        to_ms: f64,
        late: impl Fn(f64) -> f64,
    ) -> Option<(f64, usize)> {
        let mut t = from_ms;
        while t < to_ms {
            ladder.arriving(t, late(t));
            if let Some(to) = ladder.update(t, 0.0, false) {
                return Some((t, to));
            }
            t += 1000.0 / 60.0;
        }
        None
    }

    #[test]
    fn frames_ever_later_step_down_within_half_a_second_and_a_draining_backlog_does_not() {
        let mut ladder = Ladder::new(two(), 0);
        assert_eq!(arrivals(&mut ladder, 0.0, 5_000.0, |_| 0.0), None);
        // A link at a third of the stream's rate: each frame 2/3 of an interval later.
        let (at, to) =
            arrivals(&mut ladder, 5_000.0, 8_000.0, |t| (t - 5_000.0) * 2.0).expect("a step down");
        assert_eq!(to, 1);
        assert!(
            (5_075.0..5_075.0 + LATE_STEP_DOWN_AFTER_MS + 20.0).contains(&at),
            "{at}"
        );
        // After a 3 s outage the backlog comes over a link twice the stream's rate: the
        // frames get less late at 0.5 s per second, and that is no reason to step down.
        let mut ladder = Ladder::new(two(), 0);
        assert_eq!(arrivals(&mut ladder, 0.0, 5_000.0, |_| 0.0), None);
        let draining = |t: f64| (3_000.0 - (t - 5_000.0) * 0.5).max(0.0);
        assert_eq!(arrivals(&mut ladder, 5_000.0, 12_000.0, draining), None);
    }

    #[test]
    fn a_probe_up_waits_for_a_link_with_room_for_the_rung_above() {
        let calm = |ladder: &mut Ladder, from_ms: f64, to_ms: f64| {
            decode(ladder, 2.0, from_ms, to_ms);
            arrivals(ladder, from_ms, to_ms, |_| 0.0)
        };
        let bitrates = vec![Some(4_900_000.0), Some(900_000.0)];
        let mut ladder = Ladder::new(two(), 1).with_bitrates(bitrates);
        // A 3 Mb/s link: 4.9 Mb/s does not fit, however calm the light rendition plays.
        ladder.bandwidth(Some(3_000_000.0));
        assert_eq!(calm(&mut ladder, 0.0, 30_000.0), None);
        // The link grows to 10 Mb/s: the probe comes.
        ladder.bandwidth(Some(10_000_000.0));
        let (_, to) = calm(&mut ladder, 30_000.0, 45_000.0).expect("a probe up");
        assert_eq!(to, 0);
        // Without an estimate, the decoder's headroom alone decides, as before.
        let mut ladder = Ladder::new(two(), 1).with_bitrates(vec![Some(4_900_000.0), None]);
        assert!(calm(&mut ladder, 0.0, 15_000.0).is_some());
    }

    #[test]
    fn one_rendition_never_switches() {
        let mut ladder = Ladder::new(vec![1.0], 0);
        assert_eq!(ladder.update(0.0, 1000.0, true), None);
        assert_eq!(ladder.update(5000.0, 1000.0, false), None);
    }

    /// A ladder whose player has caught up after joining.
    fn joined(costs: Vec<f64>, playing: usize) -> Ladder {
        let mut ladder = Ladder::new(costs, playing);
        assert_eq!(ladder.update(-1.0, 0.0, false), None);
        ladder
    }

    #[test]
    fn joining_is_not_struggling() {
        let mut ladder = Ladder::new(two(), 0);
        // Two seconds of backlog and a jump while fast-forwarding: no step down.
        assert_eq!(ladder.update(0.0, 2000.0, false), None);
        assert_eq!(ladder.update(1500.0, 1500.0, true), None);
        assert_eq!(ladder.update(3000.0, 400.0, false), None);
        // Caught up: from now on, lag counts.
        assert_eq!(ladder.update(3100.0, 20.0, false), None);
        assert_eq!(ladder.update(3200.0, 0.0, true), Some(1));
        // A viewer that never catches up steps down once the grace is over.
        let mut slow = Ladder::new(two(), 0);
        assert_eq!(slow.update(0.0, 2000.0, false), None);
        assert_eq!(slow.update(JOIN_GRACE_MS - 1.0, 900.0, true), None);
        assert_eq!(slow.update(JOIN_GRACE_MS, 900.0, true), Some(1));
    }

    #[test]
    fn sustained_lag_steps_down_and_a_blip_does_not() {
        let mut ladder = joined(two(), 0);
        assert_eq!(ladder.update(0.0, 200.0, false), None);
        assert_eq!(ladder.update(500.0, 20.0, false), None);
        assert_eq!(ladder.update(600.0, 200.0, false), None);
        assert_eq!(ladder.update(1500.0, 200.0, false), None);
        assert_eq!(ladder.update(1600.0, 200.0, false), Some(1));
        // Already at the bottom.
        assert_eq!(ladder.update(5000.0, 900.0, true), None);
    }

    #[test]
    fn a_jump_steps_down_at_once() {
        let mut ladder = joined(vec![3.0, 2.0, 1.0], 0);
        assert_eq!(ladder.update(0.0, 0.0, true), Some(1));
        assert_eq!(ladder.playing(), 1);
    }

    #[test]
    fn probes_up_after_a_calm_while_and_backs_off_when_the_probe_fails() {
        let mut ladder = joined(two(), 0);
        assert_eq!(ladder.update(0.0, 400.0, true), Some(1));
        // 2 ms a frame at 30 fps: 6 % busy, 48 % on the rung above.
        decode(&mut ladder, 2.0, 0.0, 100_000.0);
        assert_eq!(ladder.update(100.0, 10.0, false), None);
        assert_eq!(
            ladder.update(100.0 + FIRST_PROBE_MS - 1.0, 10.0, false),
            None
        );
        // Lag between calm and behind resets the calm clock.
        assert_eq!(ladder.update(100.0 + FIRST_PROBE_MS, 80.0, false), None);
        let calm = 20_000.0;
        assert_eq!(ladder.update(calm, 10.0, false), None);
        assert_eq!(ladder.update(calm + FIRST_PROBE_MS, 10.0, false), Some(0));
        // The probe fails: down again, and the next probe waits twice as long.
        let failed = calm + FIRST_PROBE_MS + 2000.0;
        assert_eq!(ladder.update(failed, 0.0, true), Some(1));
        assert_eq!(ladder.update(failed + 1.0, 0.0, false), None);
        assert_eq!(
            ladder.update(failed + 1.0 + FIRST_PROBE_MS, 0.0, false),
            None
        );
        assert_eq!(
            ladder.update(failed + 1.0 + 2.0 * FIRST_PROBE_MS, 0.0, false),
            Some(0)
        );
    }

    #[test]
    fn no_probe_without_headroom_for_the_rung_above() {
        let mut ladder = Ladder::new(two(), 1);
        // 5 ms a frame at 30 fps: 15 % busy here, 120 % on the rung above.
        decode(&mut ladder, 5.0, 0.0, 60_000.0);
        assert_eq!(ladder.update(0.0, 0.0, false), None);
        assert_eq!(ladder.update(59_000.0, 0.0, false), None);
    }

    #[test]
    fn lateness_is_delay_beyond_the_usual() {
        let mut lateness = Lateness::default();
        // A sender clock 5 s ahead: every delay is -5 s + transit.
        for n in 0..100 {
            let t = f64::from(n) * 10.0;
            lateness.arrived(t + 20.0, t + 5000.0);
        }
        assert_eq!(lateness.late_ms(), 0.0);
        // A congested link: each frame 3 ms later than the one before.
        for n in 100..200 {
            let t = f64::from(n) * 10.0;
            lateness.arrived(t + 20.0 + f64::from(n - 100) * 3.0, t + 5000.0);
        }
        assert_eq!(lateness.late_ms(), 99.0 * 3.0);
        // Long after, the old minimum has left the window.
        let later = 100_000.0;
        lateness.arrived(later + 50.0, later + 5000.0);
        assert_eq!(lateness.late_ms(), 0.0);
    }

    #[test]
    fn service_time_counts_from_the_later_of_submission_and_the_previous_output() {
        let mut load = DecodeLoad::default();
        // Three chunks at once, each taking 10 ms: 30 ms busy, not 10 + 20 + 30.
        for done in [10.0, 20.0, 30.0] {
            load.decoded(done, done);
        }
        assert_eq!(load.busy_fraction(100.0), None, "less than a window seen");
        let busy = load.busy_fraction(LOAD_WINDOW_MS).expect("a window");
        assert!((busy - 30.0 / LOAD_WINDOW_MS).abs() < 1e-9, "{busy}");
    }
}
