//! The sound part of `cargo xtask bench`, one row per load — none, and the heavy (full-size)
//! screencast of the smoothness table recording the page, from its start — over a minute
//! each: audio end-to-end latency and A/V skew measured from the media (the test source's
//! beeps and flashes, noted by the viewer's sync probe), time concealed and concealment
//! events, jumps (steps in the audio clock); then the video latency with sound against the same
//! stream without it.

use std::time::{Duration, Instant};

use anyhow::Context;
use viewer_wasm::audio::schedule::SETTLE_MS;

use crate::av_sync::percentile;
use crate::chromium::{Chromium, Recorder};
use crate::listening::{self, Listening};
use crate::live::Stack;
use crate::page::Page;

const WINDOW: Duration = Duration::from_secs(60);
/// From the page going live to the window: past the playout's start (its `SETTLE_MS`).
const WARM_UP: Duration = Duration::from_millis(SETTLE_MS as u64 + 1_000);
/// Video with sound may be this much slower than without.
const VIDEO_RATIO_LIMIT: f64 = 1.10;
/// Issue 10's targets, unloaded and under the screencast load (the skew as the sound test
/// judges it: `e2e_audio::SKEW_MS`).
const UNLOADED_TARGET: &str =
    "concealed ≤ 0.1 %, ≤ 1 concealment per min, audio p50 ≤ 80 ms, skew 0–75 ms";
const LOADED_TARGET: &str = "concealed ≤ 1 %, no jumps, skew 0–75 ms";

/// Measure on `stack` (its publishers are stopped first: one stream at a time).
pub fn run(stack: &mut Stack) -> anyhow::Result<()> {
    stack.stop_publishers();
    let mut chromium = listening::open_probed(
        stack,
        "bench-video-only",
        &["--source", "test", "--no-audio"],
        WARM_UP,
    )?;
    let silent = video_latency(&mut chromium, WINDOW)?;
    drop(chromium);
    stack.stop_publishers();

    let mut chromium = listening::open_probed(stack, "bench-av", &["--source", "test"], WARM_UP)?;
    let unloaded = listening::listen(&mut chromium, WINDOW, video_latency)?;
    let loaded = listening::listen(&mut chromium, WINDOW, |chromium, window| {
        let mut frames = 0_u32;
        chromium.screencast(Recorder::Heavy, window, |_| {
            frames += 1;
            Ok(())
        })?;
        Ok(f64::from(frames) / window.as_secs_f64())
    })?;
    stack.check_alive()?;
    drop(chromium);
    stack.stop_publishers();

    println!(
        "\nSound (Opus 48 kHz stereo, 10 ms packets; {:.0} s per row, one page: unloaded, then \
         recorded):\n",
        WINDOW.as_secs_f64()
    );
    println!(
        "| load | audio latency p50 / p95 | video latency p50 (flash painted) | A/V skew p50 / abs p95 (pairs) | skew without frame sampling p50 / viewer skewMs | concealed | concealments per min | jumps per min | played | viewer target / arrival p95 / buffered | target |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    sound_row("none", &unloaded, UNLOADED_TARGET);
    sound_row(
        &format!(
            "{} screencast, {:.1} frames/s",
            Recorder::Heavy.as_str(),
            loaded.during
        ),
        &loaded,
        LOADED_TARGET,
    );

    let (with, without) = (unloaded.during, silent);
    println!("\n| measure | value | target |");
    println!("|---|---|---|");
    for (name, with, without) in [
        ("video latency p50 with sound / without", with.0, without.0),
        ("video latency p95 with sound / without", with.1, without.1),
    ] {
        println!(
            "| {name} | {with:.1} / {without:.1} ms ({:.2}×) | ≤ {VIDEO_RATIO_LIMIT:.2}× |",
            with / without
        );
    }
    Ok(())
}

/// The viewer's video latency polled every second for `window`: the medians of its p50 and
/// p95.
fn video_latency(chromium: &mut Chromium, window: Duration) -> anyhow::Result<(f64, f64)> {
    let started = Instant::now();
    let (mut p50s, mut p95s) = (Vec::new(), Vec::new());
    while started.elapsed() < window {
        std::thread::sleep(Duration::from_secs(1));
        let stats = chromium.viewer_stats()?.context("no stats")?;
        p50s.extend(stats.latency_ms.p50);
        p95s.extend(stats.latency_ms.p95);
    }
    Ok((
        percentile(&p50s, 50.0).context("no video latency")?,
        percentile(&p95s, 50.0).context("no video latency")?,
    ))
}

/// One row of the sound table.
fn sound_row<T>(load: &str, heard: &Listening<T>, target: &str) {
    let (sync, grown, audio) = (&heard.sync, heard.grown, &heard.last.audio);
    let abs_skews: Vec<f64> = sync.skews_ms.iter().map(|s| s.abs()).collect();
    let ms = |value: Option<f64>| value.map_or("n/a".into(), |v| format!("{v:.1} ms"));
    println!(
        "| {load} | {} / {} | {} | {} / {} ({}) | {} / {} | {:.3} % ({:.0} ms) | {:.1} | {:.1} | {:.1} % | {} / {} / {} | {target} |",
        ms(percentile(&sync.audio_latency_ms, 50.0)),
        ms(percentile(&sync.audio_latency_ms, 95.0)),
        ms(percentile(&sync.video_latency_ms, 50.0)),
        ms(percentile(&sync.skews_ms, 50.0)),
        ms(percentile(&abs_skews, 95.0)),
        sync.skews_ms.len(),
        ms(percentile(&sync.pipeline_skews_ms, 50.0)),
        ms(audio.skew_ms),
        grown.concealed_percent(),
        grown.concealed_ms,
        grown.per_minute(grown.concealments),
        grown.per_minute(grown.jumps),
        grown.played_share() * 100.0,
        ms(audio.target_ms),
        ms(audio.arrival_ms.p95),
        ms(audio.buffered_ms),
    );
}
