//! Browser tests across a network: the live path watched through the user-space impairment
//! proxy ([`mod@crate::netem`]) on the relay's QUIC port, with one of its named profiles. On a link
//! slower than the main rendition the viewer steps down to the light one and stays near live;
//! after an outage it is back near live within 3 s, on the same page.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

use crate::av_sync::percentile;
use crate::chromium::{Chromium, json};
use crate::live::{Output, Stack};
use crate::netem::{profile, proxy::Proxy};
use crate::page::Page;

/// How long the viewer may take to step down once it plays: the 2 s, after the
/// player's join grace (2.5 s) and the first group's backlog.
const STEP_DOWN_WITHIN: Duration = Duration::from_secs(8);
/// What a person sees on the light rendition: it runs at 30 fps.
const MIN_FPS_LIGHT: f64 = 25.0;
/// The viewer's latency on the congested link (25 ms each way), ms: the upstream player's p95
/// there is 180–197 ms.
const CONGESTED_P95_MS: f64 = 200.0;
/// After the outage ends, within this long the latency is back …
const RECOVERY: Duration = Duration::from_secs(3);
/// … to within this much of where it was before, ms.
const RECOVERED_WITHIN_MS: f64 = 100.0;

/// A stack publishing `name` from the test source, a proxy with `profile` in front of its
/// QUIC port (running `seconds` from now), and a Chromium watching through it, live.
fn watch_through(
    name: &str,
    profile: &str,
    seconds: u64,
) -> anyhow::Result<(Stack, Proxy, Chromium, Instant)> {
    let mut stack = Stack::start(None, Output::Logs)?;
    stack.publish(name, &["--source", "test"])?;
    let quic: SocketAddr = format!("127.0.0.1:{}", stack.ports().quic).parse()?;
    let conditions = profile::named(profile).context("profile")?;
    let started = Instant::now();
    let proxy = Proxy::start(
        "127.0.0.1:0".parse()?,
        quic,
        conditions,
        1,
        Duration::from_secs(seconds),
    )?;
    let mut chromium = Chromium::launch()?;
    chromium.navigate(&stack.page_url_through(name, proxy.address.port()))?;
    let live = chromium.wait_for_stats(Duration::from_secs(30), |s| {
        s.state == "live" && s.counters.rendered > 0
    })?;
    ensure!(
        live.as_ref().is_some_and(|s| s.state == "live"),
        "the viewer never played through the {profile} proxy: {}",
        live.map_or("no viewer".into(), |s| json(&s))
    );
    Ok((stack, proxy, chromium, started))
}

pub fn a_link_too_slow_for_the_main_rendition_steps_down_and_stays_near_live() -> anyhow::Result<()>
{
    let (mut stack, proxy, mut chromium, _) = watch_through("slow", "congested", 60)?;
    let playing = Instant::now();
    let stepped = chromium.wait_for_stats(STEP_DOWN_WITHIN, |s| s.rendition == Some(1))?;
    let stepped = stepped.context("no viewer")?;
    ensure!(
        stepped.rendition == Some(1),
        "still on the main rendition {STEP_DOWN_WITHIN:?} after playing on a 3 Mb/s link: {}",
        json(&stepped)
    );
    let stepped_after = playing.elapsed();
    // Settled on the light rendition: a window of what a person sees.
    let window = Duration::from_secs(10);
    let first = chromium.viewer_stats()?.context("no viewer")?;
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < window {
        std::thread::sleep(Duration::from_millis(500));
        let stats = chromium.viewer_stats()?.context("no viewer")?;
        latencies.extend(stats.latency_ms.last);
    }
    let last = chromium.viewer_stats()?.context("no viewer")?;
    stack.check_alive()?;
    let report = proxy.finish();
    let fps =
        (last.counters.rendered - first.counters.rendered) as f64 / started.elapsed().as_secs_f64();
    let p50 = percentile(&latencies, 50.0).unwrap_or(f64::NAN);
    let p95 = last.latency_ms.p95.unwrap_or(f64::NAN);
    ensure!(
        last.rendition == Some(1) && last.switches == first.switches,
        "the rendition moved on a steady link: {} then {}",
        json(&first),
        json(&last)
    );
    ensure!(
        fps >= MIN_FPS_LIGHT,
        "{fps:.1} frames shown per second on the light rendition: {}",
        json(&last)
    );
    ensure!(
        p95 <= CONGESTED_P95_MS,
        "latency p95 {p95:.0} ms (> {CONGESTED_P95_MS} ms) on the light rendition: {}",
        json(&last)
    );
    println!(
        "  stepped down {:.1} s after playing; then {fps:.1} frames/s, latency p50 {p50:.0} ms, \
         p95 {p95:.0} ms; relay's estimate {}; proxy down: {}",
        stepped_after.as_secs_f64(),
        last.bandwidth_kbps
            .map_or("none".into(), |kbps| format!("{:.1} Mb/s", kbps / 1000.0)),
        report.down
    );
    Ok(())
}

pub fn after_an_outage_the_viewer_is_back_near_live_within_three_seconds() -> anyhow::Result<()> {
    // The `outage` profile takes the link down 3 s from 10 s after the proxy starts.
    let (outage_from, outage_to) = (Duration::from_secs(10), Duration::from_secs(13));
    let (mut stack, proxy, mut chromium, started) = watch_through("roam", "outage", 40)?;
    let latency_now = |chromium: &mut Chromium| -> anyhow::Result<Option<f64>> {
        Ok(chromium
            .viewer_stats()?
            .context("no viewer")?
            .latency_ms
            .last)
    };
    let mut before = Vec::new();
    while started.elapsed() + Duration::from_millis(500) < outage_from {
        std::thread::sleep(Duration::from_millis(250));
        before.extend(latency_now(&mut chromium)?);
    }
    ensure!(
        before.len() >= 4,
        "too little played before the outage: {before:?}"
    );
    // Two seconds in, the page says the link delivers nothing (the picture stays).
    std::thread::sleep((outage_from + Duration::from_secs(2)).saturating_sub(started.elapsed()));
    let during = chromium.viewer_stats()?.context("no viewer")?;
    ensure!(
        during.no_data_ms.is_some_and(|ms| ms >= 1_000.0),
        "2 s into the outage the page does not say that no data comes: {}",
        json(&during)
    );
    std::thread::sleep((outage_to + RECOVERY).saturating_sub(started.elapsed()));
    let first = chromium.viewer_stats()?.context("no viewer")?;
    let mut after = Vec::new();
    for _ in 0..8 {
        std::thread::sleep(Duration::from_millis(250));
        after.extend(latency_now(&mut chromium)?);
    }
    let last = chromium.viewer_stats()?.context("no viewer")?;
    stack.check_alive()?;
    let report = proxy.finish();
    let (before_p50, after_max) = (
        percentile(&before, 50.0).unwrap_or(f64::NAN),
        after.iter().copied().fold(f64::NAN, f64::max),
    );
    ensure!(
        last.state == "live" && last.counters.rendered > first.counters.rendered + 30,
        "not playing {RECOVERY:?} after the outage: {} then {}",
        json(&first),
        json(&last)
    );
    ensure!(
        after_max <= before_p50 + RECOVERED_WITHIN_MS,
        "latency {after:?} ms from {RECOVERY:?} after the outage, {before_p50:.0} ms before it"
    );
    println!(
        "  latency p50 {before_p50:.0} ms before the 3 s outage, at most {after_max:.0} ms from \
         {} s after it; {} switches; proxy down: {}",
        RECOVERY.as_secs(),
        last.switches,
        report.down
    );
    Ok(())
}
