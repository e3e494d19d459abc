//! Rolling statistics: a fixed window of recent samples summarised as last/p50/p95, and the
//! pairing of each decoder output with the moment its chunk was submitted. Both are
//! allocation-free once built, since they sit on the per-frame path.

use std::collections::VecDeque;

/// The newest samples: at most `capacity`, and none older than `horizon_ms` before the newest
/// one, so a viewer that slows down (a throttled CPU painting a few frames a second) reports
/// how it is doing now rather than minutes ago.
#[derive(Debug, Clone)]
pub struct Window {
    /// (time, value), oldest first.
    samples: VecDeque<(f64, f64)>,
    capacity: usize,
    horizon_ms: f64,
    last: Option<f64>,
    sorted: Vec<f64>,
}

/// `last`, `p50` and `p95` of a window; `None` (`null`) while it is empty.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub last: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
}

impl Window {
    pub fn new(capacity: usize, horizon_ms: f64) -> Self {
        let capacity = capacity.max(1);
        Self {
            samples: VecDeque::with_capacity(capacity),
            capacity,
            horizon_ms,
            last: None,
            sorted: Vec::with_capacity(capacity),
        }
    }

    /// Add `sample`, taken at `now_ms` (any clock, the same for every push).
    pub fn push(&mut self, sample: f64, now_ms: f64) {
        if !sample.is_finite() {
            return;
        }
        while self
            .samples
            .front()
            .is_some_and(|&(at, _)| at < now_ms - self.horizon_ms)
        {
            self.samples.pop_front();
        }
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back((now_ms, sample));
        self.last = Some(sample);
    }

    pub fn clear(&mut self) {
        self.samples.clear();
        self.last = None;
    }

    /// The smallest sample in the window.
    pub fn min(&self) -> Option<f64> {
        self.samples
            .iter()
            .map(|&(_, value)| value)
            .min_by(f64::total_cmp)
    }

    /// One nearest-rank percentile of the samples no larger than `upper`.
    pub fn percentile_up_to(&mut self, percentile: f64, upper: f64) -> Option<f64> {
        self.sorted.clear();
        self.sorted.extend(
            self.samples
                .iter()
                .map(|&(_, value)| value)
                .filter(|&value| value <= upper),
        );
        self.sorted.sort_unstable_by(f64::total_cmp);
        nearest_rank(&self.sorted, percentile)
    }

    /// Nearest-rank percentiles over the window (one sort for both).
    pub fn summary(&mut self) -> Summary {
        self.sorted.clear();
        self.sorted
            .extend(self.samples.iter().map(|&(_, value)| value));
        self.sorted.sort_unstable_by(f64::total_cmp);
        Summary {
            last: self.last,
            p50: nearest_rank(&self.sorted, 50.0),
            p95: nearest_rank(&self.sorted, 95.0),
        }
    }
}

fn nearest_rank(sorted: &[f64], percentile: f64) -> Option<f64> {
    let rank = (percentile / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1)).copied()
}

/// How many decodes may be in flight before the oldest submission is forgotten.
const IN_FLIGHT: usize = 64;

/// When each in-flight chunk went to the decoder, keyed by its timestamp.
#[derive(Debug, Clone)]
pub struct DecodeTimes {
    submitted: [(f64, f64); IN_FLIGHT],
    next: usize,
}

impl Default for DecodeTimes {
    fn default() -> Self {
        Self {
            submitted: [(f64::NAN, 0.0); IN_FLIGHT],
            next: 0,
        }
    }
}

impl DecodeTimes {
    /// A chunk stamped `timestamp` was passed to `decode()` at `now_ms`.
    pub fn submitted(&mut self, timestamp: f64, now_ms: f64) {
        self.submitted[self.next] = (timestamp, now_ms);
        self.next = (self.next + 1) % IN_FLIGHT;
    }

    /// The frame stamped `timestamp` came out at `now_ms`: how long its decode took.
    pub fn completed(&mut self, timestamp: f64, now_ms: f64) -> Option<f64> {
        let entry = self.submitted.iter_mut().find(|(ts, _)| *ts == timestamp)?;
        let took = now_ms - entry.1;
        entry.0 = f64::NAN;
        Some(took)
    }

    /// Forget everything in flight (decoder reset: those outputs will never come).
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_window_summarises_to_nothing() {
        assert_eq!(Window::new(10, 1000.0).summary(), Summary::default());
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut window = Window::new(100, 1000.0);
        for sample in (1..=100).rev() {
            window.push(f64::from(sample), 0.0);
        }
        let summary = window.summary();
        assert_eq!(summary.last, Some(1.0));
        assert_eq!(summary.p50, Some(50.0));
        assert_eq!(summary.p95, Some(95.0));

        let mut single = Window::new(5, 1000.0);
        single.push(7.5, 0.0);
        let summary = single.summary();
        assert_eq!((summary.p50, summary.p95), (Some(7.5), Some(7.5)));
    }

    #[test]
    fn the_window_forgets_old_samples() {
        let mut window = Window::new(3, 1000.0);
        for sample in [100.0, 100.0, 100.0, 1.0, 2.0, 3.0] {
            window.push(sample, 0.0);
        }
        let summary = window.summary();
        assert_eq!(summary.p95, Some(3.0));
        assert_eq!(summary.p50, Some(2.0));
        window.push(f64::NAN, 0.0);
        assert_eq!(
            window.summary().last,
            Some(3.0),
            "non-finite samples are ignored"
        );
        window.clear();
        assert_eq!(window.summary(), Summary::default());
    }

    #[test]
    fn samples_older_than_the_horizon_are_forgotten() {
        let mut window = Window::new(300, 5000.0);
        // A fast stretch of high values, then a slow viewer painting once a second.
        for i in 0..250 {
            window.push(800.0, f64::from(i) * 16.0);
        }
        for second in 1..=6 {
            window.push(200.0, 4000.0 + f64::from(second) * 1000.0);
        }
        let summary = window.summary();
        assert_eq!((summary.p50, summary.p95), (Some(200.0), Some(200.0)));
    }

    #[test]
    fn decode_times_pair_outputs_with_submissions() {
        let mut times = DecodeTimes::default();
        times.submitted(0.0, 10.0);
        times.submitted(16_667.0, 20.0);
        assert_eq!(times.completed(0.0, 14.5), Some(4.5));
        assert_eq!(
            times.completed(0.0, 15.0),
            None,
            "each submission completes once"
        );
        assert_eq!(times.completed(16_667.0, 23.0), Some(3.0));
        assert_eq!(times.completed(99.0, 30.0), None);

        times.submitted(1.0, 1.0);
        times.clear();
        assert_eq!(times.completed(1.0, 2.0), None);
    }

    #[test]
    fn decode_times_forget_the_oldest_when_full() {
        let mut times = DecodeTimes::default();
        for n in 0..=IN_FLIGHT {
            times.submitted(n as f64, 0.0);
        }
        assert_eq!(times.completed(0.0, 1.0), None);
        assert_eq!(times.completed(IN_FLIGHT as f64, 1.0), Some(1.0));
    }
}
