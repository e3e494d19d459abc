//! `--codec hevc` where no hardware encoder opens (this machine): the publisher falls back to
//! libx265 on the CPU, and a native subscriber reads HEVC back through the relay.
//!
//! HEVC travels in enhanced FLV, which ffmpeg writes from 6.1 on. Debian 12's ffmpeg 5.1 refuses
//! it ("Video codec hevc not compatible with flv"): then the publisher's libx265 probe fails and
//! it sends H.264, which the test checks against that ffmpeg's own refusal. `HEVC_FFMPEG` names
//! another ffmpeg to run (default `ffmpeg`), e.g. a script running the Windows ffmpeg 9.0 that
//! `cargo xtask wine` fetches under Wine: then the broadcast is HEVC.

#[allow(dead_code, unused_imports)] // every test file uses its own part of the shared support
mod support;

use std::process::{Command, Stdio};

use support::{Publisher, receive, start_relay};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hevc_without_hardware_is_libx265_through_the_relay() -> anyhow::Result<()> {
    let ffmpeg = std::env::var("HEVC_FFMPEG").unwrap_or_else(|_| "ffmpeg".into());
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let _publisher = Publisher::start(&[
        "--name",
        "hevc",
        "--url",
        &url,
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
    ])?;

    let received = receive(&url, "hevc", 30).await?;
    assert!(received.frames >= 30, "{} frames", received.frames);
    let codec = received.video().codec.to_string();
    if !(codec.starts_with("hvc1.") || codec.starts_with("hev1.")) {
        assert!(codec.starts_with("avc1."), "codec {codec}");
        let refusal = hevc_in_flv_refusal(&ffmpeg)?;
        assert!(
            refusal.contains("not compatible with flv"),
            "H.264 was sent though {ffmpeg} writes HEVC into FLV: {refusal}"
        );
    }
    Ok(())
}

/// What `ffmpeg` prints when asked to write one libx265 frame into FLV.
fn hevc_in_flv_refusal(ffmpeg: &str) -> anyhow::Result<String> {
    let output = Command::new(ffmpeg)
        .args(["-hide_banner", "-f", "lavfi", "-i", "testsrc2=size=64x64"])
        .args(["-frames:v", "1", "-c:v", "libx265", "-f", "flv", "-"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()?;
    Ok(String::from_utf8_lossy(&output.stderr).into_owned())
}
