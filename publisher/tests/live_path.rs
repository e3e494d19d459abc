//! The live path with real parts: our relay in-process, the publisher binary driving real ffmpeg,
//! and a native MoQ subscriber reading the broadcast back.

mod support;

use std::time::Duration;

use support::{Publisher, Xvfb, receive, start_relay};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_source_arrives_as_live_h264_with_a_keyframe_at_every_group_start()
-> anyhow::Result<()> {
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let _publisher = Publisher::start(&["--name", "live", "--url", &url, "--source", "test"])?;

    let received = receive(&url, "live", 150).await?;
    assert!(received.frames >= 150);
    assert!(
        received.groups >= 2,
        "a 2 s GOP gives a second group within 150 frames"
    );
    let video = received.video();
    assert!(
        video.codec.to_string().starts_with("avc1."),
        "codec {}",
        video.codec
    );
    assert_eq!(
        (video.coded_width, video.coded_height),
        (Some(1280), Some(720))
    );
    let clock = received
        .catalog
        .clock
        .expect("the catalog carries the broadcast clock");
    assert!(clock.wall.value() > 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screen_source_captures_an_x11_display() -> anyhow::Result<()> {
    let display = Xvfb::start(1024, 768)?;
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let _publisher = Publisher::start(&[
        "--name",
        "desk",
        "--url",
        &url,
        "--source",
        "screen",
        "--display",
        display.name(),
    ])?;

    let received =
        tokio::time::timeout(Duration::from_secs(40), receive(&url, "desk", 60)).await??;
    let video = received.video();
    // 1024x768 fitted into 1280x720, aspect kept.
    assert_eq!(
        (video.coded_width, video.coded_height),
        (Some(960), Some(720))
    );
    Ok(())
}
