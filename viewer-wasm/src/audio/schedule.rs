//! One playout clock for audio and video. Both are planned in the sender's wall-clock time
//! (catalog clock + timestamp = capture time), so a sample and the frame captured with it are
//! due at the same moment: capture time + the playout latency.
//!
//! Video is painted the moment it is decoded, which sets the latency a viewer sees. Audio is
//! heard at the same latency when it can be, and otherwise at the smallest latency its arrival
//! allows ([`Playout::target_ms`]). [`OutputClock`] says when a sample written now will leave
//! the speakers, from the worklet's read position and the context's output timestamp.

use crate::audio::jitter::Jitter;
use crate::stats::Window;

/// Headroom over the transit the jitter buffer plans for, ms: the audio thread reads in bursts.
pub const MARGIN_MS: f64 = 4.0;
/// How fast the target latency may fall, ms per second of wall time: within what the drift
/// corrector's stretch makes up ([`crate::audio::drift::MAX_STRETCH`] = 10 ms/s), so a fall is
/// played slightly faster, never skipped.
pub const FALL_MS_PER_SECOND: f64 = 8.0;
/// How long the target holds after the jitter buffer last asked for it before it starts to fall,
/// ms: stalls that recur (a page busy every few seconds) find the buffer still there, instead
/// of a buffer that shrank a little between them and runs dry at each.
pub const HOLD_MS: f64 = 20_000.0;
/// A wait for a delay at least this share of the one held renews its hold.
pub const RENEW_SHARE: f64 = 0.5;
/// Delays shorter than this never renew a hold, ms: the jitter of a calm path does not keep
/// a stall's buffer.
pub const MIN_RENEW_MS: f64 = 8.0;
/// How fast the latency audio follows the video's moves, either way, ms per second: the video's
/// median moves in frame-sized steps, and chasing them at once would be heard.
pub const FOLLOW_MS_PER_SECOND: f64 = 8.0;
/// For this long after the first packet the target follows what is wanted at once, both ways:
/// a page busy starting up delivers its first packets late, and falling from there at
/// [`FALL_MS_PER_SECOND`] would keep the sound far behind for a minute or more. At its end the
/// jitter buffer forgets the delays of the start.
pub const SETTLE_MS: f64 = 5_000.0;
/// What of the start's wait carries past it, ms above what the settled jitter buffer asks: the
/// start's stalls say the machine is busy, so the first stall after it finds some buffer
/// (held, then let go, as any other ask) — but not the start's whole wait, which was the
/// page starting up.
pub const START_CARRY_MS: f64 = 30.0;
/// What a concealment leaves in the buffer beyond the stall it covered, ms: stalls of a
/// starved machine vary in length (CI's proof loop saw two in 20 s, the second longer than
/// the first left room for), so the next one is covered with this to spare. Reached by
/// stretching, at most [`crate::audio::drift::MAX_STRETCH`]: never a jump.
pub const RESUME_HEADROOM_MS: f64 = 15.0;
/// Audio follows video up to this latency, ms. Video later than that has fallen behind (a stalled
/// decoder waiting for a keyframe) and will catch up; sound that followed it would only pile up.
pub const MAX_FOLLOW_MS: f64 = 400.0;
/// How far back arrival latencies count for the stats, ms.
const ARRIVAL_WINDOW_MS: f64 = 3_000.0;
/// Samples kept of them: 3 s of 10 ms packets.
const ARRIVAL_SAMPLES: usize = 300;

/// Maps the ring's frame counter to the moment a frame leaves the speakers.
///
/// The worklet publishes `context_frame − read` (both wrapping `u32`): the audio context's
/// frame at which ring frame `read` is played. It stays constant while audio flows and grows by
/// the silence of each underrun. `AudioContext.getOutputTimestamp()` ties a context time to
/// the `performance` clock at the speakers, output latency included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputClock {
    pub sample_rate: f64,
    /// The context frame (mod 2^32) minus the ring frame played at it.
    pub frame_offset: u32,
    /// `getOutputTimestamp().contextTime` × sample rate.
    pub context_frames: f64,
    /// `getOutputTimestamp().performanceTime`, as Unix ms.
    pub unix_ms: f64,
}

impl OutputClock {
    /// When ring frame `frame` will be heard, Unix ms.
    pub fn heard_unix_ms(&self, frame: u32) -> f64 {
        let context_frame = frame.wrapping_add(self.frame_offset);
        // The distance to the timestamp's frame fits an i32 (it is seconds, not hours).
        let reference = (self.context_frames.round() as i64 as u32).wrapping_neg();
        let ahead = context_frame.wrapping_add(reference) as i32;
        self.unix_ms + f64::from(ahead) * 1000.0 / self.sample_rate
    }
}

/// The audio playout latency (capture → speakers) and what it is derived from.
#[derive(Debug, Clone)]
pub struct Playout {
    /// How late packets come: the transit to plan for.
    jitter: Jitter,
    /// Capture → ready-to-write latency of recent chunks, ms (reported, not planned by).
    arrival: Window,
    /// The transit of the latest packet, ms: the plan before the jitter buffer has one.
    latest_transit: Option<f64>,
    /// The video latency followed, ms, and when it was last moved.
    follow: Option<(f64, f64)>,
    /// The latency arrival needs, ms, when it last asked for that much, and when it was last
    /// moved (Unix ms).
    needed: Option<(f64, f64, f64)>,
    /// When the first packet was read (Unix ms).
    started: Option<f64>,
    /// Whether the start is over (and its delays forgotten): until then the target follows
    /// what is wanted at once.
    settled: bool,
    /// Whether the start has just ended, and the level it asked for is to be cut down to
    /// what carries over ([`START_CARRY_MS`]).
    just_settled: bool,
}

impl Default for Playout {
    fn default() -> Self {
        Self {
            jitter: Jitter::default(),
            arrival: Window::new(ARRIVAL_SAMPLES, ARRIVAL_WINDOW_MS),
            latest_transit: None,
            follow: None,
            needed: None,
            started: None,
            settled: false,
            just_settled: false,
        }
    }
}

impl Playout {
    /// A packet captured at `capture_unix_ms` was read at `now_unix_ms`.
    pub fn arrived(&mut self, capture_unix_ms: f64, now_unix_ms: f64) {
        let started = *self.started.get_or_insert(now_unix_ms);
        if !self.settled && now_unix_ms - started >= SETTLE_MS {
            self.settled = true;
            self.jitter.forget_delays();
            self.just_settled = true;
        }
        self.jitter.arrived(capture_unix_ms, now_unix_ms);
        let transit = now_unix_ms - capture_unix_ms;
        self.latest_transit = Some(transit);
        self.arrival.push(transit, now_unix_ms);
    }

    /// The latency audio is played at now: the video's (so they are in sync) unless audio
    /// cannot arrive that early, then the jitter buffer's planned transit plus the output
    /// latency and a margin. Rises at once when the jitter buffer asks (a late packet has
    /// already been concealed, so nothing is skipped); follows the video at
    /// [`FOLLOW_MS_PER_SECOND`]; falls at [`FALL_MS_PER_SECOND`] once the jitter buffer has not
    /// asked for it for [`HOLD_MS`].
    pub fn target_ms(
        &mut self,
        video_latency_ms: Option<f64>,
        output_latency_ms: f64,
        now_unix_ms: f64,
    ) -> f64 {
        let settling = !self.settled;
        let transit = self
            .jitter
            .wanted_transit()
            .or(self.latest_transit)
            .unwrap_or(0.0);
        let feasible = transit + output_latency_ms.max(0.0) + MARGIN_MS;
        let follow = video_latency_ms.map(|video| {
            let video = video.min(MAX_FOLLOW_MS);
            let followed = match self.follow {
                // While settling, the video's own start (its latency too is high at first)
                // is followed at once.
                Some((current, at)) if !settling => {
                    let step = FOLLOW_MS_PER_SECOND * (now_unix_ms - at).max(0.0) / 1000.0;
                    video.clamp(current - step, current + step)
                }
                _ => video,
            };
            self.follow = Some((followed, now_unix_ms));
            followed
        });
        if std::mem::take(&mut self.just_settled)
            && let Some((level, _, _)) = &mut self.needed
        {
            *level = level.min(feasible + START_CARRY_MS);
        }
        // What arrival needs: up at once, held, then let go slowly.
        let needed = match self.needed {
            Some((level, since, at)) if feasible < level && !settling => {
                // A packet held up at least half as long as the wait held (`RENEW_SHARE`) asks
                // for it again: stalls that recur keep the buffer they need.
                let best = self.jitter.best_transit().unwrap_or(transit);
                let delay = self.latest_transit.map_or(0.0, |latest| latest - best);
                let held = level - (feasible - (transit - best));
                let since = if delay >= MIN_RENEW_MS && delay >= RENEW_SHARE * held {
                    now_unix_ms
                } else {
                    since
                };
                let fallen = if now_unix_ms - since < HOLD_MS {
                    level
                } else {
                    let elapsed = (now_unix_ms - at).max(0.0);
                    (level - FALL_MS_PER_SECOND * elapsed / 1000.0).max(feasible)
                };
                self.needed = Some((fallen, since, now_unix_ms));
                fallen
            }
            _ => {
                self.needed = Some((feasible, now_unix_ms, now_unix_ms));
                feasible
            }
        };
        follow.map_or(needed, |follow| follow.max(needed))
    }

    /// Sound resumed after a concealment at `latency_ms` (the stall was heard as the
    /// concealment; skipping to the plan would be a second audible step): the latency is
    /// held there, [`RESUME_HEADROOM_MS`] above it, as if the jitter buffer had asked for it,
    /// and let go as its ask is. The
    /// target now.
    pub fn resumed(&mut self, latency_ms: f64, now_unix_ms: f64) -> f64 {
        let covered = latency_ms + RESUME_HEADROOM_MS;
        let level = match self.needed {
            Some((level, _, _)) => level.max(covered),
            None => covered,
        };
        self.needed = Some((level, now_unix_ms, now_unix_ms));
        level.max(self.follow.map_or(level, |(followed, _)| followed))
    }

    /// Capture → decoded latency of the packets measured lately.
    pub fn arrival(&mut self) -> crate::stats::Summary {
        self.arrival.summary()
    }

    /// Start over (a new track, a new clock).
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::drift::Corrector;
    use crate::audio::ring::{Reader, Ring};

    #[test]
    fn the_output_clock_counts_from_the_output_timestamp() {
        let clock = OutputClock {
            sample_rate: 48_000.0,
            frame_offset: 1_000,
            context_frames: 49_000.0, // ring frame 48_000 is being heard …
            unix_ms: 5_000.0,         // … at this moment
        };
        assert_eq!(clock.heard_unix_ms(48_000), 5_000.0);
        assert_eq!(clock.heard_unix_ms(48_480), 5_010.0);
        assert_eq!(clock.heard_unix_ms(47_520), 4_990.0);
        let wrapped = OutputClock {
            frame_offset: u32::MAX - 999,
            context_frames: 0.0,
            ..clock
        };
        assert_eq!(wrapped.heard_unix_ms(1_000), 5_000.0, "across the u32 wrap");
    }

    #[test]
    fn audio_follows_video_when_it_arrives_in_time() {
        let mut playout = Playout::default();
        for n in 0..100 {
            let capture = f64::from(n) * 10.0;
            playout.arrived(capture, capture + 12.0 + f64::from(n % 3));
        }
        assert_eq!(playout.target_ms(Some(40.0), 10.0, 1_000.0), 40.0);
    }

    #[test]
    fn audio_does_not_follow_video_that_fell_far_behind() {
        let mut playout = Playout::default();
        assert_eq!(playout.target_ms(Some(1_800.0), 10.0, 0.0), MAX_FOLLOW_MS);
    }

    /// Packets every 10 ms from `from` to `to` ms (capture times), read `transit(n)` later.
    fn feed(playout: &mut Playout, from: u32, to: u32, transit: impl Fn(u32) -> f64) {
        for n in from / 10..to / 10 {
            let capture = f64::from(n * 10);
            playout.arrived(capture, capture + transit(n));
        }
    }

    #[test]
    fn audio_that_cannot_keep_up_with_video_plays_as_early_as_it_can() {
        let mut playout = Playout::default();
        feed(&mut playout, 0, 5_000, |n| 30.0 + f64::from(n % 2) * 5.0);
        // The jitter buffer waits for the slower half: 35 ms (+ a bucket), then output + margin.
        let expected = 36.0 + 10.0 + MARGIN_MS;
        assert_eq!(playout.target_ms(Some(25.0), 10.0, 5_000.0), expected);
        assert_eq!(playout.target_ms(None, 10.0, 5_000.0), expected);
    }

    #[test]
    fn the_backlog_handed_over_at_subscription_is_not_waited_for() {
        let mut playout = Playout::default();
        // The relay's cached second arrives at once, oldest first, then live packets.
        for n in 0..100 {
            playout.arrived(f64::from(n) * 10.0 - 1_000.0, 15.0 + f64::from(n) * 0.01);
        }
        feed(&mut playout, 10, 500, |_| 15.0);
        assert_eq!(playout.target_ms(None, 0.0, 500.0), 16.0 + MARGIN_MS);
    }

    #[test]
    fn packets_held_up_while_the_page_started_do_not_set_the_target() {
        let mut playout = Playout::default();
        // The page was busy starting: the first packets come a second late, then live ones.
        for n in 0..30 {
            let capture = f64::from(n) * 10.0;
            playout.arrived(capture, 1_000.0 + f64::from(n) * 3.0);
        }
        assert!(
            playout.target_ms(None, 0.0, 1_100.0) > 700.0,
            "nothing better known yet"
        );
        feed(&mut playout, 1_300, 1_500, |_| 20.0);
        assert_eq!(
            playout.target_ms(None, 0.0, 1_500.0),
            21.0 + MARGIN_MS,
            "still settling: down at once"
        );
        // A start whose packets kept coming late for a while (a page decoding its backlog) is
        // forgotten once it is over, not held and slowly let go.
        feed(&mut playout, 1_500, 4_000, |n| {
            20.0 + f64::from(n % 50) * 4.0
        });
        feed(&mut playout, 4_000, 7_000, |_| 20.0);
        assert_eq!(playout.target_ms(None, 0.0, 7_000.0), 21.0 + MARGIN_MS);
    }

    #[test]
    fn a_busy_start_carries_some_buffer_past_it_not_its_whole_wait() {
        let mut playout = Playout::default();
        let mut target = 0.0;
        // A page busy starting: packets 150 ms late every 700 ms, until just before it settles.
        for n in 0..600 {
            let capture = f64::from(n) * 10.0;
            let phase = (n * 10) % 700;
            let late = if n < 490 && phase < 150 {
                150.0 - f64::from(phase)
            } else {
                0.0
            };
            playout.arrived(capture, capture + 20.0 + late);
            target = playout.target_ms(None, 0.0, capture + 20.0 + late);
        }
        assert_eq!(
            target,
            21.0 + MARGIN_MS + START_CARRY_MS,
            "settled: the start's wait cut to what carries over"
        );
        // Held like any other ask, then let go.
        feed(&mut playout, 6_000, 20_000, |_| 20.0);
        assert_eq!(playout.target_ms(None, 0.0, 20_000.0), target);
        feed(&mut playout, 20_000, 60_000, |_| 20.0);
        assert_eq!(playout.target_ms(None, 0.0, 60_000.0), 21.0 + MARGIN_MS);
    }

    #[test]
    fn a_stall_raises_the_target_at_once_and_calm_brings_it_down_by_stretching() {
        let mut playout = Playout::default();
        feed(&mut playout, 0, 10_000, |_| 20.0);
        assert_eq!(playout.target_ms(None, 0.0, 10_000.0), 21.0 + MARGIN_MS);
        // A 150 ms stall: the packets it held up arrive together at its end.
        for n in 0..15 {
            let capture = 10_000.0 + f64::from(n) * 10.0;
            playout.arrived(capture, 10_170.0 + f64::from(n) * 0.1);
        }
        // All but the latest 0.5 % of packets are waited for: the stall's worst two are not.
        let raised = playout.target_ms(None, 0.0, 10_171.0);
        assert!(raised >= 20.0 + 120.0 + MARGIN_MS, "{raised}");
        // Calm again: the target falls (settled: slowly, never faster than the stretch can follow).
        let mut previous = raised;
        let mut now = 10_180;
        while now < 70_000 {
            feed(&mut playout, now, now + 10, |_| 20.0);
            now += 10;
            let target = playout.target_ms(None, 0.0, f64::from(now));
            assert!(previous - target <= FALL_MS_PER_SECOND * 0.01 + 1e-9);
            previous = target;
        }
        assert_eq!(previous, 21.0 + MARGIN_MS, "down within a minute");
    }

    #[test]
    fn audio_follows_the_video_at_once_while_settling_then_slowly_both_ways() {
        let mut playout = Playout::default();
        feed(&mut playout, 0, 1_000, |_| 10.0);
        // The video's own start: its latency is high at first, then falls at once.
        assert_eq!(playout.target_ms(Some(500.0), 0.0, 1_000.0), 400.0);
        assert_eq!(playout.target_ms(Some(100.0), 0.0, 1_500.0), 100.0);
        feed(&mut playout, 1_000, 6_000, |_| 10.0);
        assert_eq!(playout.target_ms(Some(100.0), 0.0, 6_000.0), 100.0);
        assert_eq!(playout.target_ms(Some(90.0), 0.0, 6_500.0), 96.0);
        assert_eq!(playout.target_ms(Some(90.0), 0.0, 7_000.0), 92.0);
        assert_eq!(playout.target_ms(Some(150.0), 0.0, 7_500.0), 96.0);
    }

    /// An hour of a sender whose audio clock runs 100 ppm fast against this machine's, with
    /// network jitter and a render thread that reads in 10 ms bursts: the buffer stays put, it
    /// never runs dry, and audio is heard within a few ms of its planned time throughout.
    #[test]
    fn an_hour_of_clock_drift_neither_grows_the_delay_nor_runs_dry() {
        const RATE: f64 = 48_000.0;
        const CHUNK: u32 = 480;
        const SENDER_SPEEDUP: f64 = 1.0001;
        let target_ms = 60.0;
        let output_latency_ms = 10.0;
        let ring = Ring::new(48_000, 1);
        let mut storage = vec![0.0; ring.samples()];
        let mut reader = Reader::default();
        let mut corrector = Corrector::default();
        let mut write = 0u32;
        let mut heard_errors = Vec::new();
        // The reader: 480 frames every 10 ms of this machine's time, starting at 0 ms.
        let mut next_burst_ms = 0.0;
        let mut context_frame = 0u32;
        let frames_per_ms = RATE / 1000.0;
        let chunk = vec![0.25f32; CHUNK as usize];
        let mut output = Vec::new();
        let chunks = (3_600.0 * RATE / f64::from(CHUNK)) as u64;
        for n in 0..chunks {
            // Chunk n was captured at n·10 ms on the sender's clock, which runs fast.
            let capture_ms = n as f64 * 10.0 / SENDER_SPEEDUP;
            let jitter_ms = [3.0, 9.0, 1.0, 14.0, 5.0][(n % 5) as usize];
            let now_ms = capture_ms + 20.0 + jitter_ms;
            while next_burst_ms <= now_ms {
                let quantum = reader.quantum(&ring, write, CHUNK);
                context_frame = context_frame.wrapping_add(quantum.from_ring + quantum.silent);
                next_burst_ms += 10.0;
            }
            // Context frame F leaves the speakers at F / rate + the output latency.
            let clock = OutputClock {
                sample_rate: RATE,
                frame_offset: context_frame.wrapping_sub(reader.read),
                context_frames: (now_ms - output_latency_ms) * frames_per_ms,
                unix_ms: now_ms,
            };
            let heard = clock.heard_unix_ms(write);
            let lateness = heard - (capture_ms + target_ms);
            let plan = corrector.plan(lateness, CHUNK, RATE);
            super::super::drift::resample(
                &chunk[plan.skip as usize..],
                1,
                plan.frames as usize,
                &mut output,
            );
            let silence = vec![0.0; plan.silence as usize];
            write = write.wrapping_add(
                ring.write(&mut storage, write, reader.read, &silence)
                    .frames,
            );
            write =
                write.wrapping_add(ring.write(&mut storage, write, reader.read, &output).frames);
            if n > 1_000 {
                heard_errors.push(lateness.abs());
            }
        }
        let worst = heard_errors.iter().copied().fold(0.0, f64::max);
        assert!(
            worst < 12.0,
            "audio strayed {worst:.1} ms from its planned time"
        );
        assert!(
            corrector.jumps <= 1,
            "{} jumps: only the start may jump",
            corrector.jumps
        );
        assert!(reader.underruns <= 1, "{} underruns", reader.underruns);
        let buffered_ms = f64::from(ring.filled(write, reader.read)) / frames_per_ms;
        assert!(buffered_ms < target_ms, "buffer grew to {buffered_ms} ms");
    }
}
