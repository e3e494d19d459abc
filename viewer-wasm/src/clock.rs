//! The broadcast clock from the catalog root: maps a frame's media timestamp to the sender's
//! wall clock, which is what end-to-end latency is measured against.

use serde::{Deserialize, Serialize};

/// The moq epoch (2020-01-01T00:00:00Z) in Unix milliseconds: the catalog's `wall` counts
/// from here, not from 1970.
pub const MOQ_EPOCH_UNIX_MILLIS: f64 = 1_577_836_800_000.0;

/// The largest integer JSON carries exactly (2^53 - 1); a `wall` beyond it is corrupt.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// `clock: { wall, timescale }`: the sender's wall-clock time of media timestamp zero, in
/// `timescale` units per second since [`MOQ_EPOCH_UNIX_MILLIS`]. `timescale` defaults to
/// microseconds, as hang writes it.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(try_from = "Wire", into = "Wire")]
pub struct Clock {
    wall: u64,
    timescale: u32,
}

#[derive(Deserialize, Serialize)]
struct Wire {
    wall: u64,
    #[serde(default = "micros")]
    timescale: u32,
}

fn micros() -> u32 {
    1_000_000
}

impl TryFrom<Wire> for Clock {
    type Error = String;

    fn try_from(wire: Wire) -> Result<Self, String> {
        Clock::new(wire.wall, wire.timescale)
    }
}

impl From<Clock> for Wire {
    fn from(clock: Clock) -> Self {
        Self {
            wall: clock.wall,
            timescale: clock.timescale,
        }
    }
}

impl Clock {
    /// A clock whose timestamp zero is `wall` ticks of `timescale` per second after the moq epoch.
    pub fn new(wall: u64, timescale: u32) -> Result<Self, String> {
        if timescale == 0 {
            return Err("catalog clock has a zero timescale".into());
        }
        if wall > MAX_SAFE_INTEGER {
            return Err(format!("catalog clock wall {wall} is beyond 2^53"));
        }
        Ok(Self { wall, timescale })
    }

    /// The sender's wall clock, in Unix milliseconds, at the frame stamped `timestamp_us`
    /// (the legacy container's microsecond timestamp).
    pub fn sender_unix_ms(&self, timestamp_us: f64) -> f64 {
        let zero_ms = self.wall as f64 * 1000.0 / f64::from(self.timescale);
        MOQ_EPOCH_UNIX_MILLIS + zero_ms + timestamp_us / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-3, "{actual} != {expected}");
    }

    #[test]
    fn maps_timestamps_onto_the_unix_wall_clock() {
        // Timestamp zero one second after the moq epoch, in microseconds.
        let clock = Clock::new(1_000_000, 1_000_000).expect("valid clock");
        assert_close(clock.sender_unix_ms(0.0), MOQ_EPOCH_UNIX_MILLIS + 1000.0);
        assert_close(
            clock.sender_unix_ms(16_667.0),
            MOQ_EPOCH_UNIX_MILLIS + 1016.667,
        );
    }

    #[test]
    fn honours_a_millisecond_timescale() {
        let clock = Clock::new(2_500, 1_000).expect("valid clock");
        assert_close(
            clock.sender_unix_ms(500_000.0),
            MOQ_EPOCH_UNIX_MILLIS + 3000.0,
        );
    }

    #[test]
    fn keeps_sub_millisecond_precision_at_realistic_walls() {
        // Six years after the epoch in microseconds, as moq-mux writes it.
        let wall = 189_216_000_000_000;
        let clock = Clock::new(wall, 1_000_000).expect("valid clock");
        assert_close(
            clock.sender_unix_ms(1_250.0) - clock.sender_unix_ms(0.0),
            1.25,
        );
    }

    #[test]
    fn deserializes_with_default_timescale_and_refuses_nonsense() {
        let clock: Clock = serde_json::from_str(r#"{"wall":1000}"#).expect("parses");
        assert_eq!(clock, Clock::new(1000, 1_000_000).expect("valid clock"));
        assert!(serde_json::from_str::<Clock>(r#"{"wall":0,"timescale":0}"#).is_err());
        assert!(serde_json::from_str::<Clock>(r#"{"wall":9007199254740992}"#).is_err());
        assert!(serde_json::from_str::<Clock>(r#"{"timescale":1000}"#).is_err());
    }
}
