//! Browser tests beyond Chromium with WebTransport: the relay's page in Firefox ESR (driven
//! through WebDriver BiDi) by default (WebTransport from Firefox 155, whose WebTransport
//! negotiates moq-lite's version; a WebSocket before) and over a forced WebSocket, in WebKit (WebKitGTK, which
//! has no WebTransport, over WebDriver) and in a Chromium whose WebTransport is taken away
//! before the page loads — each shows the picture and plays the sound, with its latency and
//! transport in the stats.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

use crate::chromium::{Chromium, json};
use crate::firefox::Firefox;
use crate::live::{Output, Stack};
use crate::page::Page;
use crate::webkit::WebKit;

/// How long the page may take to show its first frames and start its sound.
const START: Duration = Duration::from_secs(30);
/// The window watched once it plays.
const WINDOW: Duration = Duration::from_secs(10);
/// Frames shown per second the window must reach (the test source runs at 60; the canvas sink
/// of a browser without `MediaStreamTrackGenerator` on this 2-core machine shows fewer).
const MIN_FPS: f64 = 20.0;
/// The latency the window must stay under, ms (p95, the viewer's own figure).
const MAX_LATENCY_MS: f64 = 250.0;

/// The first Firefox whose WebTransport negotiates a protocol, which moq-lite's version is
/// chosen by; before it, the viewer takes the WebSocket.
const FIREFOX_WITH_PROTOCOLS: u32 = 155;

pub fn firefox_plays_over_the_transport_its_version_allows() -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    stack.publish("fox", &["--source", "test"])?;
    let mut firefox = Firefox::launch()?;
    firefox.navigate(&stack.page_url("fox"))?;
    let transport = match firefox.major_version >= FIREFOX_WITH_PROTOCOLS {
        true => "webtransport",
        false => "websocket",
    };
    let browser = format!("Firefox {}", firefox.major_version);
    watch(&mut firefox, &mut stack, &browser, transport)
}

pub fn firefox_plays_over_a_websocket() -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    stack.publish("fox-ws", &["--source", "test"])?;
    let mut firefox = Firefox::launch()?;
    firefox.navigate(&format!("{}&transport=ws", stack.page_url("fox-ws")))?;
    watch(&mut firefox, &mut stack, "Firefox", "websocket")
}

pub fn chromium_without_webtransport_plays_over_a_websocket() -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    stack.publish("nowt", &["--source", "test"])?;
    let mut chromium = Chromium::launch()?;
    chromium.before_each_document("delete globalThis.WebTransport;")?;
    chromium.navigate(&stack.page_url("nowt"))?;
    watch(
        &mut chromium,
        &mut stack,
        "Chromium without WebTransport",
        "websocket",
    )
}

pub fn webkit_plays_over_a_websocket() -> anyhow::Result<()> {
    let mut stack = Stack::start(None, Output::Logs)?;
    stack.publish("kit", &["--source", "test"])?;
    let mut webkit = WebKit::launch()?;
    webkit.navigate(&stack.page_url("kit"))?;
    watch(&mut webkit, &mut stack, "WebKit", "websocket")
}

/// The page in `browser` plays over `transport`: picture and sound start, then a window of
/// frames shown, latency and sound played.
fn watch(
    page: &mut impl Page,
    stack: &mut Stack,
    browser: &str,
    transport: &str,
) -> anyhow::Result<()> {
    let playing = page.wait_for_stats(START, |s| {
        s.state == "live" && s.counters.rendered > 30 && s.audio.state == "playing"
    })?;
    let playing =
        playing.with_context(|| format!("{browser}: the page never created its viewer"))?;
    ensure!(
        playing.state == "live" && playing.counters.rendered > 30,
        "{browser} shows no picture: {}",
        json(&playing)
    );
    ensure!(
        playing.audio.state == "playing",
        "{browser} plays no sound: {}",
        json(&playing.audio)
    );
    ensure!(
        playing.transport.as_deref() == Some(transport),
        "{browser} is not on {transport}: {}",
        json(&playing)
    );
    let started = Instant::now();
    std::thread::sleep(WINDOW);
    let last = page.viewer_stats()?.context("no viewer")?;
    stack.check_alive()?;
    let fps = (last.counters.rendered - playing.counters.rendered) as f64
        / started.elapsed().as_secs_f64();
    let latency = last.latency_ms.p95.unwrap_or(f64::NAN);
    ensure!(
        fps >= MIN_FPS,
        "{fps:.1} frames shown per second in {browser}: {}",
        json(&last)
    );
    ensure!(
        latency <= MAX_LATENCY_MS,
        "latency p95 {latency:.0} ms in {browser}: {}",
        json(&last)
    );
    let grown = last.audio.frames_played - playing.audio.frames_played;
    let rate = f64::from(last.audio.sample_rate.unwrap_or(48_000));
    let played_s = grown as f64 / rate;
    ensure!(
        played_s >= WINDOW.as_secs_f64() * 0.9,
        "{played_s:.1} s of sound played in {WINDOW:?} in {browser}: {}",
        json(&last.audio)
    );
    println!(
        "  {browser} over {transport}: {fps:.1} frames/s, latency p50 {:.0} / p95 {latency:.0} \
         ms, sound {:.1} s in {:.1} s ({} ring on the {} thread), audio latency p50 {:.0} ms",
        last.latency_ms.p50.unwrap_or(f64::NAN),
        played_s,
        started.elapsed().as_secs_f64(),
        last.audio.transport.as_deref().unwrap_or("?"),
        last.audio.thread.as_deref().unwrap_or("?"),
        last.audio.latency_ms.p50.unwrap_or(f64::NAN),
    );
    Ok(())
}
