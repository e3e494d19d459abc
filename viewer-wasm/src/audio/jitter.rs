//! How long audio must wait before it is played, learned from how late its packets arrive: a
//! jitter buffer estimator in the manner of WebRTC's NetEQ.
//!
//! Each packet's *transit* (arrival − capture, on two clocks whose offset is unknown but fixed)
//! is measured against the smallest transit of the last [`BASE_WINDOW_MS`]: the packet's delay
//! beyond the network's best. Delays go into a histogram whose weights fade with a half-life of
//! [`HALF_LIFE_MS`], so a burst of trouble is remembered for tens of seconds and then forgotten.
//! The wanted delay is the [`LATE_FRACTION`] quantile: the delay only that share of packets
//! exceeds. It rises as soon as late packets pass that share (a stall of the network or of the
//! page delays a run of packets, so one stall is enough); how fast a plan may fall is the
//! playout's business ([`crate::audio::schedule::Playout`]).

use std::collections::VecDeque;

/// Width of one histogram bucket, ms.
pub const BUCKET_MS: f64 = 1.0;
/// The largest delay the buffer adapts to, ms: beyond that, waiting costs more than a skip.
pub const MAX_DELAY_MS: f64 = 1_000.0;
/// The share of packets allowed to arrive after their playout time: 0.2 %, which keeps a run's
/// late packets under 0.5 % even while the histogram is still young (a few seconds in, one
/// packet is already more than 0.2 % of its weight, so the first stall is covered at once).
pub const LATE_FRACTION: f64 = 0.002;
/// Half-life of a delay's weight in the histogram, ms.
pub const HALF_LIFE_MS: f64 = 5_000.0;
/// How far back the best transit is looked for, ms.
pub const BASE_WINDOW_MS: f64 = 30_000.0;
/// Packets read within this long of the previous one came in a bunch. A subscription starts
/// with one (the relay hands over what it has at once): nothing is measured until the first
/// packet after a gap, so that backlog does not count as lateness.
pub const BUNCH_MS: f64 = 2.0;

const BUCKETS: usize = (MAX_DELAY_MS / BUCKET_MS) as usize;

/// The estimator.
#[derive(Debug, Clone)]
pub struct Jitter {
    /// Weight per delay bucket; scaled up over time instead of scaling old weights down.
    weights: Vec<f64>,
    /// The weight a packet measured now adds (grows as 2^(t / half-life)).
    unit: f64,
    /// Total weight.
    total: f64,
    /// When `unit` was last brought up to date, ms.
    weighed_at: Option<f64>,
    /// (time, transit) candidates for the best transit of the window, increasing in transit.
    best: VecDeque<(f64, f64)>,
    previous_read: Option<f64>,
    /// Whether the backlog is over and packets are measured.
    live: bool,
}

impl Default for Jitter {
    fn default() -> Self {
        Self {
            weights: vec![0.0; BUCKETS],
            unit: 1.0,
            total: 0.0,
            weighed_at: None,
            best: VecDeque::new(),
            previous_read: None,
            live: false,
        }
    }
}

impl Jitter {
    /// A packet captured at `capture_ms` (sender clock) was read at `now_ms` (this clock).
    pub fn arrived(&mut self, capture_ms: f64, now_ms: f64) {
        let previous = self.previous_read.replace(now_ms);
        self.live |= previous.is_some_and(|previous| now_ms - previous >= BUNCH_MS);
        if !self.live {
            return;
        }
        let transit = now_ms - capture_ms;
        while self.best.back().is_some_and(|&(_, t)| t >= transit) {
            self.best.pop_back();
        }
        self.best.push_back((now_ms, transit));
        while self
            .best
            .front()
            .is_some_and(|&(at, _)| now_ms - at > BASE_WINDOW_MS)
        {
            self.best.pop_front();
        }
        let delay = transit - self.best_transit().unwrap_or(transit);
        self.weigh(now_ms);
        let bucket = ((delay / BUCKET_MS) as usize).min(BUCKETS - 1);
        self.weights[bucket] += self.unit;
        self.total += self.unit;
    }

    /// The best transit of the window, ms: what the network does when nothing is in the way.
    pub fn best_transit(&self) -> Option<f64> {
        self.best.front().map(|&(_, transit)| transit)
    }

    /// The delay beyond the best transit that only [`LATE_FRACTION`] of packets exceed, ms.
    pub fn quantile(&self) -> f64 {
        let allowed = self.total * LATE_FRACTION;
        let mut above = 0.0;
        for (bucket, weight) in self.weights.iter().enumerate().rev() {
            above += weight;
            if above > allowed {
                return (bucket + 1) as f64 * BUCKET_MS;
            }
        }
        0.0
    }

    /// The transit to plan for now (best transit + the delay to wait for), ms, or `None`
    /// before the first measured packet.
    pub fn wanted_transit(&self) -> Option<f64> {
        Some(self.best_transit()? + self.quantile().min(MAX_DELAY_MS))
    }

    /// Forget the delays measured so far, keeping the best transit: what a page busy starting
    /// up (decoding its backlog, compiling, laying out) measured says nothing about later.
    pub fn forget_delays(&mut self) {
        self.weights.iter_mut().for_each(|weight| *weight = 0.0);
        self.total = 0.0;
        self.unit = 1.0;
        self.weighed_at = None;
    }

    /// Forget everything (a new track, a new clock).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Bring the unit weight up to `now_ms`, renormalising before the numbers grow too large.
    fn weigh(&mut self, now_ms: f64) {
        let since = self.weighed_at.map_or(0.0, |at| (now_ms - at).max(0.0));
        self.weighed_at = Some(now_ms);
        self.unit *= (since / HALF_LIFE_MS).exp2();
        if self.unit > 1e12 {
            let scale = 1.0 / self.unit;
            self.weights.iter_mut().for_each(|weight| *weight *= scale);
            self.total *= scale;
            self.unit = 1.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packets every 10 ms from `from` to `to` ms (capture times), each arriving `delay(n)` late
    /// on top of a 20 ms network.
    fn feed(jitter: &mut Jitter, from: u32, to: u32, delay: impl Fn(u32) -> f64) {
        for n in from / 10..to / 10 {
            let capture = f64::from(n * 10);
            jitter.arrived(capture, capture + 20.0 + delay(n));
        }
    }

    #[test]
    fn a_steady_network_needs_no_wait() {
        let mut jitter = Jitter::default();
        feed(&mut jitter, 0, 10_000, |n| f64::from(n % 3));
        let target = jitter.wanted_transit().unwrap();
        assert!((20.0..=23.0).contains(&target), "{target}");
    }

    #[test]
    fn the_target_covers_all_but_a_fifth_of_a_percent_of_packets() {
        let mut jitter = Jitter::default();
        // 1 % of packets 80 ms late, 0.1 % 300 ms late: the first are waited for, not the others.
        feed(&mut jitter, 0, 60_000, |n| match n % 1000 {
            0 => 300.0,
            1..=10 => 80.0,
            _ => 0.0,
        });
        let target = jitter.wanted_transit().unwrap();
        assert!((100.0..=102.0).contains(&target), "{target}");
    }

    #[test]
    fn one_stall_raises_the_plan_at_once_but_one_late_packet_does_not() {
        let mut jitter = Jitter::default();
        feed(&mut jitter, 0, 10_000, |_| 0.0);
        assert_eq!(jitter.wanted_transit(), Some(21.0));
        jitter.arrived(10_000.0, 10_000.0 + 20.0 + 150.0);
        assert_eq!(jitter.wanted_transit(), Some(21.0), "0.1 % of the weight");
        // A 100 ms stall: ten packets arrive together at its end.
        for n in 0..10 {
            let capture = 10_010.0 + f64::from(n) * 10.0;
            jitter.arrived(capture, 10_130.0 + f64::from(n) * 0.1);
        }
        let after = jitter.wanted_transit().unwrap();
        assert!((100.0..=122.0).contains(&after), "{after}");
    }

    #[test]
    fn best_transit_follows_a_change_of_route_within_the_window() {
        let mut jitter = Jitter::default();
        feed(&mut jitter, 0, 5_000, |_| 30.0);
        assert_eq!(jitter.best_transit(), Some(50.0));
        feed(&mut jitter, 5_000, 10_000, |_| 0.0);
        assert_eq!(jitter.best_transit(), Some(20.0));
        feed(&mut jitter, 10_000, 60_000, |_| 10.0);
        assert_eq!(
            jitter.best_transit(),
            Some(30.0),
            "the faster route is forgotten"
        );
    }

    #[test]
    fn the_backlog_handed_over_at_subscription_is_not_measured() {
        let mut jitter = Jitter::default();
        for n in 0..100 {
            // The relay's cached second, all at once.
            jitter.arrived(f64::from(n) * 10.0 - 1_000.0, 15.0 + f64::from(n) * 0.01);
        }
        feed(&mut jitter, 10, 30_000, |_| 0.0);
        assert!(jitter.wanted_transit().unwrap() < 25.0);
    }

    #[test]
    fn bursty_delays_are_learnt_and_forgotten_within_half_a_minute_of_calm() {
        let mut jitter = Jitter::default();
        // 200 ms stalls every 2 s: packets held up by the stall arrive together at its end.
        let stalled = |n: u32| {
            let phase = (n * 10) % 2_000;
            if phase < 200 {
                f64::from(200 - phase)
            } else {
                0.0
            }
        };
        feed(&mut jitter, 0, 30_000, stalled);
        let bursty = jitter.wanted_transit().unwrap();
        assert!(bursty >= 20.0 + 185.0, "{bursty}");
        let mut now = 30_000;
        let mut calm_at = None;
        while now < 120_000 {
            feed(&mut jitter, now, now + 1_000, |_| 0.0);
            now += 1_000;
            if jitter.wanted_transit().unwrap() < 25.0 {
                calm_at = Some(now);
                break;
            }
        }
        let calm_at = calm_at.expect("never came back down");
        // The playout then falls the rest of the way by stretching (see `schedule`).
        assert!(calm_at - 30_000 <= 30_000, "took {} ms", calm_at - 30_000);
    }
}
