//! `cargo xtask …`: the workspace's build, demo, test and benchmark commands, written in Rust
//! so they run the same on every machine with nothing but cargo installed.

mod av_sync;
mod bench;
mod bench_audio;
mod bench_network;
mod build_web;
mod chromium;
mod e2e;
mod e2e_audio;
mod e2e_browsers;
mod e2e_crash;
mod e2e_hevc;
mod e2e_network;
mod e2e_remote;
mod e2e_takeover;
mod firefox;
mod glass;
mod http;
mod listening;
mod live;
mod netem;
mod page;
mod picture;
mod pixel_clock;
mod procstat;
mod soak;
mod sockets;
mod temp_dir;
mod webkit;
mod wine;
mod workspace;

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    about = "Workspace tasks: build the web viewer, run the demo, the tests and the benchmark"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the viewer (wasm32 + wasm-bindgen) into target/web/.
    BuildWeb {
        /// Build without size optimisation (faster, much larger).
        #[arg(long)]
        dev: bool,
    },
    /// Build everything, start the relay (QUIC 4443, page 8080) and a publisher, print the URL to
    /// open. Ctrl-C stops all.
    Demo {
        /// What the publisher captures: `test` (synthetic pattern) or `screen` (this X11 desktop).
        #[arg(long, default_value = "test")]
        source: String,
    },
    /// Run every test: unit and integration tests (native), the Windows publisher under Wine,
    /// then the browser end-to-end tests.
    Test,
    /// Run only the browser end-to-end tests (after building the viewer and the binaries).
    E2e {
        /// Run only the tests whose name contains this.
        filter: Option<String>,
    },
    /// Run the Windows publisher's integration test under Wine (cross-builds publisher.exe,
    /// fetches a Windows ffmpeg.exe from PyPI once, then publishes Wine's desktop on Xvfb).
    Wine,
    /// Measure the live path for 30 s (latency, drops, publisher CPU and memory, viewer size)
    /// and print a table against the targets.
    Bench,
    /// Leave the live path running for a while (not part of the tests): sample memory, CPU,
    /// frames shown, A/V skew and concealed sound every 30 s, print them, and fail if memory
    /// grows. Example: `cargo xtask soak --minutes 30`.
    Soak {
        /// How long to run, minutes.
        #[arg(long, default_value_t = 30)]
        minutes: u64,
    },
    /// Watch the live path through each named network profile (all of them when none is
    /// named) and print a table: glass-to-glass latency, frames shown, freezes, renditions.
    /// Example: `cargo xtask bench-network congested wifi`.
    BenchNetwork {
        /// Profiles to run: lan, cable, wifi, lte, congested, drop, outage, uplink.
        profiles: Vec<String>,
        /// The relay's QUIC congestion controller: delay (BBRv3, its default) or loss (CUBIC).
        #[arg(long, default_value = "delay", value_parser = ["delay", "loss"])]
        congestion_control: String,
    },
    /// Put a network between a client and the relay's QUIC port, on loopback: a UDP proxy that
    /// impairs each direction as a named profile says (lan, cable, wifi, lte, congested, drop,
    /// outage, uplink). It stops by itself and prints what it did. Example, with the demo's
    /// relay: `cargo xtask netem --profile wifi --to 127.0.0.1:4443 --listen 127.0.0.1:4444`,
    /// then watch with `&url=https://127.0.0.1:4444/anon` on the page's address.
    Netem {
        /// The conditions: lan, cable, wifi, lte, congested, drop, outage or uplink.
        #[arg(long)]
        profile: String,
        /// The relay's QUIC address (loopback).
        #[arg(long, default_value = "127.0.0.1:4443")]
        to: std::net::SocketAddr,
        /// Where clients connect (loopback; port 0 picks one).
        #[arg(long, default_value = "127.0.0.1:4444")]
        listen: std::net::SocketAddr,
        /// How long to run, seconds.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Seed of the random draws (loss, jitter): the same seed, the same impairment.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::BuildWeb { dev } => {
            let out = build_web::build_web(!dev)?;
            println!("viewer built into {}", out.display());
            Ok(())
        }
        Task::Demo { source } => demo(&source),
        Task::Test => test(),
        Task::E2e { filter } => e2e(filter.as_deref()),
        Task::BenchNetwork {
            profiles,
            congestion_control,
        } => bench_network::run(&profiles, &congestion_control),
        Task::Netem {
            profile,
            to,
            listen,
            seconds,
            seed,
        } => netem(&profile, to, listen, seconds, seed),
        Task::Wine => wine::run(),
        Task::Bench => bench::run(),
        Task::Soak { minutes } => soak::run(minutes),
    }
}

fn demo(source: &str) -> anyhow::Result<()> {
    build_web::build_web(true)?;
    live::build_binaries()?;
    let mut stack = live::Stack::start(Some(live::Ports::DEFAULT), live::Output::Inherit)?;
    stack.publish("screen", &["--source", source])?;
    println!(
        "\n  Watch: http://localhost:{}/?name=screen\n  (Ctrl-C stops the relay and the publisher)\n",
        stack.ports().http
    );
    loop {
        std::thread::sleep(Duration::from_secs(1));
        stack.check_alive()?;
    }
}

fn test() -> anyhow::Result<()> {
    workspace::cargo(&["test", "--workspace"])?;
    // The Windows publisher under Wine: about 10 s once built and fetched.
    wine::run()?;
    e2e(None)
}

fn netem(
    name: &str,
    to: std::net::SocketAddr,
    listen: std::net::SocketAddr,
    seconds: u64,
    seed: u64,
) -> anyhow::Result<()> {
    let profile = netem::profile::named(name).with_context(|| {
        format!(
            "no network profile {name:?}: one of {}",
            netem::profile::NAMES.join(", ")
        )
    })?;
    let duration = Duration::from_secs(seconds);
    let proxy = netem::proxy::Proxy::start(listen, to, profile, seed, duration)?;
    // What a client fetches over TCP where it dials (a publisher's fingerprint) goes through
    // too, unimpaired.
    let fetch = netem::tcp::Forward::start(proxy.address, to, duration)
        .context("forwarding TCP on the proxy's port number")?;
    println!(
        "netem: {name} between {} and {to} for {seconds} s (UDP impaired, TCP forwarded)",
        proxy.address
    );
    print!("{}", proxy.wait());
    fetch.finish();
    Ok(())
}

fn e2e(filter: Option<&str>) -> anyhow::Result<()> {
    build_web::build_web(true)?;
    live::build_binaries()?;
    e2e::run(filter)
}
