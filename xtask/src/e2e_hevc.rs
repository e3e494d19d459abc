//! Browser test for a codec the browser cannot decode: an HEVC-only broadcast (libx265 from the
//! Windows ffmpeg 9.0 under Wine, see [`crate::wine::hevc_capable_ffmpeg`]: Debian's ffmpeg 5.1
//! writes no HEVC into FLV) opened in Debian's Chromium, which has no HEVC decoder. The viewer
//! must say so — the rendition, its codec and that this browser cannot decode it — rather than
//! show a black canvas or fail without a reason.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

use crate::chromium::{Chromium, json};
use crate::live::{Output, Stack};
use crate::temp_dir::TempDir;
use crate::wine;

pub fn hevc_the_browser_cannot_decode_is_explained() -> anyhow::Result<()> {
    let dir = TempDir::new("hevc-ffmpeg")?;
    let (ffmpeg, prefix) = wine::hevc_capable_ffmpeg(dir.path())?;
    let ffmpeg = ffmpeg.to_string_lossy().into_owned();
    let result = (|| {
        let mut stack = Stack::start(None, Output::Logs)?;
        stack.publish(
            "hevc",
            &[
                "--source",
                "test",
                "--codec",
                "hevc",
                "--no-audio",
                "--renditions",
                "1",
                "--size",
                "640x360",
                "--fps",
                "30",
                "--ffmpeg",
                &ffmpeg,
            ],
        )?;
        let mut chromium = Chromium::launch()?;
        chromium.navigate(&stack.page_url("hevc"))?;
        let stats = chromium.wait_for_stats(Duration::from_secs(60), |s| s.error.is_some())?;
        stack.check_alive()?;
        let stats = stats.context("no viewer")?;
        let why = stats.error.as_deref().unwrap_or_default();
        ensure!(
            stats.state == "error"
                && why.contains("hvc1")
                && why.contains("this browser cannot decode it"),
            "the viewer should say this browser cannot decode the HEVC rendition: {}",
            json(&stats)
        );
        ensure!(
            stats.counters.rendered == 0,
            "nothing can have been shown: {}",
            json(&stats)
        );
        // The page shows it too: its status line is redrawn from the stats.
        let deadline = Instant::now() + Duration::from_secs(10);
        let shown = loop {
            let shown = chromium.evaluate("document.getElementById('state').textContent")?;
            let shown = shown.as_str().unwrap_or_default().to_string();
            if shown.contains("this browser cannot decode it") || Instant::now() > deadline {
                break shown;
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        ensure!(
            shown.contains("hvc1") && shown.contains("this browser cannot decode it"),
            "the page's status line should say why: {shown:?}"
        );
        println!("  the page says: {shown}");
        Ok(())
    })();
    // ffmpeg.exe and anything else left in the Wine prefix.
    let _ = Command::new("wineserver")
        .arg("-k")
        .env("WINEPREFIX", &prefix)
        .status();
    result
}
