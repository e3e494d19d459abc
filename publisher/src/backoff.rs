//! Reconnect pacing: how long to wait before the next attempt to reach the relay.
//!
//! Pure state: the caller reports failures and successes and sleeps for what it is told. Unlike
//! a player, a publisher never gives up — the relay may come back at any time, and the capture
//! keeps running meanwhile.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
            attempt: 0,
        }
    }

    /// A connection attempt failed (or an established session dropped): how long to wait
    /// before the next one, and which attempt that will be.
    pub fn failed(&mut self) -> (Duration, u32) {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        self.attempt += 1;
        (wait, self.attempt + 1)
    }

    /// A session was established: the next failure starts from the initial delay again.
    pub fn succeeded(&mut self) {
        self.next = self.initial;
        self.attempt = 0;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(500), Duration::from_secs(5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_never_gives_up() {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(5));
        let waits: Vec<_> = (0..8).map(|_| backoff.failed().0.as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 5000, 5000, 5000, 5000]);
        assert_eq!(backoff.failed().1, 10, "attempts keep counting");
    }

    #[test]
    fn success_resets_to_the_initial_delay() {
        let mut backoff = Backoff::default();
        backoff.failed();
        backoff.failed();
        backoff.succeeded();
        assert_eq!(backoff.failed(), (Duration::from_millis(500), 2));
    }
}
