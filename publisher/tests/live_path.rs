//! The live path with real parts: our relay in-process, the publisher binary driving real ffmpeg,
//! and a native MoQ subscriber reading the broadcast back.

#[allow(dead_code, unused_imports)] // every test file uses its own part of the shared support
mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::{
    Publisher, Xvfb, catalog_where, receive, receive_audio, receive_av, receive_renditions,
    start_relay,
};

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
    // 1024x768 fitted into 1280x720, aspect kept; the light rendition into 640x360.
    assert_eq!(
        (video.coded_width, video.coded_height),
        (Some(960), Some(720))
    );
    let sizes: Vec<_> = received
        .catalog
        .video
        .ranked()
        .map(|(_, v)| (v.coded_width, v.coded_height))
        .collect();
    assert_eq!(
        sizes,
        [(Some(960), Some(720)), (Some(480), Some(360))],
        "{:?}",
        received.catalog
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_light_360p30_rendition_carries_the_main_ones_capture_times_and_a_keyframe_each_second()
-> anyhow::Result<()> {
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let _publisher = Publisher::start(&[
        "--name",
        "ladder",
        "--url",
        &url,
        "--source",
        "test",
        "--no-audio",
    ])?;

    // 4 s of each: enough for a group boundary in both.
    let renditions = receive_renditions(&url, "ladder", &[240, 120]).await?;
    let [
        (main_track, main, main_frames),
        (light_track, light, light_frames),
    ] = &renditions[..]
    else {
        panic!("two renditions");
    };
    assert_ne!(main_track, light_track);
    let size = |v: &hang::catalog::VideoConfig| (v.coded_width, v.coded_height);
    assert_eq!(size(main), (Some(1280), Some(720)));
    assert_eq!(size(light), (Some(640), Some(360)));
    assert!(
        light.codec.to_string().starts_with("avc1."),
        "{}",
        light.codec
    );
    assert!(
        light_frames.len() >= 120 && main_frames.len() >= 240,
        "{} light and {} main frames within 20 s",
        light_frames.len(),
        main_frames.len()
    );

    // Light frames are main frames (the same capture times, one in two), keyframes included.
    // Frames a slow reader lost at a group's end may be missing from either side.
    let main_times: HashMap<u64, bool> = main_frames.iter().copied().collect();
    let (first, last) = (main_frames[0].0, main_frames[main_frames.len() - 1].0);
    let overlap: Vec<(u64, bool)> = light_frames
        .iter()
        .copied()
        .filter(|(t, _)| (first..=last).contains(t))
        .collect();
    let matched: Vec<(u64, bool)> = overlap
        .iter()
        .copied()
        .filter(|(t, _)| main_times.contains_key(t))
        .collect();
    assert!(
        overlap.len() >= 60,
        "{} light frames overlap",
        overlap.len()
    );
    assert!(
        matched.len() * 10 >= overlap.len() * 9,
        "only {} of {} light frames have a main frame's timestamp",
        matched.len(),
        overlap.len()
    );
    // Every main keyframe is a light one too, and the light rendition has one each second,
    // so that a viewer stepping down to it waits a second at most.
    for (t, key) in &matched {
        assert!(
            *key || !main_times[t],
            "a main keyframe the light rendition lacks, at {t} µs"
        );
    }
    assert!(
        matched.iter().any(|(t, _)| main_times[t]),
        "no main keyframe while both were read"
    );
    // Counted in frames (a second is 30 of them), not in media time: a loaded machine's test
    // source runs below 60 fps, which stretches every GOP.
    let light_keys: Vec<usize> = light_frames
        .iter()
        .enumerate()
        .filter(|(_, (_, key))| *key)
        .map(|(index, _)| index)
        .collect();
    assert!(
        light_keys.len() >= 3 && light_keys.windows(2).all(|w| w[1] - w[0] <= 30),
        "light keyframes not every 30 frames over 120: at {light_keys:?}"
    );
    // One in two: consecutive light frames are two main frames apart (whatever rate the loaded
    // machine runs at).
    let mut main_sorted: Vec<u64> = main_times.keys().copied().collect();
    main_sorted.sort();
    let index = |t: &u64| main_sorted.binary_search(t).ok();
    let gaps: Vec<usize> = matched
        .windows(2)
        .filter_map(|w| Some(index(&w[1].0)? - index(&w[0].0)?))
        .collect();
    let one_in_two = gaps.iter().filter(|gap| **gap == 2).count();
    assert!(
        one_in_two * 10 >= gaps.len() * 9,
        "light frames are not every other main frame: {gaps:?}"
    );

    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_rendition_on_request() -> anyhow::Result<()> {
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let _publisher = Publisher::start(&[
        "--name",
        "single",
        "--url",
        &url,
        "--source",
        "test",
        "--no-audio",
        "--renditions",
        "1",
    ])?;
    let received = receive(&url, "single", 30).await?;
    assert_eq!(
        received.catalog.video.renditions.len(),
        1,
        "{:?}",
        received.catalog
    );
    let video = received.video();
    assert_eq!(
        (video.coded_width, video.coded_height),
        (Some(1280), Some(720))
    );
    Ok(())
}

/// Median of (arrival − timestamp), µs: how far behind the wall clock a track's stamps arrive.
fn median_lag(timed: &[(u64, u64)], base_unix_micros: u64) -> i64 {
    let mut lags: Vec<i64> = timed
        .iter()
        .map(|(ts, at)| *at as i64 - (base_unix_micros + ts) as i64)
        .collect();
    lags.sort();
    lags[lags.len() / 2]
}

/// Steps between consecutive timestamps, in sequence order (groups may land out of order), after
/// the first 20 frames (a subscription joining at the live edge may get a few older groups).
fn steps_ms(timed: &[(u64, u64)]) -> Vec<f64> {
    let mut timed = timed.to_vec();
    timed.sort();
    timed[20.min(timed.len())..]
        .windows(2)
        .map(|w| (w[1].0 as f64 - w[0].0 as f64) / 1000.0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_source_sound_is_contiguous_10_ms_opus_on_the_video_clock() -> anyhow::Result<()> {
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let _publisher = Publisher::start(&["--name", "av", "--url", &url, "--source", "test"])?;

    let received = receive_av(&url, "av", Duration::from_millis(2500)).await?;
    let audio = received.audio_config();
    assert_eq!(audio.codec.to_string(), "opus");
    assert_eq!((audio.sample_rate, audio.channel_count), (48_000, 2));
    assert!(audio.description.is_some(), "OpusHead in the catalog");
    assert!(
        received.audio.len() >= 90,
        "{} audio frames in 2.5 s",
        received.audio.len()
    );
    for step in steps_ms(&received.audio) {
        assert!(
            (9.0..=11.0).contains(&step),
            "10 ms steps: {:?}",
            steps_ms(&received.audio)
        );
    }
    let clock = received
        .catalog
        .clock
        .expect("the catalog carries the clock");
    // The catalog's wall clock counts from the MoQ epoch, 2020-01-01T00:00:00Z.
    let base = clock.wall.as_micros() as u64 + 1_577_836_800_000_000;
    let (audio_lag, video_lag) = (
        median_lag(&received.audio, base),
        median_lag(&received.video, base),
    );
    eprintln!("median stamp→subscriber lag: audio {audio_lag} µs, video {video_lag} µs");
    assert!(
        (audio_lag - video_lag).abs() < 200_000,
        "audio arrives {audio_lag} µs behind its stamps, video {video_lag} µs"
    );
    assert!(
        (0..500_000).contains(&audio_lag),
        "audio stamps are capture times: {audio_lag} µs"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aac_audio_is_mp4a_40_2() -> anyhow::Result<()> {
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let _publisher = Publisher::start(&[
        "--name",
        "aac",
        "--url",
        &url,
        "--source",
        "test",
        "--audio-codec",
        "aac",
    ])?;
    let received = receive_av(&url, "aac", Duration::from_millis(2000)).await?;
    let audio = received.audio_config();
    assert_eq!(audio.codec.to_string(), "mp4a.40.2");
    assert_eq!((audio.sample_rate, audio.channel_count), (48_000, 2));
    assert!(
        received.audio.len() >= 40,
        "{} AAC frames",
        received.audio.len()
    );
    // Every step is whole 1024-sample frames (21.33 ms); a reader that fell a group behind on a
    // busy machine skips frames, so a step may span several, but most are one.
    let frame_ms = 1024.0 / 48.0;
    let steps = steps_ms(&received.audio);
    let frames: Vec<f64> = steps.iter().map(|step| (step / frame_ms).round()).collect();
    for (step, frames) in steps.iter().zip(&frames) {
        assert!(
            *frames >= 1.0 && (step - frames * frame_ms).abs() <= 1.1,
            "steps of 1024 samples: {step} ms"
        );
    }
    let single = frames.iter().filter(|frames| **frames == 1.0).count();
    assert!(single * 10 >= steps.len() * 8, "{steps:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_audio_publishes_no_audio_rendition() -> anyhow::Result<()> {
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let _publisher = Publisher::start(&[
        "--name",
        "mute",
        "--url",
        &url,
        "--source",
        "test",
        "--no-audio",
    ])?;
    let received = receive(&url, "mute", 30).await?;
    assert!(received.catalog.audio.renditions.is_empty());
    // And still none a while later.
    let again = receive(&url, "mute", 30).await?;
    assert!(again.catalog.audio.renditions.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_video_publishes_sound_only() -> anyhow::Result<()> {
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let _publisher = Publisher::start(&[
        "--name",
        "radio",
        "--url",
        &url,
        "--source",
        "test",
        "--no-video",
    ])?;
    let catalog = catalog_where(&url, "radio", |c| !c.audio.renditions.is_empty()).await?;
    assert!(catalog.video.renditions.is_empty(), "{catalog:?}");
    let audio = receive_audio(&url, "radio", Duration::from_millis(1500)).await?;
    assert!(audio.len() >= 50, "{} sound frames in 1.5 s", audio.len());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_plays_when_the_audio_cannot_start() -> anyhow::Result<()> {
    // A file with no audio stream: the audio ffmpeg fails at once, the video must not care.
    let dir = std::env::temp_dir().join(format!("silent-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("silent.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc2=size=320x240:rate=30:duration=2")
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&file)
        .status()?;
    assert!(made.success());
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let source = file.to_string_lossy().into_owned();
    let _publisher = Publisher::start(&["--name", "silent", "--url", &url, "--source", &source])?;
    let received = receive(&url, "silent", 90).await;
    let _ = std::fs::remove_dir_all(&dir);
    let received = received?;
    assert!(received.frames >= 90);
    assert!(received.catalog.audio.renditions.is_empty());
    Ok(())
}
