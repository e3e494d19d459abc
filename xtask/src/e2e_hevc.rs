//! Browser test for a codec the browser cannot decode: an HEVC broadcast (libx265 from the
//! Windows ffmpeg 9.0 under Wine, see [`crate::wine::hevc_capable_ffmpeg`]: Debian's ffmpeg 5.1
//! writes no HEVC into FLV) opened in Debian's Chromium, which has no HEVC decoder. The viewer
//! must say so — the rendition, its codec and that this browser cannot decode it — rather than
//! show a black canvas or fail without a reason: as its error when the broadcast is only that
//! picture, and beside the sound it plays when the broadcast has sound too. And when the
//! publisher sends the picture in H.264 as well (`--codec hevc,h264`), the viewer plays that.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

use crate::chromium::{Chromium, json};
use crate::live::{Output, Stack};
use crate::page::Page;
use crate::temp_dir::TempDir;
use crate::wine;

/// The HEVC picture, small and slow enough for libx265 under Wine on two cores.
const HEVC: [&str; 10] = [
    "--source",
    "test",
    "--codec",
    "hevc",
    "--renditions",
    "1",
    "--size",
    "640x360",
    "--fps",
    "30",
];

pub fn a_browser_without_hevc() -> anyhow::Result<()> {
    let dir = TempDir::new("hevc-ffmpeg")?;
    let (ffmpeg, prefix) = wine::hevc_capable_ffmpeg(dir.path())?;
    let ffmpeg = ffmpeg.to_string_lossy().into_owned();
    let result = (|| {
        let mut stack = Stack::start(None, Output::Logs)?;
        let picture_only = stack.publish(
            "hevc",
            &[&HEVC[..], &["--no-audio", "--ffmpeg", &ffmpeg]].concat(),
        )?;
        let mut chromium = Chromium::launch()?;
        chromium.navigate(&stack.page_url("hevc"))?;
        let stats = chromium.wait_for_stats(Duration::from_secs(60), |s| s.error.is_some())?;
        stack.check_alive()?;
        let stats = stats.context("no viewer")?;
        let why = stats.error.as_deref().unwrap_or_default();
        ensure!(
            stats.state == "error" && says_hevc_is_undecodable(why),
            "the viewer should say this browser cannot decode the HEVC rendition: {}",
            json(&stats)
        );
        ensure!(
            stats.counters.rendered == 0,
            "nothing can have been shown: {}",
            json(&stats)
        );
        // The page shows it too: its status line is redrawn from the stats.
        let shown = status_line_saying(&mut chromium, "this browser cannot decode it")?;
        ensure!(
            says_hevc_is_undecodable(&shown),
            "the page's status line should say why: {shown:?}"
        );
        println!("  picture only, the page says: {shown}");
        stack.stop_publisher(picture_only);

        stack.publish("hevc-sound", &[&HEVC[..], &["--ffmpeg", &ffmpeg]].concat())?;
        chromium.navigate(&stack.page_url("hevc-sound"))?;
        sound_plays_and_the_missing_picture_is_explained(&mut chromium)?;
        stack.stop_publishers();

        let both = stack.publish(
            "hevc-h264",
            &[
                "--source",
                "test",
                "--codec",
                "hevc,h264",
                "--size",
                "640x360",
                "--fps",
                "30",
                "--ffmpeg",
                &ffmpeg,
            ],
        )?;
        chromium.navigate(&stack.page_url("hevc-h264"))?;
        the_h264_copy_plays(&mut chromium)?;
        let log = stack.log_of(both).context("the publisher's log")?;
        let started = crate::live::wait_for_log_line(log, "publishing", 1, Duration::from_secs(1))?;
        ensure!(
            started.contains("HEVC + H.264") && started.contains("libx265"),
            "the publisher should say it sends HEVC and H.264: {started}"
        );
        let status =
            crate::live::wait_for_log_line(log, "libx265 + libx264]", 1, Duration::from_secs(30))?;
        ensure!(
            status.contains("  H.264 ") && !status.contains("H.264 stalled"),
            "the status line should show the H.264 copy's frames: {status}"
        );
        println!("  the publisher says: {started}\n  and: {status}");
        stack.check_alive()
    })();
    // ffmpeg.exe and anything else left in the Wine prefix.
    let _ = Command::new("wineserver")
        .arg("-k")
        .env("WINEPREFIX", &prefix)
        .status();
    result
}

/// With sound as well, the viewer plays the sound, stays live, and says why there is no
/// picture; the publisher's catalog updates (its bitrate figures) do not restart the sound.
fn sound_plays_and_the_missing_picture_is_explained(chromium: &mut Chromium) -> anyhow::Result<()> {
    let stats = chromium
        .wait_for_stats(Duration::from_secs(60), |s| {
            s.audio.state == "playing" && s.audio.frames_played > 48_000
        })?
        .context("no viewer")?;
    ensure!(
        stats.audio.state == "playing",
        "the sound should play: {}",
        json(&stats)
    );
    let why = stats.video_error.as_deref().unwrap_or_default();
    ensure!(
        stats.counters.rendered == 0,
        "nothing can have been shown: {}",
        json(&stats)
    );
    ensure!(
        stats.state == "live" && stats.error.is_none() && says_hevc_is_undecodable(why),
        "the viewer should be live and say why there is no picture: {}",
        json(&stats)
    );
    let shown = status_line_saying(chromium, "no picture")?;
    ensure!(
        shown.contains("Live") && shown.contains("no picture") && shown.contains("hvc1"),
        "the page's status line should say why there is no picture: {shown:?}"
    );
    println!("  with sound, the page says: {shown}");
    // A restarted playback starts its sound over ("starting", figures reset): watch for one.
    let start = stats.audio.frames_played;
    let mut last = start;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(250));
        let stats = chromium.viewer_stats()?.context("the viewer went away")?;
        ensure!(
            stats.audio.state == "playing" && stats.audio.frames_played >= last,
            "the sound should keep playing, not restart: {}",
            json(&stats)
        );
        last = stats.audio.frames_played;
    }
    ensure!(
        last - start > 48_000 * 8,
        "the sound should play on: {} frames in 10 s",
        last - start
    );
    println!("  sound played on: {} frames in 10 s", last - start);
    Ok(())
}

/// With the picture in HEVC and in H.264, a browser without HEVC plays the H.264 one, and its
/// sound.
fn the_h264_copy_plays(chromium: &mut Chromium) -> anyhow::Result<()> {
    let stats = chromium
        .wait_for_stats(Duration::from_secs(60), |s| {
            s.counters.rendered >= 90 && s.audio.state == "playing"
        })?
        .context("no viewer")?;
    ensure!(
        stats.state == "live"
            && stats.error.is_none()
            && stats.video_error.is_none()
            && stats
                .codec
                .as_deref()
                .is_some_and(|codec| codec.starts_with("avc1"))
            && stats.counters.rendered >= 90
            && stats.audio.state == "playing",
        "the H.264 rendition and the sound should play: {}",
        json(&stats)
    );
    println!(
        "  HEVC + H.264: the page plays {} at {}x{}, {} frames shown",
        stats.codec.as_deref().unwrap_or_default(),
        stats.width.unwrap_or_default(),
        stats.height.unwrap_or_default(),
        stats.counters.rendered
    );
    Ok(())
}

/// Whether `text` names the HEVC rendition and says this browser cannot decode it.
fn says_hevc_is_undecodable(text: &str) -> bool {
    text.contains("hvc1") && text.contains("this browser cannot decode it")
}

/// The page's status line once it contains `needle` (or after 10 s, whatever it says).
fn status_line_saying(chromium: &mut Chromium, needle: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let shown = chromium.evaluate("document.getElementById('state').textContent")?;
        let shown = shown.as_str().unwrap_or_default().to_string();
        if shown.contains(needle) || Instant::now() > deadline {
            return Ok(shown);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
