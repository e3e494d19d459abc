//! `cargo xtask bench`: the live path for 30 s — release relay and publisher, real ffmpeg, the
//! viewer in headless Chromium — and a table of what it measured against the targets.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use viewer_wasm::telemetry::Report;

use crate::chromium::{Chromium, Recorder};
use crate::live::{Output, Stack};
use crate::page::Page;
use crate::{build_web, glass, procstat};

const WINDOW: Duration = Duration::from_secs(30);
const WARM_UP: Duration = Duration::from_secs(3);
const GLASS_WINDOW: Duration = Duration::from_secs(10);
/// How long a newly throttled viewer gets to settle (step down to the rendition it can play)
/// before its row is recorded: the rows show the steady state; the e2e test and the player's
/// simulator cover the switch itself.
const THROTTLED_SETTLE: Duration = Duration::from_secs(8);

pub fn run() -> anyhow::Result<()> {
    let web = build_web::build_web(true)?;
    crate::live::build_binaries()?;
    let mut stack = Stack::start(None, Output::Logs)?;
    let publisher = stack.publish("bench", &["--source", "test"])?;
    let mut chromium = Chromium::launch()?;
    chromium.navigate(&stack.page_url("bench"))?;
    let live = chromium.wait_for_stats(Duration::from_secs(20), |s| s.state == "live")?;
    ensure!(
        live.is_some_and(|s| s.state == "live"),
        "the viewer never went live"
    );
    std::thread::sleep(WARM_UP);

    let log = stack
        .log_of(publisher)
        .context("publisher log")?
        .to_path_buf();
    let log_start = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let ffmpeg = procstat::children(publisher).first().copied();
    let cpu_start = (
        procstat::cpu_time(publisher),
        ffmpeg.and_then(procstat::cpu_time),
    );
    let first = chromium.viewer_stats()?.context("no stats")?;
    let started = Instant::now();
    let (mut p50s, mut p95s) = (Vec::new(), Vec::new());
    while started.elapsed() < WINDOW {
        std::thread::sleep(Duration::from_secs(1));
        let stats = chromium.viewer_stats()?.context("no stats")?;
        p50s.extend(stats.latency_ms.p50);
        p95s.extend(stats.latency_ms.p95);
    }
    let elapsed = started.elapsed();
    let last = chromium.viewer_stats()?.context("no stats")?;
    let cpu = |start: Option<Duration>, pid: Option<u32>| -> Option<f64> {
        Some((procstat::cpu_time(pid?)? - start?).as_secs_f64() / elapsed.as_secs_f64() * 100.0)
    };
    let publisher_cpu = cpu(cpu_start.0, Some(publisher));
    let ffmpeg_cpu = cpu(cpu_start.1, ffmpeg);
    let rss = procstat::peak_rss(publisher);
    stack.check_alive()?;
    let ingest = ingest_medians(&std::fs::read_to_string(&log)?.as_bytes()[log_start as usize..]);

    let (start, end) = (first.counters, last.counters);
    let rendered = end.rendered as f64 - start.rendered as f64;
    let dropped = end.dropped as f64 - start.dropped as f64;
    let sizes = build_web::web_sizes(&web)?;
    let gzip_total: u64 = sizes.iter().map(|s| s.gzip).sum();

    println!(
        "\nLive path, 720p60 test source, loopback, {:.0} s window:\n",
        elapsed.as_secs_f64()
    );
    println!("| measure | value | target |");
    println!("|---|---|---|");
    row(
        "end-to-end latency p50 (viewer)",
        median(&mut p50s).map(|v| format!("{v:.1} ms")),
        "≤ 25 ms",
    );
    row(
        "end-to-end latency p95 (viewer)",
        median(&mut p95s).map(|v| format!("{v:.1} ms")),
        "≤ 45 ms",
    );
    row(
        "frames rendered / dropped",
        Some(format!("{rendered:.0} / {dropped:.0}")),
        "",
    );
    row(
        "fps rendered",
        Some(format!("{:.1}", rendered / elapsed.as_secs_f64())),
        "60",
    );
    row(
        "ingest latency p50 (capture → read)",
        median(&mut ingest.clone()).map(|v| format!("{v:.1} ms")),
        "",
    );
    row(
        "publisher CPU (beyond ffmpeg)",
        publisher_cpu.map(|v| format!("{v:.1} % of a core")),
        "≤ 2 %",
    );
    row(
        "ffmpeg CPU (capture + x264)",
        ffmpeg_cpu.map(|v| format!("{v:.1} % of a core")),
        "",
    );
    row(
        "publisher peak RSS",
        rss.map(|b| format!("{:.1} MB", b as f64 / 1e6)),
        "≤ 30 MB",
    );
    for size in &sizes {
        row(
            &format!("viewer {} raw / gzip", size.name),
            Some(format!(
                "{:.0} KB / {:.0} KB",
                size.raw as f64 / 1e3,
                size.gzip as f64 / 1e3
            )),
            "",
        );
    }
    row(
        "viewer download (gzip)",
        Some(format!("{:.0} KB", gzip_total as f64 / 1e3)),
        "≤ 600 KB",
    );

    println!(
        "\nGlass to glass and smoothness (pixel clock read from CDP screencast frames, {GLASS_WINDOW:?} each):\n"
    );
    println!(
        "| sink | recorder | CPU throttle | fps shown | received / painted per s | longest freeze | glass p50 | glass p95 | glass max | rendition | viewer latency p50 / p95 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let rows = [
        (Recorder::Light, 1.0),
        (Recorder::Heavy, 1.0),
        (Recorder::Light, 4.0),
        (Recorder::Light, 6.0),
    ];
    // The page's default (a <video> fed by a generated track), then the canvas it falls back
    // to in browsers without one.
    for sink in ["video", "canvas"] {
        chromium.throttle_cpu(1.0)?;
        chromium.navigate(&format!("{}&sink={sink}", stack.page_url("bench")))?;
        let live = chromium.wait_for_stats(Duration::from_secs(20), |s| s.state == "live")?;
        ensure!(
            live.is_some_and(|s| s.state == "live"),
            "the viewer never went live with sink={sink}"
        );
        std::thread::sleep(WARM_UP);
        for (recorder, rate) in rows {
            chromium.throttle_cpu(rate)?;
            std::thread::sleep(if rate > 1.0 {
                THROTTLED_SETTLE
            } else {
                WARM_UP
            });
            smoothness_row(&mut chromium, sink, recorder, rate)?;
        }
    }
    chromium.throttle_cpu(1.0)?;
    stack.check_alive()?;
    drop(chromium);
    crate::bench_audio::run(&mut stack)
}

/// Record the page for [`GLASS_WINDOW`] and print one row of the smoothness table.
fn smoothness_row(
    chromium: &mut Chromium,
    sink: &str,
    recorder: Recorder,
    rate: f64,
) -> anyhow::Result<()> {
    let before = chromium.viewer_stats()?.context("no stats")?;
    let glass::Recording {
        samples, frames, ..
    } = glass::record(chromium, recorder, GLASS_WINDOW)?;
    let viewer = chromium.viewer_stats()?.context("no stats")?;
    // What reached the viewer and what it painted, beside what the recorder saw: on this
    // shared machine the recorder's load can starve the publisher too.
    let per_second = |count: fn(&Report) -> u64| {
        count(&viewer).saturating_sub(count(&before)) as f64 / GLASS_WINDOW.as_secs_f64()
    };
    let flow = format!(
        "{:.1} / {:.1}",
        per_second(|s| s.counters.received),
        per_second(|s| s.counters.rendered)
    );
    let summary = glass::summarize(&samples, GLASS_WINDOW);
    let ms = |v: f64| format!("{v:.0} ms");
    let glass = |f: fn(&glass::Summary) -> f64| summary.as_ref().map_or("n/a".into(), |s| ms(f(s)));
    println!(
        "| {sink} | {} | {rate}× | {} | {flow} | {} | {} | {} | {} | {} | {} / {} |",
        recorder.as_str(),
        summary
            .as_ref()
            .map_or(format!("0 ({frames} composited)"), |s| format!(
                "{:.1}",
                s.fps_shown
            )),
        glass(|s| s.longest_freeze),
        glass(|s| s.p50),
        glass(|s| s.p95),
        glass(|s| s.max),
        rendition(&viewer),
        viewer.latency_ms.p50.map_or("n/a".into(), ms),
        viewer.latency_ms.p95.map_or("n/a".into(), ms),
    );
    Ok(())
}

/// The rendition the viewer plays, as its picture size.
fn rendition(stats: &Report) -> String {
    match (stats.width, stats.height) {
        (Some(width), Some(height)) => format!("{width}×{height}"),
        _ => "n/a".into(),
    }
}

fn row(name: &str, value: Option<String>, target: &str) {
    println!(
        "| {name} | {} | {target} |",
        value.unwrap_or_else(|| "n/a".into())
    );
}

/// The per-report ingest medians the publisher printed (`… ingest 8.0 ms`).
fn ingest_medians(log: &[u8]) -> Vec<f64> {
    String::from_utf8_lossy(log)
        .lines()
        .filter_map(|line| line.split("ingest ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ingest_figures_from_publisher_status_lines() {
        let log = b"publisher: connected\npublisher: live  60.0 fps 4.5 Mb/s 300 frames  ingest 8.5 ms\nnoise\npublisher: live 59.9 fps 4.4 Mb/s 600 frames  ingest 7.0 ms\n";
        assert_eq!(ingest_medians(log), [8.5, 7.0]);
    }

    #[test]
    fn median_of_odd_and_even_and_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0]), Some(4.0));
        assert_eq!(median(&mut []), None);
    }
}
