//! The sound part of `cargo xtask bench`: audio end-to-end latency and A/V skew measured from the
//! media (the test source's beeps and flashes, noted by the viewer's sync probe), underruns per
//! minute, and the video latency with sound against the same stream without it.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::Value;
use viewer_wasm::telemetry::Report;

use crate::av_sync::{self, percentile};
use crate::chromium::Chromium;
use crate::live::Stack;

const WINDOW: Duration = Duration::from_secs(30);
const WARM_UP: Duration = Duration::from_secs(4);
/// Video with sound may be this much slower than without.
const VIDEO_RATIO_LIMIT: f64 = 1.10;

/// One viewer watching one broadcast for [`WINDOW`].
struct Watched {
    video_p50: f64,
    video_p95: f64,
    last: Report,
    first: Report,
    elapsed: Duration,
    probe: Value,
}

fn watch(stack: &mut Stack, name: &str, publisher_args: &[&str]) -> anyhow::Result<Watched> {
    stack.publish(name, publisher_args)?;
    let mut chromium = Chromium::launch()?;
    chromium.navigate(&format!("{}&probe=1", stack.page_url(name)))?;
    let live = chromium.wait_for_stats(Duration::from_secs(20), |s| s.state == "live")?;
    ensure!(
        live.is_some_and(|s| s.state == "live"),
        "the viewer of {name} never went live"
    );
    std::thread::sleep(WARM_UP);
    let first = chromium.viewer_stats()?.context("no stats")?;
    let started = Instant::now();
    let (mut p50s, mut p95s) = (Vec::new(), Vec::new());
    while started.elapsed() < WINDOW {
        std::thread::sleep(Duration::from_secs(1));
        let stats = chromium.viewer_stats()?.context("no stats")?;
        p50s.extend(stats.latency_ms.p50);
        p95s.extend(stats.latency_ms.p95);
    }
    let last = chromium.viewer_stats()?.context("no stats")?;
    let probe = chromium.evaluate("window.viewer.syncProbe()")?;
    stack.check_alive()?;
    Ok(Watched {
        video_p50: percentile(&p50s, 50.0).context("no video latency")?,
        video_p95: percentile(&p95s, 50.0).context("no video latency")?,
        last,
        first,
        elapsed: started.elapsed(),
        probe,
    })
}

/// Measure on `stack` (its publishers are stopped first: one stream at a time).
pub fn run(stack: &mut Stack) -> anyhow::Result<()> {
    stack.stop_publishers();
    let silent = watch(
        stack,
        "bench-video-only",
        &["--source", "test", "--no-audio"],
    )?;
    stack.stop_publishers();
    let av = watch(stack, "bench-av", &["--source", "test"])?;
    stack.stop_publishers();

    let onsets = |kind: &str| -> Vec<f64> {
        av.probe[kind]
            .as_array()
            .map(|values| values.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let sync = av_sync::measure(&onsets("flashes"), &onsets("beeps"));
    let (start, end) = (&av.first.audio, &av.last.audio);
    let minutes = av.elapsed.as_secs_f64() / 60.0;
    let underruns = (end.underruns as f64 - start.underruns as f64) / minutes;
    let played = (end.frames_played as f64 - start.frames_played as f64)
        / f64::from(end.sample_rate.unwrap_or(0)).max(1.0)
        / av.elapsed.as_secs_f64();
    let abs_skews: Vec<f64> = sync.skews_ms.iter().map(|s| s.abs()).collect();
    let ms = |value: Option<f64>| value.map(|v| format!("{v:.1} ms"));

    println!(
        "\nSound (Opus 48 kHz stereo, 10 ms packets; {:.0} s with sound, then the same without):\n",
        WINDOW.as_secs_f64()
    );
    println!("| measure | value | target |");
    println!("|---|---|---|");
    row(
        "audio latency p50, beep captured → heard",
        ms(percentile(&sync.audio_latency_ms, 50.0)),
        "",
    );
    row(
        "audio latency p95",
        ms(percentile(&sync.audio_latency_ms, 95.0)),
        "",
    );
    row(
        "video latency p50 / p95, flash captured → painted",
        Some(format!(
            "{} / {}",
            fmt(percentile(&sync.video_latency_ms, 50.0)),
            fmt(percentile(&sync.video_latency_ms, 95.0))
        )),
        "",
    );
    row(
        "A/V skew p50, beep heard − flash painted",
        ms(percentile(&sync.skews_ms, 50.0)),
        "≤ 20 ms",
    );
    row("A/V skew |p95|", ms(percentile(&abs_skews, 95.0)), "");
    row(
        "flash/beep pairs",
        Some(sync.skews_ms.len().to_string()),
        "",
    );
    row("underruns per minute", Some(format!("{underruns:.1}")), "");
    row(
        "audio played / wall time",
        Some(format!("{:.1} %", played * 100.0)),
        "≥ 95 %",
    );
    row(
        "viewer: audio target / arrival p95 / buffered",
        Some(format!(
            "{} / {} / {}",
            fmt(end.target_ms),
            fmt(end.arrival_ms.p95),
            fmt(end.buffered_ms)
        )),
        "",
    );
    row(
        "video latency p50 with sound / without",
        Some(format!(
            "{:.1} / {:.1} ms ({:.2}×)",
            av.video_p50,
            silent.video_p50,
            av.video_p50 / silent.video_p50
        )),
        &format!("≤ {VIDEO_RATIO_LIMIT:.2}×"),
    );
    row(
        "video latency p95 with sound / without",
        Some(format!(
            "{:.1} / {:.1} ms ({:.2}×)",
            av.video_p95,
            silent.video_p95,
            av.video_p95 / silent.video_p95
        )),
        &format!("≤ {VIDEO_RATIO_LIMIT:.2}×"),
    );
    Ok(())
}

fn fmt(value: Option<f64>) -> String {
    value.map_or("n/a".into(), |v| format!("{v:.1} ms"))
}

fn row(name: &str, value: Option<String>, target: &str) {
    println!(
        "| {name} | {} | {target} |",
        value.unwrap_or_else(|| "n/a".into())
    );
}
