//! Listening to the viewer for a window: what its audio counters grew by (sound played, time
//! concealed where the ring ran dry, concealment events, jumps — the audible steps of the
//! audio clock) and the sync probe's flashes and beeps that fell in it. The sound tests and
//! the benchmark judge the same figures, from the first and last stats of the window, and
//! see the stalls of what fed the ring in it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, ensure};
use serde_json::Value;
use viewer_wasm::audio::status::{AudioReport, Stall};
use viewer_wasm::telemetry::Report;

use crate::av_sync;
use crate::chromium::Chromium;
use crate::live::Stack;
use crate::page::Page;

/// One window of listening.
pub struct Listening<T> {
    pub grown: Grown,
    /// Flashes and beeps of the window, paired.
    pub sync: av_sync::Sync,
    /// The stalls of what feeds the ring that ended in the window.
    pub stalls: Vec<Stall>,
    /// The stats at the window's end.
    pub last: Report,
    /// What was done while listening returned.
    pub during: T,
}

/// What the audio counters grew by over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grown {
    pub seconds: f64,
    /// Seconds of sound from the ring (not concealment, not silence before the first chunk).
    pub played_s: f64,
    pub concealed_ms: f64,
    pub concealments: u64,
    pub jumps: u64,
}

impl Grown {
    /// The growth from `first` to `last`, `elapsed` apart.
    pub fn between(first: &AudioReport, last: &AudioReport, elapsed: Duration) -> Self {
        let rate = f64::from(last.sample_rate.unwrap_or(0)).max(1.0);
        Self {
            seconds: elapsed.as_secs_f64(),
            played_s: last.frames_played.saturating_sub(first.frames_played) as f64 / rate,
            concealed_ms: last.concealed_ms - first.concealed_ms,
            concealments: last.concealments.saturating_sub(first.concealments),
            jumps: last.jumps.saturating_sub(first.jumps),
        }
    }

    /// Share of the window sound played, 0–1.
    pub fn played_share(&self) -> f64 {
        self.played_s / self.seconds
    }

    /// Share of the window concealed, %.
    pub fn concealed_percent(&self) -> f64 {
        self.concealed_ms / (self.seconds * 1000.0) * 100.0
    }

    /// `count` events over the window, per minute.
    pub fn per_minute(&self, count: u64) -> f64 {
        count as f64 / (self.seconds / 60.0)
    }
}

/// The stalls in words: how many, then each one's gap and what the ring had left at its end.
pub fn describe_stalls(stalls: &[Stall]) -> String {
    let each: Vec<String> = stalls
        .iter()
        .map(|stall| format!("{:.0} ms ({:.0} ms left)", stall.gap_ms, stall.buffered_ms))
        .collect();
    format!(
        "{} stalls of the writer's input [{}]",
        stalls.len(),
        each.join(", ")
    )
}

/// A new publisher of `name` (with `publisher_args`) on `stack`, and a browser watching it with
/// the sync probe on, live and then `warm_up` later.
pub fn open_probed(
    stack: &mut Stack,
    name: &str,
    publisher_args: &[&str],
    warm_up: Duration,
) -> anyhow::Result<Chromium> {
    stack.publish(name, publisher_args)?;
    let mut chromium = Chromium::launch()?;
    chromium.navigate(&format!("{}&probe=1", stack.page_url(name)))?;
    let live = chromium.wait_for_stats(Duration::from_secs(20), |s| s.state == "live")?;
    ensure!(
        live.is_some_and(|s| s.state == "live"),
        "the viewer of {name} never went live"
    );
    std::thread::sleep(warm_up);
    Ok(chromium)
}

/// Listen to the page in `chromium` (opened with `probe=1`) while `during` runs the window of
/// `duration` on it (sleeping through it, polling, recording), and measure the window.
pub fn listen<T>(
    chromium: &mut Chromium,
    duration: Duration,
    during: impl FnOnce(&mut Chromium, Duration) -> anyhow::Result<T>,
) -> anyhow::Result<Listening<T>> {
    // The counters of a window come from figures made inside it: the page shows what the
    // audio worker last posted, and a concealment just before the window, posted a tick
    // later, would otherwise count in it.
    let from_unix_ms = unix_ms();
    let first = report_made_after(chromium, from_unix_ms)?;
    let started = Instant::now();
    let during = during(chromium, duration)?;
    let to_unix_ms = unix_ms();
    let last = report_made_after(chromium, to_unix_ms)?;
    let elapsed = match (first.audio.reported_unix_ms, last.audio.reported_unix_ms) {
        (Some(from), Some(to)) => Duration::from_secs_f64(((to - from) / 1000.0).max(0.0)),
        _ => started.elapsed(),
    };
    let probe = chromium.evaluate("window.viewer.syncProbe()")?;
    // Every value kept in place (an unknown one, NaN, comes back as null): the lists align.
    let times = |kind: &str| -> Vec<f64> {
        probe[kind]
            .as_array()
            .map(|values| {
                let time = |value: &Value| value.as_f64().unwrap_or(f64::NAN);
                values.iter().map(time).collect()
            })
            .unwrap_or_default()
    };
    let within = |at: &f64| (from_unix_ms..=to_unix_ms).contains(at);
    let flashes: Vec<av_sync::Flash> = times("flashes")
        .into_iter()
        .zip(times("flashCaptures"))
        .map(|(painted, captured)| av_sync::Flash { painted, captured })
        .filter(|flash| within(&flash.painted))
        .collect();
    let beeps: Vec<f64> = times("beeps").into_iter().filter(within).collect();
    let stalls = last.audio.stalls.iter().copied();
    let stalls = stalls
        .filter(|stall| within(&stall.ended_unix_ms))
        .collect();
    Ok(Listening {
        stalls,
        grown: Grown::between(&first.audio, &last.audio, elapsed),
        sync: av_sync::measure(&flashes, &beeps),
        last,
        during,
    })
}

/// The viewer's stats once its audio figures were made at or after `unix_ms` (at once for a
/// viewer that does not say when they were made).
fn report_made_after(chromium: &mut Chromium, unix_ms: f64) -> anyhow::Result<Report> {
    let fresh = |report: &Report| {
        report
            .audio
            .reported_unix_ms
            .is_none_or(|made| made >= unix_ms)
    };
    let report = chromium.wait_for_stats(Duration::from_secs(5), fresh)?;
    let report = report.context("no viewer")?;
    ensure!(
        fresh(&report),
        "the audio figures stopped coming (the last made at {:?}, wanted after {unix_ms})",
        report.audio.reported_unix_ms
    );
    Ok(report)
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_counts_what_grew_in_it() {
        let first = AudioReport {
            sample_rate: Some(48_000),
            frames_played: 480_000,
            concealed_ms: 30.0,
            concealments: 2,
            jumps: 1,
            ..AudioReport::default()
        };
        let last = AudioReport {
            frames_played: 480_000 + 19 * 48_000,
            concealed_ms: 45.0,
            concealments: 3,
            jumps: 1,
            ..first.clone()
        };
        let grown = Grown::between(&first, &last, Duration::from_secs(20));
        assert_eq!(
            (grown.concealed_ms, grown.concealments, grown.jumps),
            (15.0, 1, 0)
        );
        assert_eq!(grown.played_share(), 0.95);
        assert_eq!(grown.concealed_percent(), 0.075);
        assert_eq!(grown.per_minute(grown.concealments), 3.0);
    }
}
