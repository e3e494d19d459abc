//! The live path across networks: the relay, a test-source publisher, and for each named
//! profile ([`crate::netem::profile`]) a fresh Chromium watching through the impairment proxy
//! on the relay's QUIC port. One row per profile: what a person sees (glass-to-glass latency
//! from the pixel clock in screencast frames, frames shown per second, the longest freeze), what
//! the viewer did (rendition, switches, its own latency figures) and what the proxy did.
//! `cargo xtask bench-network [PROFILE…]`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use crate::chromium::{Chromium, Recorder};
use crate::glass;
use crate::live::{Mode, Output, Ports, Relay, Stack};
use crate::netem::profile::{self, Side};
use crate::netem::proxy::Proxy;
use crate::netem::tcp::Forward;
use crate::page::Page;

/// How long each profile is watched: past the `drop` profile's recovery (25 s) and the
/// `outage` profile's outage (10–13 s).
const WINDOW: Duration = Duration::from_secs(32);
/// How long the first frames may take after the viewer goes live.
const WARM_UP: Duration = Duration::from_secs(20);
/// The proxy runs longer than the window, from before the page dials.
const SLACK: Duration = Duration::from_secs(60);

pub fn run(names: &[String], congestion_control: &str) -> anyhow::Result<()> {
    let names: Vec<&str> = match names.is_empty() {
        true => profile::NAMES.to_vec(),
        false => names.iter().map(String::as_str).collect(),
    };
    for name in &names {
        anyhow::ensure!(
            profile::named(name).is_some(),
            "no network profile {name:?}: one of {}",
            profile::NAMES.join(", ")
        );
    }
    crate::live::build_binaries()?;
    crate::build_web::build_web(true)?;
    let controller = match congestion_control {
        "loss" => "loss",
        _ => "delay",
    };
    let relay = Relay::new(Mode::Local, Ports::free()?).congestion_control(controller);
    let mut stack = Stack::with_relay(relay, Output::Logs)?;
    stack.publish("net", &["--source", "test"])?;
    let quic: SocketAddr = format!("127.0.0.1:{}", stack.ports().quic).parse()?;
    println!(
        "\nAcross networks (test source, 2 renditions; {} s each, the profile's clock starting as \
         the page opens; the relay's congestion control: {controller}):\n",
        WINDOW.as_secs()
    );
    println!(
        "| profile | glass p50 / p95 | frames shown/s | longest freeze | rendition at end | switches | viewer latency p50 / p95 | relay's estimate | proxy (the narrow side) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for name in names {
        let profile = profile::named(name).context("profile")?;
        let side = profile.side;
        let proxy = Proxy::start("127.0.0.1:0".parse()?, quic, profile, 1, WINDOW + SLACK)?;
        let port = proxy.address.port();
        let (row, narrow) = match side {
            Side::Viewer => (watch(&stack, "net", Some(port)), proxy.finish().down),
            // The publisher's uplink: a second publisher through the proxy (its fingerprint
            // fetch over TCP on the same port number), watched straight from the relay.
            Side::Publisher => {
                let fetch = Forward::start(
                    format!("127.0.0.1:{port}").parse()?,
                    format!("127.0.0.1:{}", stack.ports().quic).parse()?,
                    WINDOW + SLACK,
                )?;
                let url = format!("http://127.0.0.1:{port}/anon");
                let pid = stack.publish_to(&url, "net-up", &["--source", "test"])?;
                let row = watch(&stack, "net-up", None);
                stack.stop_publisher(pid);
                fetch.finish();
                (row, proxy.finish().up)
            }
        };
        let proxy = format!(
            "{} lost, {} queue drops, queue {:.0} ms",
            narrow.lost + narrow.outage,
            narrow.queue_drops,
            narrow.mean_queue_delay().as_secs_f64() * 1000.0
        );
        match row {
            Ok(row) => println!("| {name} | {row} | {proxy} |"),
            Err(err) => println!("| {name} | failed: {err:#} | | | | | | | {proxy} |"),
        }
    }
    Ok(())
}

/// One profile's row (without its name and proxy columns), watching `name` through the
/// proxy on `port`, or straight from the relay.
fn watch(stack: &Stack, name: &str, port: Option<u16>) -> anyhow::Result<String> {
    let mut chromium = Chromium::launch()?;
    let page = match port {
        Some(port) => stack.page_url_through(name, port),
        None => stack.page_url(name),
    };
    chromium.navigate(&page)?;
    let live = chromium.wait_for_stats(Duration::from_secs(30), |s| s.state == "live")?;
    anyhow::ensure!(
        live.is_some_and(|s| s.state == "live"),
        "the viewer never went live"
    );
    // The picture first (the recorder finds the video by its size).
    let painted = chromium.wait_for_stats(WARM_UP, |s| s.counters.rendered >= 30)?;
    anyhow::ensure!(
        painted.is_some_and(|s| s.counters.rendered >= 30),
        "no picture within {WARM_UP:?} of going live"
    );
    let recording = glass::record(&mut chromium, Recorder::Light, WINDOW)?;
    let stats = chromium.viewer_stats()?.context("no stats")?;
    let summary = glass::summarize(&recording.samples, WINDOW);
    let ms = |v: f64| format!("{v:.0} ms");
    let glass = |f: fn(&glass::Summary) -> f64| summary.as_ref().map_or("n/a".into(), |s| ms(f(s)));
    Ok(format!(
        "{} / {} | {} | {} | {} | {} | {} / {} | {}",
        glass(|s| s.p50),
        glass(|s| s.p95),
        summary
            .as_ref()
            .map_or("0".into(), |s| format!("{:.1}", s.fps_shown)),
        glass(|s| s.longest_freeze),
        match (stats.width, stats.height) {
            (Some(width), Some(height)) => format!("{width}×{height}"),
            _ => "n/a".into(),
        },
        stats.switches,
        stats.latency_ms.p50.map_or("n/a".into(), ms),
        stats.latency_ms.p95.map_or("n/a".into(), ms),
        stats
            .bandwidth_kbps
            .map_or("n/a".into(), |kbps| format!("{:.1} Mb/s", kbps / 1000.0)),
    ))
}
