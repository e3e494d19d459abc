//! Audio stamps kept on the wall clock the video uses.
//!
//! The video's frames are stamped with the wall clock as they enter ffmpeg's filter graph
//! (`setpts=RTCTIME-base`). The audio's are counted in samples from the wall-clock instant the
//! first samples arrived (`asetpts=N/SR+RTCSTART-base`, see [`crate::audio_args`]): exact and
//! contiguous, but on the capture device's clock. A device whose crystal runs 50 ppm fast
//! delivers 48 002.4 samples per wall-clock second, and its stamps run ahead of the video's by
//! 180 ms an hour. This corrects the stamps and leaves the samples as they are: the viewer
//! already follows its timestamps by resampling up to 1 % (a drift of 1000 ppm is 0.1 %), and
//! resampling here would add a filter, its latency and its artefacts for nothing.
//!
//! **How.** A packet's *lag* is the wall-clock time it was read minus its device stamp: the
//! pipeline's latency plus jitter (neither ever negative) plus the drift so far. So the lowest
//! lag among the packets read in each [`BUCKET_US`] of wall-clock time is a point on a line whose
//! slope is the drift; late reads, bursts and stalls only lift points above it. The line is the
//! least-squares fit of the last [`WINDOW`] points, fitted again without those over [`REJECT_US`]
//! above it. Its height at the anchor (the timeline's first packet, which ffmpeg stamped on the
//! wall clock) is the pipeline's latency, learnt over [`LEARN_US`] and then kept; from then on the
//! line's height above it is the drift to correct: the stamp is `device + correction`, that is
//! `anchor + device_elapsed × (1 + drift)`. The correction moves by at most [`MAX_SLEW`] of each
//! packet's duration, so stamps never step except where the timeline itself moved:
//!
//! - **A new timeline** (a restarted ffmpeg, or stamps jumping over [`GAP_US`]): the new stamps
//!   are anchored afresh; the drift learnt so far is kept, so there is nothing to relearn.
//! - **A lag step** (a whole bucket's lowest lag over [`STEP_US`] off the line: sound lost, a
//!   device that paused, the system clock set): the correction steps with it within a bucket, and
//!   the line is fitted afresh (the drift and the pipeline's latency are kept). Points less far
//!   off, [`OUTLIER_US`] to [`STEP_US`] above the line, are reads late for a whole bucket (a
//!   stall): left out while the line goes on as it was, unless they go on for [`PERSIST_US`]
//!   (less sound lost): then the correction steps too. A stall whose sound waits in the device's
//!   buffer moves nothing: the buffer drains within a bucket.
//!
//! It adds no latency: each packet is stamped the moment it is read. Every input is passed in
//! (µs after the broadcast's base), so the tests drive a simulated hour natively.

use std::collections::VecDeque;

/// Wall-clock time whose reads give one point: the lowest lag among them.
const BUCKET_US: i64 = 250_000;
/// Points in the fit: two minutes of buckets.
const WINDOW: usize = 480;
/// The drift is fitted once the points span this much; until then the last drift learnt (none at
/// first) is kept and only the line's height is fitted.
const MIN_SPAN_US: f64 = 10e6;
/// The pipeline's latency is refined until the points reach this far past the anchor, then kept.
const LEARN_US: f64 = 20e6;
/// Points further than this above the fitted line are late reads: fitted again without them.
const REJECT_US: f64 = 3_000.0;
/// A point further than this above the line is not drift (a whole bucket read late): left out...
const OUTLIER_US: f64 = 20_000.0;
/// ...unless every point has been for this long (device µs): then the timeline moved.
const PERSIST_US: f64 = 10e6;
/// A point further than this off the line means the timeline moved: the stamps step with it.
const STEP_US: f64 = 500_000.0;
/// Stamps further than this from where the previous packet ended start a new timeline.
const GAP_US: i64 = 500_000;
/// The fastest drift believed: 1000 ppm (crystals are within ±100 ppm).
const MAX_DRIFT: f64 = 1e-3;
/// The correction moves by at most this fraction of each packet's duration (0.5 %).
const MAX_SLEW: f64 = 0.005;
/// Rounds of leaving out points over [`REJECT_US`] above the line.
const REFITS: usize = 4;

/// The audio's stamping clock: one per audio source, kept across its ffmpeg restarts.
#[derive(Debug, Default)]
pub struct AudioClock {
    timeline: Option<Timeline>,
    /// The device clock's drift against the wall clock (lag per device µs), once fitted.
    drift: f64,
}

impl AudioClock {
    /// The stamp (µs after the broadcast's base) of a packet that ffmpeg stamped `device_us`,
    /// lasting `duration_us`, read at `read_us` on the wall clock.
    pub fn stamp(&mut self, device_us: i64, duration_us: i64, read_us: i64) -> i64 {
        let drift = self.drift;
        let timeline = match &mut self.timeline {
            Some(timeline) if (device_us - timeline.end).abs() <= GAP_US => timeline,
            slot => slot.insert(Timeline::new(device_us, drift)),
        };
        timeline.end = device_us + duration_us;
        if let Some(drift) = timeline.read(device_us, read_us) {
            self.drift = drift;
        }
        let target = timeline.line.lag(device_us as f64) - timeline.latency;
        let slew = MAX_SLEW * duration_us as f64;
        timeline.correction += (target - timeline.correction).clamp(-slew, slew);
        device_us + timeline.correction.round() as i64
    }

    /// A new ffmpeg starts: its stamps are a new timeline, anchored afresh.
    pub fn restart(&mut self) {
        self.timeline = None;
    }
}

/// One run of contiguous device stamps.
#[derive(Debug)]
struct Timeline {
    /// The first packet's device stamp.
    anchor: f64,
    /// The correction applied now, µs.
    correction: f64,
    /// Where the last packet ends, device µs.
    end: i64,
    /// The reads of the open bucket.
    bucket: Option<Bucket>,
    points: VecDeque<Point>,
    /// The lowest lag against device time.
    line: Line,
    /// The pipeline's latency: the line's height at the anchor, kept once learnt.
    latency: f64,
    learnt: bool,
    /// The device stamp of the first of the points in a row over [`OUTLIER_US`] above the line.
    outlying_since: Option<f64>,
}

/// The reads of one bucket: when the first was, and the lowest lag.
#[derive(Debug)]
struct Bucket {
    start: i64,
    lowest: Point,
}

#[derive(Clone, Copy, Debug)]
struct Point {
    device: f64,
    lag: f64,
}

/// `lag = level + slope × (device − at)`.
#[derive(Clone, Copy, Debug)]
struct Line {
    at: f64,
    level: f64,
    slope: f64,
}

impl Line {
    fn lag(&self, device: f64) -> f64 {
        self.level + self.slope * (device - self.at)
    }
}

impl Timeline {
    fn new(anchor: i64, drift: f64) -> Self {
        Self {
            anchor: anchor as f64,
            correction: 0.0,
            end: anchor,
            bucket: None,
            points: VecDeque::new(),
            line: Line {
                at: anchor as f64,
                level: 0.0,
                slope: drift,
            },
            latency: 0.0,
            learnt: false,
            outlying_since: None,
        }
    }

    /// Note a packet read; returns the drift when a bucket closed and the fit gave one.
    fn read(&mut self, device_us: i64, read_us: i64) -> Option<f64> {
        let point = Point {
            device: device_us as f64,
            lag: (read_us - device_us) as f64,
        };
        let mut drift = None;
        match &mut self.bucket {
            Some(bucket) if read_us - bucket.start < BUCKET_US => {
                if point.lag < bucket.lowest.lag {
                    bucket.lowest = point;
                }
                return None;
            }
            Some(bucket) => {
                let lowest = bucket.lowest;
                drift = self.close(lowest);
            }
            None => {}
        }
        self.bucket = Some(Bucket {
            start: read_us,
            lowest: point,
        });
        drift
    }

    /// A bucket closed with `point`, its lowest lag.
    fn close(&mut self, point: Point) -> Option<f64> {
        if !self.points.is_empty() {
            let off = point.lag - self.line.lag(point.device);
            let outlying = off > OUTLIER_US && off <= STEP_US;
            if outlying {
                let since = *self.outlying_since.get_or_insert(point.device);
                if point.device - since < PERSIST_US {
                    return None;
                }
            }
            self.outlying_since = None;
            if outlying || off.abs() > STEP_US {
                // The timeline moved: the line starts again from here, the stamps step with it.
                self.points.clear();
                self.learnt = true;
                self.correction += off;
            }
        }
        if self.points.len() == WINDOW {
            self.points.pop_front();
        }
        self.points.push_back(point);
        let fitted = fit(&self.points, self.line.slope);
        self.line = fitted.line;
        if !self.learnt {
            self.latency = self.line.lag(self.anchor);
            self.learnt = point.device - self.anchor >= LEARN_US;
        }
        fitted.drift.then_some(self.line.slope)
    }
}

/// A fitted line, and whether its slope was fitted (rather than kept).
struct Fit {
    line: Line,
    drift: bool,
}

/// The line under `points`: least squares, then again without the points over [`REJECT_US`]
/// above it. With the points spanning less than [`MIN_SPAN_US`], the slope stays `slope`.
fn fit(points: &VecDeque<Point>, slope: f64) -> Fit {
    let mut used: Vec<Point> = points.iter().copied().collect();
    let mut fitted = line(&used, slope);
    for _ in 0..REFITS {
        let before = used.len();
        used.retain(|p| p.lag - fitted.line.lag(p.device) <= REJECT_US);
        if used.len() == before {
            break;
        }
        fitted = line(&used, slope);
    }
    fitted
}

/// The least-squares line through `points` (not empty), its slope within [`MAX_DRIFT`]; or
/// through their centroid with `slope` when they span less than [`MIN_SPAN_US`].
fn line(points: &[Point], slope: f64) -> Fit {
    let n = points.len() as f64;
    let at = points.iter().map(|p| p.device).sum::<f64>() / n;
    let level = points.iter().map(|p| p.lag).sum::<f64>() / n;
    let first = points.first().map_or(at, |p| p.device);
    let last = points.last().map_or(at, |p| p.device);
    if last - first < MIN_SPAN_US {
        return Fit {
            line: Line { at, level, slope },
            drift: false,
        };
    }
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for p in points {
        sxy += (p.device - at) * (p.lag - level);
        sxx += (p.device - at) * (p.device - at);
    }
    Fit {
        line: Line {
            at,
            level,
            slope: (sxy / sxx).clamp(-MAX_DRIFT, MAX_DRIFT),
        },
        drift: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 ms Opus packets.
    const PACKET_US: i64 = 10_000;
    /// Encoding and piping a packet once its last sample is in.
    const LATENCY_US: f64 = 3_000.0;
    const SECOND: f64 = 1e6;

    /// A deterministic xorshift generator of numbers in [0, 1).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// A capture device whose sample clock runs `ppm` fast, its packets read 0–15 ms late at
    /// random and not at all for 100 ms every 10–50 s.
    struct Device {
        ppm: f64,
        rng: Rng,
        /// The next packet's stamp (ffmpeg's) and true wall-clock capture time, µs.
        stamp: i64,
        wall: f64,
        last_read: f64,
        /// No read before this (a stall).
        held_until: f64,
        next_burst: f64,
    }

    /// One packet: its stamp, when it was truly captured, when it was read.
    struct Packet {
        stamp: i64,
        wall: f64,
        read: i64,
    }

    impl Device {
        fn new(ppm: f64, seed: u64) -> Self {
            Self {
                ppm,
                rng: Rng(seed),
                stamp: 1_000_000,
                wall: 1_000_000.0,
                last_read: 0.0,
                held_until: 0.0,
                next_burst: 20.0 * SECOND,
            }
        }

        fn packet(&mut self) -> Packet {
            let wall = self.wall;
            let mut read = wall + PACKET_US as f64 + LATENCY_US + 15_000.0 * self.rng.next();
            if read >= self.next_burst {
                self.held_until = self.held_until.max(self.next_burst + 100_000.0);
                self.next_burst += (10.0 + 40.0 * self.rng.next()) * SECOND;
            }
            read = read.max(self.held_until).max(self.last_read);
            self.last_read = read;
            self.stamp += PACKET_US;
            self.wall += PACKET_US as f64 / (1.0 + self.ppm * 1e-6);
            Packet {
                stamp: self.stamp - PACKET_US,
                wall,
                read: read as i64,
            }
        }

        /// Nothing is read for `us`; the sound waits in the device's buffer.
        fn stall(&mut self, us: f64) {
            self.held_until = self.wall + us;
        }

        /// `us` of sound is lost: the wall clock goes on, the stamps don't.
        fn lose(&mut self, us: f64) {
            self.wall += us;
        }

        /// ffmpeg restarts `us` later, its stamps anchored afresh on the wall clock.
        fn restart(&mut self, us: f64) {
            self.wall += us;
            self.stamp = self.wall.round() as i64;
        }
    }

    /// Stamps made of a device's packets, and how far each is from its true capture time.
    #[derive(Default)]
    struct Run {
        clock: AudioClock,
        /// (true capture time, stamp − capture time, stamp − the previous stamp), µs.
        stamps: Vec<(f64, f64, i64)>,
        last: Option<i64>,
    }

    impl Run {
        fn go(&mut self, device: &mut Device, us: f64) {
            let until = device.wall + us;
            while device.wall < until {
                let packet = device.packet();
                let stamp = self.clock.stamp(packet.stamp, PACKET_US, packet.read);
                let step = self.last.map_or(PACKET_US, |last| stamp - last);
                self.last = Some(stamp);
                self.stamps
                    .push((packet.wall, stamp as f64 - packet.wall, step));
            }
        }

        /// The largest error of the stamps of sound captured in `[from, to)` µs, and their
        /// steps' largest difference from the packet's duration.
        fn worst(&self, from: f64, to: f64) -> (f64, i64) {
            self.stamps
                .iter()
                .filter(|(wall, ..)| (from..to).contains(wall))
                .fold((0.0, 0), |(error, step), s| {
                    (error.max(s.1.abs()), step.max((s.2 - PACKET_US).abs()))
                })
        }
    }

    /// An hour of a device `ppm` fast: the stamps' largest error after 10 s and after a minute.
    fn hour(ppm: f64, seed: u64) -> (f64, f64) {
        let mut device = Device::new(ppm, seed);
        let mut run = Run::default();
        let start = device.wall;
        run.go(&mut device, 3600.0 * SECOND);
        let uncorrected = device.stamp as f64 - device.wall;
        assert!(
            (uncorrected.abs() - 720_000.0).abs() < 1_000.0,
            "{uncorrected}"
        );
        let (from_10_s, step) = run.worst(start + 10.0 * SECOND, f64::INFINITY);
        let (from_1_min, _) = run.worst(start + 60.0 * SECOND, f64::INFINITY);
        eprintln!(
            "{ppm} ppm: stamps uncorrected {:.0} ms off after an hour; corrected at most \
             {from_10_s:.0} µs off after 10 s, {from_1_min:.0} µs after a minute; steps within \
             {step} µs of 10 ms",
            uncorrected / 1000.0
        );
        assert!(step <= 1_000, "a step {step} µs off the packet's duration");
        assert!(run.worst(start, f64::INFINITY).1 <= 1_000);
        (from_10_s, from_1_min)
    }

    #[test]
    fn a_device_200_ppm_fast_stays_on_the_wall_clock_for_an_hour() {
        let (from_10_s, from_1_min) = hour(200.0, 0x9e37_79b9_7f4a_7c15);
        assert!(from_10_s < 3_000.0, "{from_10_s} µs");
        assert!(from_1_min < 500.0, "{from_1_min} µs");
    }

    #[test]
    fn a_device_200_ppm_slow_stays_on_the_wall_clock_for_an_hour() {
        let (from_10_s, from_1_min) = hour(-200.0, 0x2545_f491_4f6c_dd1d);
        assert!(from_10_s < 3_000.0, "{from_10_s} µs");
        assert!(from_1_min < 500.0, "{from_1_min} µs");
    }

    /// Five minutes of a device `ppm` fast, then `lost_us` of its sound lost and a minute more:
    /// the stamps step once, by what was lost. Returns how much sound was stamped over 10 ms off
    /// after the loss, and the largest error from `settle` µs after it.
    fn lose(lost_us: f64, ppm: f64, settle: f64) -> (f64, f64) {
        let mut device = Device::new(ppm, 7);
        let mut run = Run::default();
        run.go(&mut device, 300.0 * SECOND);
        device.lose(lost_us);
        let gap = device.wall;
        run.go(&mut device, 60.0 * SECOND);
        let steps: Vec<i64> = run.stamps.iter().map(|s| s.2).collect();
        let big: Vec<i64> = steps.into_iter().filter(|s| *s > 20_000).collect();
        assert_eq!(big.len(), 1, "one step: {big:?}");
        assert!(
            (big[0] - PACKET_US - lost_us as i64).abs() < 5_000,
            "{big:?}"
        );
        let off = run.stamps.iter().filter(|s| s.0 >= gap && s.1.abs() > 10e3);
        let off_us = off.count() as f64 * PACKET_US as f64;
        let (after, _) = run.worst(gap + settle, f64::INFINITY);
        eprintln!(
            "{:.0} ms lost: {:.0} ms of sound stamped over 10 ms off, then at most {after:.0} µs",
            lost_us / 1000.0,
            off_us / 1000.0
        );
        (off_us, after)
    }

    #[test]
    fn sound_lost_for_2_s_steps_the_stamps_once_within_a_bucket() {
        let (off_us, after) = lose(2.0 * SECOND, 200.0, 0.5 * SECOND);
        assert!(off_us <= 300_000.0, "{off_us} µs");
        assert!(after < 1_000.0, "{after} µs");
    }

    #[test]
    fn sound_lost_for_100_ms_steps_the_stamps_once_it_has_lasted_10_s() {
        let (off_us, after) = lose(100_000.0, -200.0, 11.0 * SECOND);
        assert!(off_us <= 11.0 * SECOND, "{off_us} µs");
        assert!(after < 1_000.0, "{after} µs");
    }

    #[test]
    fn a_2_s_stall_with_the_sound_buffered_moves_no_stamp() {
        let mut device = Device::new(200.0, 11);
        let mut run = Run::default();
        run.go(&mut device, 300.0 * SECOND);
        device.stall(2.0 * SECOND);
        run.go(&mut device, 60.0 * SECOND);
        let (error, step) = run.worst(60.0 * SECOND, f64::INFINITY);
        eprintln!("a 2 s stall: at most {error:.0} µs off, steps within {step} µs of 10 ms");
        assert!(
            error < 1_000.0 && step <= 1_000,
            "{error} µs, step {step} µs"
        );
    }

    #[test]
    fn a_restart_is_anchored_afresh_and_keeps_the_drift_learnt() {
        for announced in [true, false] {
            let mut device = Device::new(200.0, 13);
            let mut run = Run::default();
            run.go(&mut device, 600.0 * SECOND);
            device.restart(2.0 * SECOND);
            if announced {
                run.clock.restart();
            }
            let restart = device.wall;
            run.go(&mut device, 60.0 * SECOND);
            // A fresh start drifts 2 ms in the 10 s before it fits the drift; this knows it.
            let (learning, _) = run.worst(restart, restart + 10.0 * SECOND);
            let (error, _) = run.worst(restart, f64::INFINITY);
            // The first new stamp jumps by the 2 s pause; none after it.
            let (_, step) = run.worst(restart + 1.0, f64::INFINITY);
            eprintln!(
                "restart (announced: {announced}): {learning:.0} µs off in the first 10 s, \
                 {error:.0} µs in the first minute"
            );
            assert!(learning < 100.0, "{learning} µs (announced: {announced})");
            assert!(error < 1_000.0, "{error} µs (announced: {announced})");
            assert!(step <= 1_000, "{step} µs (announced: {announced})");
        }
    }
}
