//! The live path with real parts: our relay in-process, the publisher binary driving real ffmpeg
//! (`--source test`), and a native MoQ subscriber reading the broadcast back.

mod support;

use std::time::Duration;

use anyhow::Context;

use support::{Publisher, start_relay};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_subscriber_receives_live_h264_with_a_keyframe_at_every_group_start()
-> anyhow::Result<()> {
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let _publisher = Publisher::start(&["--name", "live", "--url", &url, "--source", "test"])?;

    let origin = moq_tokio::origin::spawn();
    let mut connect = moq_tokio::connect::Config::default();
    connect.url = Some(url.parse()?);
    let client = connect
        .init(moq_tokio::quic::Config::default())?
        .with_subscriber(origin.clone());
    let connection = tokio::time::timeout(
        Duration::from_secs(10),
        client.connect(url.parse::<url::Url>()?).established(),
    )
    .await
    .context("connecting timed out")??;

    let consumer = origin.consume();
    let mut announced = consumer.announced();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let update = announced.next().await.context("announcements ended")?;
            if update.prefix.as_str() == "live" && update.kind.is_active() {
                return anyhow::Ok(());
            }
        }
    })
    .await
    .context("the broadcast was never announced")??;
    let broadcast = consumer.request_broadcast("live").await?;

    let catalog = read_catalog(&broadcast).await?;
    let (track_name, video) = catalog
        .video
        .renditions
        .iter()
        .next()
        .context("the catalog has no video rendition")?;
    assert!(
        video.codec.to_string().starts_with("avc1."),
        "codec {}",
        video.codec
    );
    assert_eq!(
        (video.coded_width, video.coded_height),
        (Some(1280), Some(720))
    );
    let clock = catalog
        .clock
        .context("the catalog must carry the broadcast clock")?;
    assert!(clock.wall.value() > 0);

    let mut track = broadcast.track(track_name)?.subscribe(None).await?;
    let mut frames = 0usize;
    let mut groups = 0usize;
    let mut last_timestamp = None;
    tokio::time::timeout(Duration::from_secs(30), async {
        while frames < 120 {
            let mut group = track.recv_group().await?.context("the track ended")?;
            groups += 1;
            let mut first = true;
            loop {
                let frame = match group.read_frame().await {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    // At the live edge a group superseded by a newer one ends this way.
                    Err(moq_net::Error::Old) => break,
                    Err(err) => return Err(err.into()),
                };
                let frame = hang::container::Frame::decode(frame.payload)?;
                if frame.payload.is_empty() {
                    continue; // the end-of-group marker
                }
                let micros = frame.timestamp.as_micros();
                if let Some(last) = last_timestamp {
                    assert!(
                        micros > last,
                        "timestamps must increase: {last} then {micros}"
                    );
                }
                last_timestamp = Some(micros);
                assert_eq!(
                    first,
                    has_idr(&frame.payload),
                    "group {groups}: keyframe exactly at the group start"
                );
                first = false;
                frames += 1;
            }
        }
        anyhow::Ok(())
    })
    .await
    .with_context(|| format!("only {frames} frames arrived"))??;
    assert!(frames >= 120);
    drop(connection);
    Ok(())
}

async fn read_catalog(broadcast: &moq_net::broadcast::Consumer) -> anyhow::Result<hang::Catalog> {
    let mut track = broadcast
        .track(hang::Catalog::DEFAULT_NAME)?
        .subscribe(None)
        .await?;
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut group = track.recv_group().await?.context("no catalog group")?;
        let frame = group.read_frame().await?.context("empty catalog group")?;
        Ok(hang::Catalog::from_slice(&frame.payload)?)
    })
    .await
    .context("no catalog within 20 s")?
}

/// Whether an AVCC (4-byte length-prefixed) access unit holds an IDR slice.
fn has_idr(mut data: &[u8]) -> bool {
    while data.len() > 4 {
        let len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if data[4] & 0x1f == 5 {
            return true;
        }
        data = &data[(4 + len).min(data.len())..];
    }
    false
}
