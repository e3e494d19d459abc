//! When to redial after a connection ends: the shared policy ([`reconnect_backoff`]:
//! exponential, equal jitter, forever — a viewer left open comes back on its own when the relay
//! does), on the page's clock. The backoff starts over only after a session that stayed up, so
//! a relay that accepts and drops is not redialled every second by every viewer.

use std::time::Duration;

use reconnect_backoff::Backoff;

#[derive(Debug, Clone, Default)]
pub struct Redial {
    backoff: Backoff,
    /// When the session now up was established (ms on the page's clock).
    connected_at_ms: Option<f64>,
}

impl Redial {
    /// A session was established at `now_ms`.
    pub fn connected(&mut self, now_ms: f64) {
        self.connected_at_ms = Some(now_ms);
    }

    /// The connection attempt or session ended at `now_ms`: how long to wait before dialling
    /// again. `random` is a fresh uniformly random draw.
    pub fn ended(&mut self, now_ms: f64, random: u64) -> Duration {
        let up = self.connected_at_ms.take().map_or(Duration::ZERO, |at| {
            Duration::try_from_secs_f64((now_ms - at) / 1000.0).unwrap_or_default()
        });
        self.backoff.retry(up, random).wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_dials_grow_the_wait() {
        let mut redial = Redial::default();
        let waits: Vec<u128> = (0..4)
            .map(|i| redial.ended(f64::from(i), 0).as_millis())
            .collect();
        assert_eq!(waits, [250, 500, 1000, 2000]);
    }

    #[test]
    fn a_session_dropped_after_a_second_keeps_growing_one_up_thirty_starts_over() {
        let mut redial = Redial::default();
        redial.ended(0.0, 0);
        redial.ended(500.0, 0);
        redial.connected(1_000.0);
        assert_eq!(redial.ended(2_000.0, 0).as_millis(), 1000);
        redial.connected(3_000.0);
        assert_eq!(redial.ended(33_000.0, 0).as_millis(), 250);
        // A later failed dial counts no time up: the session's start is forgotten.
        assert_eq!(redial.ended(60_000.0, 0).as_millis(), 500);
    }
}
