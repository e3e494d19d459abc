//! The Windows publisher, for real as far as this Linux machine allows: `publisher.exe` (the
//! `x86_64-pc-windows-gnu` build) under Wine drives a Windows `ffmpeg.exe` capturing Wine's
//! desktop on Xvfb, through our relay on loopback, read back by the native subscriber.
//!
//! Wine has no Desktop Duplication (no D3D11 device) and no GPU encoders: the publisher must
//! say that `ddagrab` failed and fall back to `gdigrab` + libx264, which is the fallback chain
//! Windows machines without DDA (remote sessions, VMs) take. Wine 8 also lacks
//! `bcryptprimitives.dll` (Rust's random source); the setup puts a small stand-in beside the
//! exe. Ignored by `cargo test`: `cargo xtask wine` builds and fetches what it needs (the
//! Windows build, an `ffmpeg.exe` from the imageio-ffmpeg win_amd64 wheel on PyPI, a Wine
//! prefix), then runs it with these variables set:
//! - `WINE_PUBLISHER`: publisher.exe (with the stand-in DLL beside it),
//! - `WINE_FFMPEG`: ffmpeg.exe,
//! - `WINEPREFIX`: the Wine prefix to run in (its processes are ended at the end).

#[allow(dead_code, unused_imports)] // every test file uses its own part of the shared support
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use support::{Xvfb, receive, start_relay};

/// The Windows publisher under Wine, and every line it printed; ended (with everything else
/// running in its Wine prefix, ffmpeg.exe included) when dropped.
struct WinePublisher {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl WinePublisher {
    fn start(display: &str, url: &str) -> anyhow::Result<Self> {
        let exe =
            std::env::var("WINE_PUBLISHER").context("WINE_PUBLISHER: run `cargo xtask wine`")?;
        let ffmpeg = std::env::var("WINE_FFMPEG").context("WINE_FFMPEG: run `cargo xtask wine`")?;
        std::env::var("WINEPREFIX").context("WINEPREFIX: run `cargo xtask wine`")?;
        let mut child = Command::new("wine")
            .arg(&exe)
            .args(["--name", "wine", "--url", url, "--ffmpeg", &ffmpeg])
            .env("DISPLAY", display)
            .env("WINEDEBUG", "-all")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("running wine (Debian package `wine`)")?;
        let stderr = child.stderr.take().context("stderr piped")?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Ok(Self { child, lines })
    }

    fn printed(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for WinePublisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // ffmpeg.exe is its own process in the prefix: end the prefix's processes.
        let _ = Command::new("wineserver").arg("-k").status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Wine, the Windows build and a Windows ffmpeg.exe: run `cargo xtask wine`"]
async fn the_windows_publisher_under_wine_falls_back_to_gdigrab_and_publishes_the_desktop()
-> anyhow::Result<()> {
    let display = Xvfb::start(1024, 768)?;
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let publisher = WinePublisher::start(display.name(), &url)?;

    // Wine starts each process in ~4 s; the publisher lists sound devices and probes two
    // captures before it publishes.
    let received = tokio::time::timeout(Duration::from_secs(120), receive(&url, "wine", 120)).await;
    let printed = publisher.printed();
    let received = received
        .with_context(|| format!("no 120 frames within 120 s; the publisher said:\n{printed}"))?
        .with_context(|| format!("the publisher said:\n{printed}"))?;
    assert!(received.frames >= 120, "{printed}");

    // Wine's 1024x768 desktop, fitted into 1280x720: the picture is the screen, not a pattern.
    let video = received.video();
    assert_eq!(
        (video.coded_width, video.coded_height),
        (Some(960), Some(720)),
        "{printed}"
    );
    assert!(video.codec.to_string().starts_with("avc1."), "{printed}");

    // The fallback chain, each step said in one line.
    assert!(
        printed.contains("publisher: ddagrab (capture) failed: "),
        "ddagrab should fail under Wine:\n{printed}"
    );
    assert!(
        printed.contains("gdigrab → libx264; "),
        "the startup line names the capture and encoder:\n{printed}"
    );
    // No loopback sound device under Wine: said, and the video goes on without sound.
    assert!(
        printed.contains("publisher: no sound: no device here carries what the desktop plays"),
        "{printed}"
    );
    drop(publisher);

    // The DirectShow listing, read from the real ffmpeg.exe (Wine has no sound devices here).
    let listed = Command::new("wine")
        .arg(std::env::var("WINE_PUBLISHER")?)
        .args(["--list-devices", "--ffmpeg", &std::env::var("WINE_FFMPEG")?])
        .env("WINEDEBUG", "-all")
        .stdin(Stdio::null())
        .output()?;
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{stdout}");
    assert_eq!(stdout.trim(), "no audio capture devices found");
    Ok(())
}
