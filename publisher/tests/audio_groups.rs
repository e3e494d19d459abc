//! Audio groups through the real relay: the publisher packs about 100 ms of sound into each MoQ
//! group (one QUIC stream per group, not one per 10 ms packet) and still forwards every packet the
//! moment ffmpeg writes it. A native subscriber notes each packet's group, timestamp and arrival
//! time; the tests print frames per group and the packets' stamp → arrival latency.

#[allow(dead_code, unused_imports)] // every test file uses its own part of the shared support
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;

use support::{Publisher, first_catalog, open, start_relay, unix_micros};

/// One test at a time: each runs a publisher, and the latencies they measure should not be those
/// of the others' ffmpegs competing for the CPU.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The catalog's wall clock counts from the MoQ epoch, 2020-01-01T00:00:00Z.
const MOQ_EPOCH_UNIX_MICROS: u64 = 1_577_836_800_000_000;

/// One audio packet as the subscriber saw it.
#[derive(Clone, Copy, Debug)]
struct Packet {
    group: u64,
    /// Its timestamp, µs on the broadcast clock.
    timestamp: u64,
    /// Unix µs when the subscriber read it.
    arrival: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_groups_hold_100_ms_and_every_packet_arrives_as_it_is_encoded() -> anyhow::Result<()> {
    let _one = ONE_AT_A_TIME.lock().await;
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    // With the video, as it is used: the audio must not wait for it either.
    let _publisher = Publisher::start(&["--name", "opus", "--url", &url, "--source", "test"])?;

    let (_connection, broadcast) = open(&url, "opus").await?;
    let catalog = first_catalog(&broadcast, |c| !c.audio.renditions.is_empty()).await?;
    let (track, audio) = catalog.audio.renditions.iter().next().unwrap();
    assert_eq!(audio.codec.to_string(), "opus");
    assert_eq!((audio.sample_rate, audio.channel_count), (48_000, 2));
    assert_eq!(audio.container, hang::catalog::Container::Legacy);
    let head = audio.description.as_deref().unwrap_or_default();
    assert!(head.starts_with(b"OpusHead"), "OpusHead in the catalog");

    let packets = read_packets(&broadcast, track, Duration::from_secs(4)).await?;
    let stats = Stats::new(&packets, base_unix_micros(&catalog)?);
    eprintln!("opus: {stats}");
    assert!(packets.len() >= 300, "{} packets in 4 s", packets.len());
    assert_contiguous(&packets, &[10_000]);
    assert!(
        stats.frames_per_group >= 5.0,
        "whole groups should hold ~10 packets: {stats}"
    );
    // Streamed, not batched: each packet of a group reaches the subscriber as it is encoded, so
    // the first is no later behind its stamp than the last (were a group sent once complete, the
    // first would wait 90 ms longer). A busy machine's stalls delay both alike.
    assert!(
        stats.first_behind_last_ms < 45.0,
        "a group's first packet should not wait for its last: {stats}"
    );
    assert!(
        stats.median_ms < 500.0,
        "packets should arrive as they are encoded: {stats}"
    );
    Ok(())
}

/// What one codec's sound-only broadcast must look like: its catalog entry, how many frames
/// arrive in 3 s, the timestamp step(s) between them and the fewest frames per whole group.
struct Expected {
    codec: &'static str,
    description: Option<&'static [u8]>,
    frames_in_3_s: usize,
    steps_us: &'static [u64],
    frames_per_group: f64,
}

/// Publish the test tone as `codec` alone and check the audio track against `expected`.
async fn grouped_like(codec: &str, expected: Expected) -> anyhow::Result<()> {
    let _one = ONE_AT_A_TIME.lock().await;
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let _publisher = Publisher::start(&[
        "--name",
        codec,
        "--url",
        &url,
        "--source",
        "test",
        "--no-video",
        "--audio-codec",
        codec,
    ])?;

    let (_connection, broadcast) = open(&url, codec).await?;
    let catalog = first_catalog(&broadcast, |c| !c.audio.renditions.is_empty()).await?;
    let (track, audio) = catalog.audio.renditions.iter().next().unwrap();
    assert_eq!(audio.codec.to_string(), expected.codec);
    assert_eq!((audio.sample_rate, audio.channel_count), (48_000, 2));
    assert_eq!(audio.description.as_deref(), expected.description);

    let packets = read_packets(&broadcast, track, Duration::from_secs(3)).await?;
    let stats = Stats::new(&packets, base_unix_micros(&catalog)?);
    eprintln!("{codec}: {stats}");
    assert!(
        packets.len() >= expected.frames_in_3_s,
        "{} frames in 3 s",
        packets.len()
    );
    assert_contiguous(&packets, expected.steps_us);
    assert!(
        stats.frames_per_group >= expected.frames_per_group,
        "whole groups should hold more frames: {stats}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aac_frames_are_grouped_the_same_way() -> anyhow::Result<()> {
    grouped_like(
        "aac",
        Expected {
            codec: "mp4a.40.2",
            description: Some(&[0x11, 0x90]),
            frames_in_3_s: 100,
            // 1024 samples at 48 kHz: 21 333.3 µs, stamped in whole µs.
            steps_us: &[21_333, 21_334],
            // Whole groups hold 5.
            frames_per_group: 4.0,
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ac3_frames_are_grouped_too() -> anyhow::Result<()> {
    grouped_like(
        "ac3",
        Expected {
            codec: "ac-3",
            description: None,
            frames_in_3_s: 70,
            // 1536 samples at 48 kHz.
            steps_us: &[32_000],
            // Whole groups hold 4.
            frames_per_group: 3.0,
        },
    )
    .await
}

#[cfg(target_os = "linux")] // finds the audio ffmpeg in /proc
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_audio_ffmpeg_goes_on_in_the_same_grouped_track() -> anyhow::Result<()> {
    let _one = ONE_AT_A_TIME.lock().await;
    let relay = start_relay().await?;
    let url = format!("http://localhost:{}/anon", relay.quic.port());
    let publisher = Running(
        std::process::Command::new(env!("CARGO_BIN_EXE_publisher"))
            .args(["--name", "again", "--url", &url, "--source", "test"])
            .args(["--no-video"])
            .stdin(std::process::Stdio::null())
            .spawn()?,
    );

    let (_connection, broadcast) = open(&url, "again").await?;
    let catalog = first_catalog(&broadcast, |c| !c.audio.renditions.is_empty()).await?;
    let track = catalog.audio.renditions.keys().next().unwrap().clone();
    let before = read_packets(&broadcast, &track, Duration::from_secs(1)).await?;
    assert!(before.len() >= 50, "{} packets before", before.len());

    let ffmpeg = audio_ffmpeg(publisher.0.id())?;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &ffmpeg.to_string()])
        .status()?;
    assert!(killed.success(), "killing the audio ffmpeg {ffmpeg}");

    // The publisher restarts it after its backoff (under 0.5 s), in the same track: the sound
    // pauses, then goes on after the gap.
    let mut around = read_packets(&broadcast, &track, Duration::from_secs(5)).await?;
    around.sort_by_key(|p| p.timestamp);
    let gap = around
        .windows(2)
        .enumerate()
        .max_by_key(|(_, w)| w[1].timestamp - w[0].timestamp)
        .map(|(i, _)| i + 1)
        .context("no packets around the restart")?;
    let after = &around[gap..];
    let stats = Stats::new(after, base_unix_micros(&catalog)?);
    eprintln!("after the restart: {stats}");
    assert!(after.len() >= 100, "{} packets after", after.len());
    assert_contiguous(after, &[10_000]);
    assert!(stats.frames_per_group >= 5.0, "{stats}");
    let last_before = before.iter().map(|p| p.timestamp).max().unwrap();
    assert!(
        after[0].timestamp > last_before,
        "the track continues the clock: {} µs after {last_before} µs",
        after[0].timestamp
    );
    let now = first_catalog(&broadcast, |_| true).await?;
    assert_eq!(
        now.audio.renditions.keys().collect::<Vec<_>>(),
        [&track],
        "the same rendition, alone"
    );
    Ok(())
}

/// A child process, killed when dropped.
#[cfg(target_os = "linux")]
struct Running(std::process::Child);

#[cfg(target_os = "linux")]
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The pid of the audio ffmpeg among `publisher`'s children.
#[cfg(target_os = "linux")]
fn audio_ffmpeg(publisher: u32) -> anyhow::Result<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{publisher}/task"))?;
    for task in tasks {
        let children = std::fs::read_to_string(task?.path().join("children"))?;
        for child in children.split_whitespace() {
            let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains("anullsrc") {
                return Ok(child.parse()?);
            }
        }
    }
    anyhow::bail!("the publisher {publisher} runs no audio ffmpeg")
}

/// What a run of packets says about grouping and latency.
struct Stats {
    packets: usize,
    /// Packets absent between the first and the last read (the shortest step is one packet).
    missing: usize,
    groups: usize,
    /// Packets per group, over the groups read whole (not the first and last).
    frames_per_group: f64,
    /// Median over whole groups of how much later than their last packet their first arrived,
    /// each against its stamp: about 0 when packets are sent as they come, the group's span when
    /// it is sent complete.
    first_behind_last_ms: f64,
    /// Stamp → subscriber latency of the packets.
    median_ms: f64,
    p95_ms: f64,
    max_ms: f64,
}

impl Stats {
    fn new(packets: &[Packet], base_unix_micros: u64) -> Self {
        let mut groups: BTreeMap<u64, Vec<Packet>> = BTreeMap::new();
        for packet in packets {
            groups.entry(packet.group).or_default().push(*packet);
        }
        let whole: Vec<&Vec<Packet>> = groups
            .values()
            .skip(1)
            .take(groups.len().saturating_sub(2))
            .collect();
        let frames_per_group =
            whole.iter().map(|g| g.len()).sum::<usize>() as f64 / whole.len().max(1) as f64;
        let latency_ms =
            |p: &Packet| (p.arrival as f64 - (base_unix_micros + p.timestamp) as f64) / 1000.0;
        let mut first_behind_last: Vec<f64> = whole
            .iter()
            .map(|g| latency_ms(g.first().unwrap()) - latency_ms(g.last().unwrap()))
            .collect();
        let mut stamps: Vec<u64> = packets.iter().map(|p| p.timestamp).collect();
        stamps.sort();
        let steps: Vec<u64> = stamps.windows(2).map(|w| w[1] - w[0]).collect();
        let missing = steps.iter().min().map_or(0, |&packet| {
            steps
                .iter()
                .map(|&step| {
                    ((step as f64 / packet.max(1) as f64).round() as usize).saturating_sub(1)
                })
                .sum()
        });
        let mut latencies: Vec<f64> = packets.iter().map(latency_ms).collect();
        Self {
            packets: packets.len(),
            missing,
            groups: groups.len(),
            frames_per_group,
            first_behind_last_ms: quantile(&mut first_behind_last, 0.5),
            median_ms: quantile(&mut latencies, 0.5),
            p95_ms: quantile(&mut latencies, 0.95),
            max_ms: quantile(&mut latencies, 1.0),
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} packets ({} missing) in {} groups, {:.1} per whole group (first {:.1} ms behind last); \
             stamp → subscriber latency median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            self.packets,
            self.missing,
            self.groups,
            self.frames_per_group,
            self.first_behind_last_ms,
            self.median_ms,
            self.p95_ms,
            self.max_ms
        )
    }
}

fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q).round() as usize]
}

/// Every packet once, and each the last plus one of `steps` µs.
fn assert_contiguous(packets: &[Packet], steps: &[u64]) {
    let mut stamps: Vec<u64> = packets.iter().map(|p| p.timestamp).collect();
    stamps.sort();
    for pair in stamps.windows(2) {
        let step = pair[1] - pair[0];
        assert!(
            steps.contains(&step),
            "a step of {step} µs between {} and {} (want {steps:?})",
            pair[0],
            pair[1]
        );
    }
}

fn base_unix_micros(catalog: &hang::Catalog) -> anyhow::Result<u64> {
    let clock = catalog.clock.context("the catalog carries the clock")?;
    Ok(clock.wall.as_micros() as u64 + MOQ_EPOCH_UNIX_MICROS)
}

/// Read track `name` for `duration` the way the viewer does (groups in sequence order, each to its
/// end, a group that arrives after a newer one skipped), noting every packet. The viewer gives up
/// on a group 200 ms behind the newest sound; this reader waits up to 1 s (what the publisher
/// keeps), so a stall of this busy test machine is not counted as a gap in what was sent.
async fn read_packets(
    broadcast: &moq_net::broadcast::Consumer,
    name: &str,
    duration: Duration,
) -> anyhow::Result<Vec<Packet>> {
    let budget = moq_net::track::Subscription::default().with_max_age(Duration::from_secs(1));
    let mut track = broadcast.track(name)?.subscribe(budget).await?.ordered();
    let mut packets = Vec::new();
    let read = tokio::time::timeout(duration, async {
        while let Some(mut group) = track.next_group().await? {
            loop {
                let frame = match group.read_frame().await {
                    Ok(Some(frame)) => frame,
                    Ok(None) | Err(moq_net::Error::Old) => break,
                    Err(err) => return Err(anyhow::Error::from(err)),
                };
                let arrival = unix_micros();
                let frame = hang::container::Frame::decode(frame.payload)?;
                if !frame.payload.is_empty() {
                    packets.push(Packet {
                        group: group.sequence,
                        timestamp: frame.timestamp.as_micros() as u64,
                        arrival,
                    });
                }
            }
        }
        anyhow::Ok(())
    })
    .await;
    if let Ok(Err(err)) = read {
        return Err(err.context(format!("reading {name}")));
    }
    Ok(packets)
}
