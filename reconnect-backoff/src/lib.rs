//! When to redial the relay: the one reconnect policy of the publisher and the viewer.
//!
//! - **Exponential:** the base delay starts at [`INITIAL`] and doubles with every attempt that
//!   ends, up to [`CAP`]. Nobody ever gives up: the relay may come back at any time.
//! - **Equal jitter:** each wait is drawn uniformly from the upper half of the base,
//!   `base/2 + random · base/2`, so clients that lost the relay together (a restart drops them
//!   all at once) spread their retries instead of arriving in lockstep, while none retries
//!   sooner than half the base — the backoff still grows for every one of them. (Full jitter,
//!   `random · base`, spreads twice as wide but lets a client redial at once.)
//! - **Reset only after a connection stayed up** for [`STABLE`]: a relay that accepts and then
//!   drops (or refuses) keeps the backoff growing rather than getting a retry a second from
//!   every client.
//!
//! Pure: the caller says how long the connection that ended had been up (measured on its own
//! clock) and passes one uniformly random `u64` per draw, so every sequence is a deterministic
//! test.

use std::time::Duration;

/// The base delay after a first failure, or after a connection that stayed up.
pub const INITIAL: Duration = Duration::from_millis(500);
/// The largest base delay: waits lie between half of it and it.
pub const CAP: Duration = Duration::from_secs(10);
/// How long a connection must have stayed up for the next failure to start from [`INITIAL`].
pub const STABLE: Duration = Duration::from_secs(10);

/// The backoff of one client: where its base delay stands and which attempt it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    /// The attempt in progress (the first dial is 1).
    attempt: u32,
}

/// What to do after an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retry {
    /// How long to wait before dialling again.
    pub wait: Duration,
    /// The number of the attempt that dial will be.
    pub attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: INITIAL,
            attempt: 1,
        }
    }
}

impl Backoff {
    /// An attempt ended after its connection had been up for `up` (zero: it never came up).
    /// `random` is a fresh uniformly random draw.
    pub fn retry(&mut self, up: Duration, random: u64) -> Retry {
        if up >= STABLE {
            *self = Self::default();
        }
        let half = self.base / 2;
        // random / 2^64 of the half, in integers: exact, and below the half.
        let jitter = (half.as_nanos() * u128::from(random)) >> 64;
        let wait = half + Duration::from_nanos(u64::try_from(jitter).unwrap_or(u64::MAX));
        self.base = (self.base * 2).min(CAP);
        self.attempt = self.attempt.saturating_add(1);
        Retry {
            wait,
            attempt: self.attempt,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64: a seeded stream of uniform draws, one per simulated client.
    struct Draws(u64);

    impl Draws {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    fn ms(duration: Duration) -> u128 {
        duration.as_millis()
    }

    #[test]
    fn the_base_doubles_to_the_cap_and_every_wait_lies_in_its_upper_half() {
        let bases = [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000];
        for random in [0, u64::MAX / 3, u64::MAX] {
            let mut backoff = Backoff::default();
            for (i, base) in bases.into_iter().enumerate() {
                let retry = backoff.retry(Duration::ZERO, random);
                assert!(
                    (base / 2..base).contains(&ms(retry.wait)),
                    "retry {i} with draw {random}: {:?} outside [{}, {base}) ms",
                    retry.wait,
                    base / 2
                );
                assert_eq!(retry.attempt, i as u32 + 2, "attempts keep counting");
            }
        }
        let mut backoff = Backoff::default();
        let lowest: Vec<_> = (0..7)
            .map(|_| ms(backoff.retry(Duration::ZERO, 0).wait))
            .collect();
        assert_eq!(lowest, [250, 500, 1000, 2000, 4000, 5000, 5000]);
    }

    #[test]
    fn a_hundred_clients_dropped_together_spread_their_first_five_retries() {
        // Every client loses the relay at 0 and each dial fails at once: the times they redial.
        let mut times: Vec<u128> = (0..100)
            .flat_map(|client| {
                let mut draws = Draws(client);
                let mut backoff = Backoff::default();
                let mut at = Duration::ZERO;
                (0..5)
                    .map(|_| {
                        at += backoff.retry(Duration::ZERO, draws.next()).wait;
                        ms(at)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        times.sort_unstable();
        let busiest = times
            .iter()
            .map(|&from| {
                times
                    .iter()
                    .filter(|&&t| (from..from + 100).contains(&t))
                    .count()
            })
            .max();
        // Without jitter all 100 would redial in the same instant, five times over. The first
        // retries share 250 ms (40 per 100 ms on average), the later ones spread wider: at
        // most half the clients within any 100 ms.
        assert!(busiest <= Some(50), "{busiest:?} dials within 100 ms");
        let first = &times[..100];
        assert!(first[0] >= 250 && first[99] < 500, "{first:?}");
    }

    #[test]
    fn a_connection_that_drops_after_a_second_keeps_the_backoff_growing() {
        let mut backoff = Backoff::default();
        for _ in 0..3 {
            backoff.retry(Duration::ZERO, 0);
        }
        // Accepted, then dropped a second later: the next wait still grows.
        let retry = backoff.retry(Duration::from_secs(1), 0);
        assert_eq!((ms(retry.wait), retry.attempt), (2000, 5));
        let retry = backoff.retry(STABLE - Duration::from_millis(1), 0);
        assert_eq!((ms(retry.wait), retry.attempt), (4000, 6));
    }

    #[test]
    fn a_connection_that_lived_thirty_seconds_starts_over() {
        let mut backoff = Backoff::default();
        for _ in 0..6 {
            backoff.retry(Duration::ZERO, 0);
        }
        let retry = backoff.retry(Duration::from_secs(30), 0);
        assert_eq!((ms(retry.wait), retry.attempt), (250, 2));
        let retry = backoff.retry(Duration::ZERO, 0);
        assert_eq!((ms(retry.wait), retry.attempt), (500, 3), "and grows again");
    }
}
