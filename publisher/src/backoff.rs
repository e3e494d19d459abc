//! The publisher's reconnect pacing: the shared policy ([`reconnect_backoff`]: exponential,
//! equal jitter, reset only after a connection stayed up), its jitter drawn from the operating
//! system. Unlike a player, a publisher never gives up — the relay may come back at any time,
//! and the capture keeps running meanwhile.

use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct Backoff(reconnect_backoff::Backoff);

impl Backoff {
    /// An attempt ended after being up for `up` (zero: it never came up): how long to wait
    /// before the next one, and which attempt that will be.
    pub fn ended(&mut self, up: Duration) -> (Duration, u32) {
        // Without an entropy source every wait is half its base: still growing, just unspread.
        let retry = self.0.retry(up, getrandom::u64().unwrap_or_default());
        (retry.wait, retry.attempt)
    }

    /// A start that failed (or a run the caller judged too short): [`Self::ended`] with nothing
    /// up.
    pub fn failed(&mut self) -> (Duration, u32) {
        self.ended(Duration::ZERO)
    }

    /// A run the caller judged long enough: the next failure starts from the initial delay.
    pub fn succeeded(&mut self) {
        *self = Self::default();
    }
}
