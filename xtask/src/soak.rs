//! `cargo xtask soak --minutes N` (not in CI): the live path left running — release relay and
//! publisher (test source with sound), the viewer in headless Chromium — and sampled every
//! 30 s: publisher and relay memory and CPU, the page's JS heap and wasm memory, frames shown,
//! drops, video latency, A/V skew from the media and concealed sound. It prints the samples and,
//! per memory figure, where it started and ended and its slope, and fails if one is still
//! growing after the warm-up.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::av_sync::percentile;
use crate::chromium::Chromium;
use crate::live::{Output, Stack};
use crate::page::Page;
use crate::{build_web, listening, procstat};

/// How often the soak samples.
const SAMPLE: Duration = Duration::from_secs(30);
/// Playback before the first sample.
const WARM_UP: Duration = Duration::from_secs(10);
/// At most this many sample rows are printed (evenly spread, the last always).
const ROWS: usize = 16;
/// A memory figure is still growing if the median of its last third is more than this much above
/// that of its middle third (the first third is warm-up: caches fill, and wasm memory, which
/// never shrinks, reaches its high-water mark): relative …
const STEADY_RATIO: f64 = 1.05;
/// … plus this much, MB (allocators settle in steps).
const STEADY_SLACK_MB: f64 = 1.0;

/// One sample: the figures of the `SAMPLE` before `minute`.
#[derive(Debug, Clone, Default)]
struct Sample {
    minute: f64,
    publisher_rss_mb: f64,
    publisher_cpu: f64,
    ffmpeg_cpu: f64,
    relay_rss_mb: f64,
    relay_cpu: f64,
    js_heap_mb: f64,
    wasm_mb: f64,
    shown_per_s: f64,
    dropped: u64,
    video_p50_ms: Option<f64>,
    skew_p50_ms: Option<f64>,
    concealed_percent: f64,
    concealments: u64,
    jumps: u64,
}

pub fn run(minutes: u64) -> anyhow::Result<()> {
    build_web::build_web(true)?;
    crate::live::build_binaries()?;
    let mut stack = Stack::start(None, Output::Logs)?;
    let mut chromium = listening::open_probed(&mut stack, "soak", &["--source", "test"], WARM_UP)?;
    let publisher = *stack
        .publisher_pids()
        .first()
        .context("no publisher running")?;
    let relay = stack.relay_pid();
    println!("soak: {minutes} min, a sample every {} s", SAMPLE.as_secs());

    let started = Instant::now();
    let mut samples = Vec::new();
    let mut before = chromium.viewer_stats()?.context("no viewer")?;
    while started.elapsed() < Duration::from_secs(minutes * 60) {
        let cpu_before = CpuTimes::of(publisher, relay);
        let heard = listening::listen(&mut chromium, SAMPLE, |_, window| {
            std::thread::sleep(window);
            Ok(())
        })?;
        stack.check_alive()?;
        let cpu = CpuTimes::of(publisher, relay).percent_since(&cpu_before, SAMPLE);
        let after = heard.last;
        let sample = Sample {
            minute: started.elapsed().as_secs_f64() / 60.0,
            publisher_rss_mb: mb(procstat::rss(publisher)),
            publisher_cpu: cpu.publisher,
            ffmpeg_cpu: cpu.ffmpeg,
            relay_rss_mb: mb(procstat::rss(relay)),
            relay_cpu: cpu.relay,
            js_heap_mb: js_heap_mb(&mut chromium)?,
            wasm_mb: wasm_mb(&mut chromium)?,
            shown_per_s: after
                .counters
                .rendered
                .saturating_sub(before.counters.rendered) as f64
                / SAMPLE.as_secs_f64(),
            dropped: after
                .counters
                .dropped
                .saturating_sub(before.counters.dropped),
            video_p50_ms: after.latency_ms.p50,
            skew_p50_ms: percentile(&heard.sync.skews_ms, 50.0),
            concealed_percent: heard.grown.concealed_percent(),
            concealments: heard.grown.concealments,
            jumps: heard.grown.jumps,
        };
        println!(
            "soak: {:.1} min: publisher {:.1} MB {:.1} % CPU, {:.1} fps shown, skew {} ms",
            sample.minute,
            sample.publisher_rss_mb,
            sample.publisher_cpu,
            sample.shown_per_s,
            sample
                .skew_p50_ms
                .map_or("–".to_string(), |skew| format!("{skew:.0}"))
        );
        samples.push(sample);
        before = after;
    }
    drop(chromium);
    stack.stop_publishers();
    print_samples(&samples);
    let grown = print_growth(&samples);
    if !grown.is_empty() {
        bail!("memory grew over the soak: {}", grown.join(", "));
    }
    Ok(())
}

/// CPU time so far of the publisher, its ffmpeg children and the relay.
struct CpuTimes {
    publisher: Option<Duration>,
    /// Per ffmpeg child: a restarted child is counted from when it is first seen.
    ffmpeg: Vec<(u32, Duration)>,
    relay: Option<Duration>,
}

/// CPU use over a window, % of one core.
struct CpuPercent {
    publisher: f64,
    ffmpeg: f64,
    relay: f64,
}

impl CpuTimes {
    fn of(publisher: u32, relay: u32) -> Self {
        Self {
            publisher: procstat::cpu_time(publisher),
            ffmpeg: procstat::children(publisher)
                .into_iter()
                .filter_map(|child| Some((child, procstat::cpu_time(child)?)))
                .collect(),
            relay: procstat::cpu_time(relay),
        }
    }

    fn percent_since(&self, earlier: &Self, window: Duration) -> CpuPercent {
        let percent = |used: Duration| used.as_secs_f64() / window.as_secs_f64() * 100.0;
        let grown = |now: Option<Duration>, then: Option<Duration>| match (now, then) {
            (Some(now), Some(then)) => percent(now.saturating_sub(then)),
            _ => 0.0,
        };
        let ffmpeg = self
            .ffmpeg
            .iter()
            .map(|(child, now)| {
                let then = earlier
                    .ffmpeg
                    .iter()
                    .find(|(earlier, _)| earlier == child)
                    .map_or(Duration::ZERO, |(_, then)| *then);
                percent(now.saturating_sub(then))
            })
            .sum();
        CpuPercent {
            publisher: grown(self.publisher, earlier.publisher),
            ffmpeg,
            relay: grown(self.relay, earlier.relay),
        }
    }
}

fn mb(bytes: Option<u64>) -> f64 {
    bytes.unwrap_or(0) as f64 / 1e6
}

/// The page's JS heap in use (V8's own count, precise).
fn js_heap_mb(chromium: &mut Chromium) -> anyhow::Result<f64> {
    let usage = chromium.call("Runtime.getHeapUsage", json!({}))?;
    Ok(usage["usedSize"].as_f64().unwrap_or(0.0) / 1e6)
}

/// The viewer's wasm memory (it only grows: a leak in Rust shows here). Initialising the
/// already initialised module returns its exports.
fn wasm_mb(chromium: &mut Chromium) -> anyhow::Result<f64> {
    let bytes = chromium.evaluate(
        "import('/pkg/viewer.js').then((module) => module.default()).then((wasm) => \
         wasm.memory.buffer.byteLength)",
    )?;
    Ok(bytes.as_f64().unwrap_or(0.0) / 1e6)
}

fn print_samples(samples: &[Sample]) {
    println!(
        "\n| minute | publisher RSS / CPU | ffmpeg CPU | relay RSS / CPU | page JS heap / wasm | \
         shown/s | dropped | video p50 | A/V skew p50 | concealed | concealments | jumps |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let every = samples.len().div_ceil(ROWS).max(1);
    let last = samples.len().saturating_sub(1);
    for (index, s) in samples.iter().enumerate() {
        if index % every != 0 && index != last {
            continue;
        }
        let ms = |value: Option<f64>| value.map_or("–".to_string(), |v| format!("{v:.0} ms"));
        println!(
            "| {:.1} | {:.1} MB / {:.1} % | {:.1} % | {:.1} MB / {:.1} % | {:.1} / {:.1} MB | \
             {:.1} | {} | {} | {} | {:.3} % | {} | {} |",
            s.minute,
            s.publisher_rss_mb,
            s.publisher_cpu,
            s.ffmpeg_cpu,
            s.relay_rss_mb,
            s.relay_cpu,
            s.js_heap_mb,
            s.wasm_mb,
            s.shown_per_s,
            s.dropped,
            ms(s.video_p50_ms),
            ms(s.skew_p50_ms),
            s.concealed_percent,
            s.concealments,
            s.jumps
        );
    }
}

/// Print where each memory figure started and ended; the names of those that grew.
fn print_growth(samples: &[Sample]) -> Vec<String> {
    type Figure = fn(&Sample) -> f64;
    let series: [(&str, Figure); 4] = [
        ("publisher RSS", |s| s.publisher_rss_mb),
        ("relay RSS", |s| s.relay_rss_mb),
        ("page JS heap", |s| s.js_heap_mb),
        ("viewer wasm memory", |s| s.wasm_mb),
    ];
    println!("\n| memory | first third (median) | middle third | last third | slope | verdict |");
    println!("|---|---|---|---|---|---|");
    let mut grown = Vec::new();
    for (name, value) in series {
        let points: Vec<(f64, f64)> = samples.iter().map(|s| (s.minute, value(s))).collect();
        let Some(growth) = Growth::of(&points) else {
            continue;
        };
        let verdict = if growth.steady() { "steady" } else { "GROWS" };
        println!(
            "| {name} | {:.1} MB | {:.1} MB | {:+.1} MB/h | {verdict} |",
            growth.first, growth.last, growth.mb_per_hour
        );
        if !growth.steady() {
            grown.push(format!(
                "{name} {:.1} → {:.1} MB",
                growth.first, growth.last
            ));
        }
    }
    grown
}

/// How a memory figure moved over a run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Growth {
    /// Median of the first third of the samples, MB.
    first: f64,
    /// Median of the middle third, MB.
    middle: f64,
    /// Median of the last third, MB.
    last: f64,
    /// Least-squares slope over all samples, MB per hour.
    mb_per_hour: f64,
}

impl Growth {
    /// From (minute, MB) points; `None` with fewer than three.
    fn of(points: &[(f64, f64)]) -> Option<Self> {
        if points.len() < 3 {
            return None;
        }
        let third = points.len() / 3;
        let values = |part: &[(f64, f64)]| part.iter().map(|p| p.1).collect::<Vec<_>>();
        let first = percentile(&values(&points[..third]), 50.0)?;
        let middle = percentile(&values(&points[third..points.len() - third]), 50.0)?;
        let last = percentile(&values(&points[points.len() - third..]), 50.0)?;
        let n = points.len() as f64;
        let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
        let covariance: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
        let variance: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
        let per_minute = if variance > 0.0 {
            covariance / variance
        } else {
            0.0
        };
        Some(Self {
            first,
            middle,
            last,
            mb_per_hour: per_minute * 60.0,
        })
    }

    /// Whether the last third stays within the allowance of the middle one.
    fn steady(&self) -> bool {
        self.last <= self.middle * STEADY_RATIO + STEADY_SLACK_MB
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(minutes: usize, value: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        (1..=minutes * 2)
            .map(|half| {
                let minute = half as f64 / 2.0;
                (minute, value(minute))
            })
            .collect()
    }

    #[test]
    fn a_flat_figure_with_noise_and_a_settling_step_is_steady() {
        // 40 MB, ±0.8 MB of noise, one step of 1.5 MB at minute 5 (a cache filling).
        let points = series(30, |minute| {
            40.0 + if minute > 5.0 { 1.5 } else { 0.0 } + (minute * 7.0).sin() * 0.8
        });
        let growth = Growth::of(&points).unwrap();
        assert!(growth.steady(), "{growth:?}");
    }

    #[test]
    fn memory_that_grows_to_a_high_water_mark_and_stays_is_steady() {
        // Wasm memory never shrinks: 25 MB growing to 37 MB by minute 14, then flat.
        let points = series(30, |minute| 25.0 + 12.0 * (minute / 14.0).min(1.0));
        let growth = Growth::of(&points).unwrap();
        assert!(growth.steady(), "{growth:?}");
    }

    #[test]
    fn a_leak_is_caught_and_its_slope_measured() {
        // 0.5 MB a minute: 15 MB over 30 minutes.
        let points = series(30, |minute| 40.0 + 0.5 * minute);
        let growth = Growth::of(&points).unwrap();
        assert!(!growth.steady(), "{growth:?}");
        assert!((growth.mb_per_hour - 30.0).abs() < 1e-6, "{growth:?}");
    }

    #[test]
    fn too_few_samples_say_nothing() {
        assert_eq!(Growth::of(&[(0.5, 1.0), (1.0, 2.0)]), None);
    }
}
