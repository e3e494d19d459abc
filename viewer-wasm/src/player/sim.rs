//! A deterministic load simulator for the player core: the real [`Player`] driven by a
//! modelled GOP-structured stream, a network that can stall and burst, a decoder on its own
//! thread with per-frame costs (slow keyframes, a busy CPU), and a page thread that is
//! periodically busy (a screencast, a GC, another tab's work). Time is simulated in fixed
//! steps, so a run is the same on every machine.
//!
//! It measures what a person sees: which frame the compositor shows at every vsync, hence the
//! distinct frames shown per second, the longest freeze, and the latency of each new frame.
//! It also checks the decoder is never handed a delta frame whose reference it did not decode
//! (that would be a corrupt picture or a decoder error in a browser).

use std::collections::VecDeque;

use super::sim_link::{SharedLink, Stream};
use super::{Action, Encoded, Player, priority};

/// A stream, a network, a decoder and a page thread.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seconds: f64,
    pub fps: f64,
    /// Frames per group (the first is the keyframe).
    pub gop: u64,
    /// Capture to arrival at the page, when the network flows.
    pub network_ms: f64,
    /// Every `period` ms the network delivers nothing for `gap` ms, then everything at once.
    pub network_gap: Option<Periodic>,
    /// Decode time of a delta frame and of a keyframe, each varied by up to ± `jitter`
    /// (a fraction) from frame to frame.
    pub delta_ms: f64,
    pub key_ms: f64,
    pub jitter: f64,
    /// Every `period` ms the page's thread is busy for `busy` ms (a long task).
    pub page_busy: Option<Periodic>,
    /// Page-thread time each event handler costs, and each paint.
    pub handler_ms: f64,
    pub paint_ms: f64,
    /// A second, lighter rendition: every `every`-th frame, at `cost` times the decode time.
    pub light: Option<Light>,
    /// What a person sees is measured from here on (ms).
    pub measure_from_ms: f64,
    /// A bottleneck every subscribed track shares: its rate in kb/s from each time (ms) on,
    /// the relay's sender in front of it (`sim_link.rs`). Empty: no bottleneck, each track's
    /// frames cross as they come.
    pub link_kbps: Vec<(f64, f64)>,
    /// The mean bitrate of the main and the light rendition, kb/s.
    pub kbps: [f64; 2],
}

#[derive(Debug, Clone, Copy)]
pub struct Light {
    pub every: u64,
    pub cost: f64,
    /// Capture instants per group (its keyframe interval, as the main one's `gop`).
    pub gop: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct Periodic {
    pub period_ms: f64,
    pub busy_ms: f64,
}

impl Periodic {
    fn covers(self, t: f64) -> bool {
        t.rem_euclid(self.period_ms) < self.busy_ms
    }
}

impl Default for Scenario {
    /// An idle client: 720p60-like costs on a quiet machine, 2 s groups.
    fn default() -> Self {
        Self {
            seconds: 10.0,
            fps: 60.0,
            gop: 120,
            network_ms: 5.0,
            network_gap: None,
            delta_ms: 5.0,
            key_ms: 15.0,
            jitter: 0.3,
            page_busy: None,
            handler_ms: 0.2,
            paint_ms: 1.0,
            light: None,
            measure_from_ms: 1000.0,
            link_kbps: Vec::new(),
            // The publisher's test pattern: 720p60 and its light rendition.
            kbps: [4_900.0, 900.0],
        }
    }
}

/// What a viewer saw, after the first second.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub frames_shown_per_s: f64,
    pub longest_freeze_ms: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_max_ms: f64,
    /// Delta frames decoded without their reference.
    pub corrupt: u32,
    pub dropped: u64,
    /// The rendition decoded at the end.
    pub rendition: usize,
    /// Rendition switches made.
    pub switches: u64,
    /// When the rendition decoded changed, ms.
    pub switched_at_ms: Vec<f64>,
}

const STEP_MS: f64 = 0.25;
const VSYNC_MS: f64 = 1000.0 / 60.0;

/// A frame of one rendition: (rendition, index of its capture instant).
type Frame = (usize, u64);

#[derive(Debug)]
enum Task {
    Read(Frame),
    Dequeued,
    Output(Frame),
    AnimationFrame,
}

/// What the decoder works through, in order.
#[derive(Debug)]
enum Job {
    Configure,
    Decode(Frame),
}

/// The decoder thread: a FIFO of jobs, one decoding at a time.
#[derive(Default)]
struct DecoderThread {
    queue: VecDeque<Job>,
    current: Option<(Frame, f64)>,
    /// The last frame decoded since the last keyframe, for the reference check.
    reference: Option<Frame>,
    corrupt: u32,
}

/// A subscribed rendition's track: the next frame it delivers, and from when.
#[derive(Debug, Clone, Copy)]
struct Subscribed {
    next: u64,
    since_ms: f64,
}

impl Scenario {
    fn capture_ms(&self, frame: u64) -> f64 {
        frame as f64 * 1000.0 / self.fps
    }

    fn arrival_ms(&self, frame: u64) -> f64 {
        let sent = self.capture_ms(frame) + self.network_ms;
        match self.network_gap {
            Some(gap) if gap.covers(sent) => sent - sent.rem_euclid(gap.period_ms) + gap.busy_ms,
            _ => sent,
        }
    }

    /// When a subscribed track's next frame arrives, without a bottleneck.
    fn track_arrival_ms(&self, track: &Subscribed) -> f64 {
        self.arrival_ms(track.next)
            .max(track.since_ms + self.network_ms)
    }

    /// The stream as the relay's sender sees it.
    fn stream(&self) -> Stream {
        Stream {
            fps: self.fps,
            gops: [self.gop, self.gop_of(1)],
            steps: [1, self.step(1)],
            kbps: self.kbps,
        }
    }

    fn step(&self, rendition: usize) -> u64 {
        match (rendition, self.light) {
            (1, Some(light)) => light.every,
            _ => 1,
        }
    }

    /// Capture instants per group of `rendition`.
    fn gop_of(&self, rendition: usize) -> u64 {
        match (rendition, self.light) {
            (1, Some(light)) => light.gop,
            _ => self.gop,
        }
    }

    fn is_keyframe(&self, (rendition, frame): Frame) -> bool {
        frame.is_multiple_of(self.gop_of(rendition))
    }

    fn decode_ms(&self, (rendition, frame): Frame) -> f64 {
        let scale = match (rendition, self.light) {
            (1, Some(light)) => light.cost,
            _ => 1.0,
        };
        scale * self.frame_decode_ms((rendition, frame))
    }

    fn frame_decode_ms(&self, (rendition, frame): Frame) -> f64 {
        let base = if self.is_keyframe((rendition, frame)) {
            self.key_ms
        } else {
            self.delta_ms
        };
        // A fixed pseudo-random variation per frame (an LCG over the frame number).
        let hash = frame
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let unit = (hash >> 11) as f64 / (1u64 << 53) as f64;
        base * (1.0 + self.jitter * (2.0 * unit - 1.0))
    }

    fn page_busy(&self, t: f64) -> bool {
        self.page_busy.is_some_and(|busy| busy.covers(t))
    }

    /// Play the scenario through the real player.
    pub fn run(&self) -> Outcome {
        let mut player: Player<(), Frame> = Player::default();
        let costs = match self.light {
            Some(light) => vec![1.0, light.cost / light.every as f64],
            None => vec![1.0],
        };
        let bitrates = self.kbps.iter().map(|kbps| Some(kbps * 1000.0)).collect();
        player.start(costs, bitrates, 0);
        let frames = (self.seconds * self.fps) as u64;
        let end_ms = self.seconds * 1000.0;
        let mut tracks: [Option<Subscribed>; 2] = [
            Some(Subscribed {
                next: 0,
                since_ms: 0.0,
            }),
            None,
        ];
        let mut link = self.link_kbps.first().map(|&(_, kbps)| {
            let mut link = SharedLink::new(self.stream(), kbps, self.network_ms);
            link.subscribe(0, priority::video(0), 0.0);
            link
        });
        // The relay's bandwidth estimate: its congestion controller tracks the link's rate.
        let estimate = |kbps: f64| Some((kbps * 1000.0) as u64);
        if let Some(&(_, kbps)) = self.link_kbps.first() {
            player.bandwidth(estimate(kbps));
        }
        let mut rates = self.link_kbps.iter().skip(1).peekable();
        let (mut decoding, mut switched_at_ms) = (0, Vec::new());
        let mut decoder = DecoderThread::default();
        let mut tasks: VecDeque<Task> = VecDeque::new();
        let mut page_free_at = 0.0;
        let mut animation_frame_pending = false;
        let mut next_vsync = VSYNC_MS;
        let mut painted: Option<u64> = None;
        let mut shown: Vec<(f64, u64)> = Vec::new();

        let mut t = 0.0;
        while t < end_ms {
            if let Some(link) = &mut link {
                if let Some(&(_, kbps)) = rates.next_if(|&&(from, _)| from <= t) {
                    link.set_rate(kbps);
                    player.bandwidth(estimate(kbps));
                }
                link.send(t, STEP_MS);
                while let Some(frame) = link.delivered(t) {
                    tasks.push_back(Task::Read(frame));
                }
            } else {
                for (rendition, track) in tracks.iter_mut().enumerate() {
                    while let Some(sub) = track
                        && sub.next < frames
                        && self.track_arrival_ms(sub) <= t
                    {
                        tasks.push_back(Task::Read((rendition, sub.next)));
                        sub.next += self.step(rendition);
                    }
                }
            }
            if let Some((frame, done)) = decoder.current
                && done <= t
            {
                decoder.current = None;
                tasks.push_back(Task::Output(frame));
            }
            while decoder.current.is_none()
                && let Some(job) = decoder.queue.pop_front()
            {
                match job {
                    Job::Configure => decoder.reference = None,
                    Job::Decode(frame) => {
                        let keyframe = self.is_keyframe(frame);
                        decoder.check_reference(frame, self.step(frame.0), keyframe);
                        decoder.current = Some((frame, t + self.decode_ms(frame)));
                        tasks.push_back(Task::Dequeued);
                    }
                }
            }
            if t >= next_vsync {
                if let Some(frame) = painted {
                    shown.push((next_vsync, frame));
                }
                next_vsync += VSYNC_MS;
                if !animation_frame_pending {
                    animation_frame_pending = true;
                    tasks.push_front(Task::AnimationFrame);
                }
            }
            if t >= page_free_at
                && !self.page_busy(t)
                && let Some(task) = tasks.pop_front()
            {
                let mut cost = self.handler_ms;
                match task {
                    Task::Read((rendition, frame)) => player.received(
                        t,
                        Encoded {
                            timestamp_us: self.capture_ms(frame) * 1000.0,
                            keyframe: self.is_keyframe((rendition, frame)),
                            rendition,
                            payload: (),
                        },
                    ),
                    Task::Dequeued => {
                        let waiting = decoder
                            .queue
                            .iter()
                            .filter(|job| matches!(job, Job::Decode(_)))
                            .count();
                        player.dequeued(t, waiting as u32)
                    }
                    Task::Output(frame) => {
                        player.decoded(t, self.capture_ms(frame.1) * 1000.0, frame)
                    }
                    Task::AnimationFrame => {
                        animation_frame_pending = false;
                        player.animation_frame(t);
                    }
                }
                while let Some(action) = player.poll_action() {
                    match action {
                        Action::Subscribe(rendition) => {
                            if let Some(link) = &mut link {
                                link.subscribe(rendition, priority::video(rendition), t);
                            }
                            // The relay serves the current group from its start.
                            let now = (t * self.fps / 1000.0) as u64;
                            let first = now - now % self.gop_of(rendition);
                            tracks[rendition] = Some(Subscribed {
                                next: first,
                                since_ms: t,
                            });
                        }
                        Action::Unsubscribe(rendition) => {
                            if let Some(link) = &mut link {
                                link.unsubscribe(rendition);
                            }
                            tracks[rendition] = None;
                        }
                        Action::Configure(_) => decoder.queue.push_back(Job::Configure),
                        Action::Decode(chunk) => {
                            let frame = (
                                chunk.rendition,
                                (chunk.timestamp_us / 1000.0 * self.fps / 1000.0).round() as u64,
                            );
                            decoder.queue.push_back(Job::Decode(frame));
                        }
                        Action::Paint((_, frame)) => {
                            cost += self.paint_ms;
                            painted = Some(frame);
                            player.painted(self.capture_ms(frame) * 1000.0, t, (1280, 720));
                        }
                        Action::Close(_) => {}
                    }
                }
                page_free_at = t + cost;
                if player.rendition() != decoding {
                    decoding = player.rendition();
                    switched_at_ms.push(t);
                }
            }
            t += STEP_MS;
        }
        self.outcome(
            &shown,
            decoder.corrupt,
            player.telemetry.counters.dropped,
            player.rendition(),
            player.report().switches,
            switched_at_ms,
        )
    }

    fn outcome(
        &self,
        shown: &[(f64, u64)],
        corrupt: u32,
        dropped: u64,
        rendition: usize,
        switches: u64,
        switched_at_ms: Vec<f64>,
    ) -> Outcome {
        let from = self.measure_from_ms;
        let shown: Vec<_> = shown.iter().filter(|(t, _)| *t >= from).collect();
        let mut latencies = Vec::new();
        let mut longest_freeze_ms: f64 = 0.0;
        let mut changed_at = from;
        let mut previous = None;
        for &&(t, frame) in &shown {
            if previous != Some(frame) {
                latencies.push(t - self.capture_ms(frame));
                longest_freeze_ms = longest_freeze_ms.max(t - changed_at);
                changed_at = t;
                previous = Some(frame);
            }
        }
        let end = shown.last().map_or(from, |(t, _)| *t);
        longest_freeze_ms = longest_freeze_ms.max(end - changed_at);
        latencies.sort_by(f64::total_cmp);
        let at = |q: f64| {
            latencies
                .get(((latencies.len().max(1) - 1) as f64 * q).round() as usize)
                .copied()
                .unwrap_or(f64::INFINITY)
        };
        Outcome {
            frames_shown_per_s: latencies.len() as f64 / ((end - from) / 1000.0),
            longest_freeze_ms,
            latency_p50_ms: at(0.5),
            latency_p95_ms: at(0.95),
            latency_max_ms: at(1.0),
            corrupt,
            dropped,
            rendition,
            switches,
            switched_at_ms,
        }
    }
}

impl DecoderThread {
    /// Count a delta frame decoded without its predecessor (in its rendition, since the
    /// decoder was last configured) as corrupt.
    fn check_reference(&mut self, (rendition, frame): Frame, step: u64, keyframe: bool) {
        if !keyframe && self.reference != Some((rendition, frame.wrapping_sub(step))) {
            self.corrupt += 1;
        }
        self.reference = Some((rendition, frame));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The longest freeze a person should never see when decoding keeps up on average: two
    /// frame intervals.
    const SMOOTH_FREEZE_MS: f64 = 2.0 * VSYNC_MS + STEP_MS;

    fn assert_smooth(outcome: &Outcome) {
        assert_eq!(outcome.corrupt, 0, "{outcome:?}");
        assert!(
            outcome.longest_freeze_ms <= SMOOTH_FREEZE_MS,
            "froze for {:.0} ms: {outcome:?}",
            outcome.longest_freeze_ms
        );
    }

    #[test]
    fn an_idle_client_shows_every_frame_quickly() {
        let outcome = Scenario::default().run();
        assert_smooth(&outcome);
        assert!(outcome.frames_shown_per_s > 59.0, "{outcome:?}");
        assert!(outcome.latency_p95_ms < 40.0, "{outcome:?}");
    }

    /// The browser busy with a full-size screencast on two cores: decoding is slower and varies
    /// by ± 50 % from frame to frame, keyframes take 1.5 frame intervals, and the page's thread
    /// loses 12 ms of every 50 to other work. Decoding still keeps up on average (≈ 60 % of
    /// real time).
    fn busy_client() -> Scenario {
        Scenario {
            page_busy: Some(Periodic {
                period_ms: 50.0,
                busy_ms: 12.0,
            }),
            delta_ms: 10.0,
            key_ms: 25.0,
            jitter: 0.5,
            handler_ms: 0.5,
            paint_ms: 2.0,
            ..Scenario::default()
        }
    }

    #[test]
    fn a_busy_client_never_freezes() {
        let outcome = busy_client().run();
        assert_smooth(&outcome);
        assert!(outcome.frames_shown_per_s > 55.0, "{outcome:?}");
        assert!(outcome.latency_p95_ms < 80.0, "{outcome:?}");
    }

    #[test]
    fn long_page_stalls_freeze_only_for_the_stall() {
        // The page's thread is taken for 40 ms of every 100, and keyframes take 45 ms: the
        // picture cannot move during either, and must not stay put any longer.
        let outcome = Scenario {
            page_busy: Some(Periodic {
                period_ms: 100.0,
                busy_ms: 40.0,
            }),
            key_ms: 45.0,
            ..busy_client()
        }
        .run();
        assert_eq!(outcome.corrupt, 0, "{outcome:?}");
        assert!(
            outcome.longest_freeze_ms <= 45.0 * 1.5 + 2.0 * VSYNC_MS,
            "{outcome:?}"
        );
        assert!(outcome.frames_shown_per_s > 35.0, "{outcome:?}");
        assert!(outcome.latency_p95_ms < 100.0, "{outcome:?}");
    }

    #[test]
    fn a_network_stall_is_played_through_not_skipped() {
        let outcome = Scenario {
            network_gap: Some(Periodic {
                period_ms: 1000.0,
                busy_ms: 150.0,
            }),
            ..Scenario::default()
        }
        .run();
        assert_eq!(outcome.corrupt, 0, "{outcome:?}");
        // The stall itself freezes the picture; nothing afterwards adds to it.
        assert!(
            outcome.longest_freeze_ms < 150.0 + 3.0 * VSYNC_MS,
            "{outcome:?}"
        );
    }

    #[test]
    fn a_client_too_slow_to_decode_stays_near_live() {
        // Decoding takes 1.5× real time: the player cannot show everything, but its latency
        // stays bounded and it keeps moving.
        let outcome = Scenario {
            delta_ms: 25.0,
            key_ms: 60.0,
            ..busy_client()
        }
        .run();
        assert_eq!(outcome.corrupt, 0, "{outcome:?}");
        assert!(outcome.latency_max_ms < 1500.0, "{outcome:?}");
        assert!(outcome.frames_shown_per_s > 20.0, "{outcome:?}");
    }

    /// A second rendition at half the frame rate and a quarter of the pixels.
    /// The publisher's light rendition: half the rate, a quarter of the pixels, a keyframe
    /// every second.
    const LIGHT: Light = Light {
        every: 2,
        cost: 0.25,
        gop: 60,
    };

    #[test]
    fn a_client_too_slow_for_the_main_rendition_steps_down_and_plays_smoothly() {
        let outcome = Scenario {
            delta_ms: 25.0,
            key_ms: 60.0,
            light: Some(LIGHT),
            seconds: 20.0,
            // The step down happens once joining is over (it never catches up).
            measure_from_ms: 8000.0,
            ..busy_client()
        }
        .run();
        assert_eq!(outcome.corrupt, 0, "{outcome:?}");
        assert_eq!(outcome.rendition, 1, "{outcome:?}");
        assert!(outcome.frames_shown_per_s > 29.0, "{outcome:?}");
        // Two frame intervals of the 30 fps rendition.
        assert!(
            outcome.longest_freeze_ms <= 2.0 * 2.0 * VSYNC_MS + STEP_MS,
            "{outcome:?}"
        );
        assert!(outcome.latency_p95_ms < 100.0, "{outcome:?}");
    }

    #[test]
    fn a_client_that_keeps_up_stays_on_the_main_rendition() {
        let outcome = Scenario {
            light: Some(LIGHT),
            seconds: 30.0,
            ..busy_client()
        }
        .run();
        assert_smooth(&outcome);
        assert_eq!(outcome.rendition, 0, "{outcome:?}");
        assert!(outcome.frames_shown_per_s > 55.0, "{outcome:?}");
    }

    /// The `congested` network profile: a 3 Mb/s link, below the main rendition's 4.9 Mb/s,
    /// 25 ms each way; 2 s groups.
    fn congested() -> Scenario {
        Scenario {
            link_kbps: vec![(0.0, 3_000.0)],
            network_ms: 25.0,
            light: Some(LIGHT),
            seconds: 30.0,
            measure_from_ms: 8_000.0,
            ..Scenario::default()
        }
    }

    #[test]
    fn a_network_that_cannot_carry_the_main_rendition_steps_down() {
        // What `cargo xtask bench-network congested` saw: the light rendition, subscribed
        // after the main one at the same priority, waits behind it on the relay; its keyframe
        // never comes and the switch never happens.
        let outcome = congested().run();
        assert_eq!(outcome.corrupt, 0, "{outcome:?}");
        assert_eq!((outcome.rendition, outcome.switches), (1, 1), "{outcome:?}");
        assert!(outcome.latency_p95_ms < 100.0, "{outcome:?}");
        assert!(outcome.frames_shown_per_s > 29.0, "{outcome:?}");
    }

    #[test]
    fn a_link_that_collapses_steps_down_within_two_seconds_and_back_up_after() {
        // The `drop` network profile: 10 Mb/s, 1.5 Mb/s from 10 s to 25 s, then 10 again.
        let drop = || Scenario {
            link_kbps: vec![(0.0, 10_000.0), (10_000.0, 1_500.0), (25_000.0, 10_000.0)],
            network_ms: 20.0,
            light: Some(LIGHT),
            seconds: 45.0,
            measure_from_ms: 1_000.0,
            ..Scenario::default()
        };
        let outcome = drop().run();
        assert_eq!(outcome.corrupt, 0, "{outcome:?}");
        let switched = &outcome.switched_at_ms;
        assert!(
            switched
                .first()
                .is_some_and(|&at| (10_000.0..12_000.0).contains(&at)),
            "{outcome:?}"
        );
        assert!(
            switched.get(1).is_some_and(|&at| at > 25_000.0),
            "back up once the link is back: {outcome:?}"
        );
        assert_eq!(outcome.rendition, 0, "{outcome:?}");
        assert!(outcome.longest_freeze_ms < 500.0, "{outcome:?}");
        // Within 3 s of the link coming back, the latency is where it was before the drop.
        let recovered = Scenario {
            measure_from_ms: 28_000.0,
            ..drop()
        }
        .run();
        assert!(recovered.latency_max_ms < 100.0, "{recovered:?}");
    }

    #[test]
    fn after_an_outage_the_latency_is_back_within_three_seconds() {
        // The `outage` network profile: a 10 Mb/s link down for 3 s at 10 s (a Wi-Fi roam).
        // What piled up on the relay is not worth watching: the newest group goes first, and
        // the viewer takes it.
        let outage = |measure_from_ms| Scenario {
            link_kbps: vec![(0.0, 10_000.0), (10_000.0, 0.0), (13_000.0, 10_000.0)],
            network_ms: 20.0,
            light: Some(LIGHT),
            seconds: 25.0,
            measure_from_ms,
            ..Scenario::default()
        };
        let before = Scenario {
            seconds: 10.0,
            ..outage(2_000.0)
        }
        .run();
        let after = outage(16_000.0).run();
        assert_eq!(after.corrupt, 0, "{after:?}");
        assert!(
            after.latency_max_ms <= before.latency_p95_ms + 100.0,
            "{before:?} then {after:?}"
        );
        assert!(after.frames_shown_per_s > 55.0, "{after:?}");
        assert!(after.switches <= 2, "{after:?}");
    }

    #[test]
    fn the_switch_itself_shows_no_gap() {
        // Measured across the switch: nothing freezes longer than the slow decoding already
        // does before it.
        let outcome = Scenario {
            delta_ms: 25.0,
            key_ms: 60.0,
            light: Some(LIGHT),
            seconds: 10.0,
            measure_from_ms: 500.0,
            ..busy_client()
        }
        .run();
        assert_eq!(outcome.corrupt, 0, "{outcome:?}");
        assert_eq!(outcome.rendition, 1, "{outcome:?}");
        assert!(outcome.longest_freeze_ms < 150.0, "{outcome:?}");
    }
}
