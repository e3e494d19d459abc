//! A native MoQ subscriber that reads a hang broadcast back and checks what it gets.

use std::ops::ControlFlow;
use std::time::Duration;

use anyhow::Context;

/// What was read from a broadcast's video track.
pub struct Received {
    pub catalog: hang::Catalog,
    pub frames: usize,
    pub groups: usize,
}

impl Received {
    /// The broadcast's best video rendition (the one that was read).
    pub fn video(&self) -> &hang::catalog::VideoConfig {
        best_video(&self.catalog)
            .expect("receive checked there is a video rendition")
            .1
    }
}

/// The video rendition a viewer plays by default: the largest picture, then the highest bitrate.
fn best_video(catalog: &hang::Catalog) -> Option<(&String, &hang::catalog::VideoConfig)> {
    catalog.video.ranked().next()
}

/// Connect to `url`, wait for broadcast `name`, and read `want` frames of its best video
/// rendition, checking on the way that timestamps increase and that every group starts with a
/// keyframe (and only there).
pub async fn receive(url: &str, name: &str, want: usize) -> anyhow::Result<Received> {
    let (_connection, broadcast) = open(url, name).await?;
    receive_video(&broadcast, want).await
}

/// A subscribing connection to the relay at `url` (keep the first alive while reading) and
/// what the relay announces on it.
pub async fn connect(url: &str) -> anyhow::Result<(impl Sized, moq_net::origin::Consumer)> {
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
    Ok(((connection, origin), consumer))
}

/// A connection and the broadcast `name` on it (keep the first alive while reading).
pub async fn open(
    url: &str,
    name: &str,
) -> anyhow::Result<(impl Sized, moq_net::broadcast::Consumer)> {
    let (connection, consumer) = connect(url).await?;
    let mut announced = consumer.announced();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let update = announced.next().await.context("announcements ended")?;
            if update.prefix.as_str() == name && update.kind.is_active() {
                return anyhow::Ok(());
            }
        }
    })
    .await
    .context("the broadcast was never announced")??;
    let broadcast = consumer.request_broadcast(name).await?;
    Ok((connection, broadcast))
}

async fn receive_video(
    broadcast: &moq_net::broadcast::Consumer,
    want: usize,
) -> anyhow::Result<Received> {
    let catalog = read_catalog(broadcast).await?;
    let track_name = best_video(&catalog)
        .context("the catalog has no video rendition")?
        .0
        .clone();
    let hevc = best_video(&catalog).is_some_and(|(_, video)| {
        let codec = video.codec.to_string();
        codec.starts_with("hvc1.") || codec.starts_with("hev1.")
    });
    let mut track = broadcast.track(&track_name)?.subscribe(None).await?;
    let (mut frames, mut groups) = (0, 0);
    let mut last_timestamp = None;
    tokio::time::timeout(Duration::from_secs(30), async {
        while frames < want {
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
                    anyhow::ensure!(
                        micros > last,
                        "timestamps must increase: {last} then {micros}"
                    );
                }
                last_timestamp = Some(micros);
                anyhow::ensure!(
                    first == is_keyframe(&frame.payload, hevc),
                    "group {groups}: a keyframe must start every group, and only start it"
                );
                first = false;
                frames += 1;
            }
        }
        anyhow::Ok(())
    })
    .await
    .with_context(|| format!("only {frames} frames arrived within 30 s"))??;
    Ok(Received {
        catalog,
        frames,
        groups,
    })
}

/// Frames of one track as (timestamp µs, Unix µs when it was read).
pub type Timed = Vec<(u64, u64)>;

/// The first catalog of broadcast `name` that `accept` takes, within 20 s.
pub async fn catalog_where(
    url: &str,
    name: &str,
    accept: impl Fn(&hang::Catalog) -> bool,
) -> anyhow::Result<hang::Catalog> {
    let (_connection, broadcast) = open(url, name).await?;
    first_catalog(&broadcast, accept).await
}

/// The first catalog on `broadcast` that `accept` takes, within 20 s.
pub async fn first_catalog(
    broadcast: &moq_net::broadcast::Consumer,
    accept: impl Fn(&hang::Catalog) -> bool,
) -> anyhow::Result<hang::Catalog> {
    Ok(first_catalog_group(broadcast, accept).await?.1)
}

/// The first catalog on `broadcast` that `accept` takes, within 20 s, with the sequence of the
/// catalog track's group that carried it.
pub async fn first_catalog_group(
    broadcast: &moq_net::broadcast::Consumer,
    accept: impl Fn(&hang::Catalog) -> bool,
) -> anyhow::Result<(u64, hang::Catalog)> {
    let mut track = broadcast
        .track(hang::Catalog::DEFAULT_NAME)?
        .subscribe(None)
        .await?;
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let mut group = track
                .recv_group()
                .await?
                .context("the catalog track ended")?;
            let frame = group.read_frame().await?.context("empty catalog group")?;
            let catalog = hang::Catalog::from_slice(&frame.payload)?;
            if accept(&catalog) {
                return anyhow::Ok((group.sequence, catalog));
            }
        }
    })
    .await
    .context("no such catalog within 20 s")?
}

/// The frames of broadcast `name`'s first audio rendition, read for `duration`.
pub async fn receive_audio(url: &str, name: &str, duration: Duration) -> anyhow::Result<Timed> {
    let (_connection, broadcast) = open(url, name).await?;
    let catalog = first_catalog(&broadcast, |c| !c.audio.renditions.is_empty()).await?;
    let track = catalog.audio.renditions.keys().next().unwrap().clone();
    read_timed(&broadcast, &track, duration).await
}

/// What was read from a broadcast's audio and video together.
pub struct ReceivedAv {
    /// The first catalog that listed an audio rendition.
    pub catalog: hang::Catalog,
    pub audio: Timed,
    pub video: Timed,
}

impl ReceivedAv {
    pub fn audio_config(&self) -> &hang::catalog::AudioConfig {
        self.catalog
            .audio
            .renditions
            .values()
            .next()
            .expect("receive_av checked there is an audio rendition")
    }
}

/// Connect, wait for a catalog with an audio rendition, then read audio and video frames for
/// `duration` (at the live edge), noting when each arrived.
pub async fn receive_av(url: &str, name: &str, duration: Duration) -> anyhow::Result<ReceivedAv> {
    let (_connection, broadcast) = open(url, name).await?;
    let catalog = first_catalog(&broadcast, |c| {
        !c.audio.renditions.is_empty() && !c.video.renditions.is_empty()
    })
    .await?;
    let audio_track = catalog.audio.renditions.keys().next().unwrap().clone();
    let video_track = best_video(&catalog).unwrap().0.clone();
    let audio = read_timed(&broadcast, &audio_track, duration);
    let video = read_timed(&broadcast, &video_track, duration);
    let (audio, video) = tokio::join!(audio, video);
    Ok(ReceivedAv {
        catalog,
        audio: audio?,
        video: video?,
    })
}

async fn read_timed(
    broadcast: &moq_net::broadcast::Consumer,
    name: &str,
    duration: Duration,
) -> anyhow::Result<Timed> {
    let mut timed = Vec::new();
    read_track(broadcast, name, duration, |timestamp, _| {
        timed.push((timestamp, unix_micros()));
        ControlFlow::Continue(())
    })
    .await?;
    Ok(timed)
}

/// Frames of a video track as (timestamp µs, whether it starts its group with a keyframe).
pub type Keyed = Vec<(u64, bool)>;

/// Connect, wait for a catalog with as many video renditions as `want` has numbers, then read
/// them all at once (at the live edge), each until it has its number of frames (best first), or
/// for 20 s. Returns each one's track name, configuration and frames, best first (as viewers rank
/// them).
pub async fn receive_renditions(
    url: &str,
    name: &str,
    want: &[usize],
) -> anyhow::Result<Vec<(String, hang::catalog::VideoConfig, Keyed)>> {
    let (_connection, broadcast) = open(url, name).await?;
    let catalog = first_catalog(&broadcast, |c| c.video.renditions.len() == want.len()).await?;
    let mut reads = tokio::task::JoinSet::new();
    for (index, ((track, _), want)) in catalog.video.ranked().zip(want.iter().copied()).enumerate()
    {
        let (broadcast, track) = (broadcast.clone(), track.clone());
        reads.spawn(async move {
            let mut keyed = Vec::new();
            read_track(
                &broadcast,
                &track,
                Duration::from_secs(20),
                |timestamp, key| {
                    keyed.push((timestamp, key));
                    match keyed.len() < want {
                        true => ControlFlow::Continue(()),
                        false => ControlFlow::Break(()),
                    }
                },
            )
            .await
            .map(|()| (index, keyed))
        });
    }
    let mut frames = vec![Vec::new(); want.len()];
    while let Some(read) = reads.join_next().await {
        let (index, keyed) = read??;
        frames[index] = keyed;
    }
    Ok(catalog
        .video
        .ranked()
        .zip(frames)
        .map(|((track, config), keyed)| (track.clone(), config.clone(), keyed))
        .collect())
}

/// Read track `name` for `duration`, calling `on_frame(timestamp µs, keyframe)` for each
/// non-empty frame until it says to stop; a keyframe is a group's first frame holding an IDR
/// slice.
async fn read_track(
    broadcast: &moq_net::broadcast::Consumer,
    name: &str,
    duration: Duration,
    mut on_frame: impl FnMut(u64, bool) -> ControlFlow<()>,
) -> anyhow::Result<()> {
    // The default budget (max age 0) abandons a group as soon as a newer one lands; tolerate
    // 200 ms of reordering so that short groups (audio) lose no packets.
    let budget = moq_net::track::Subscription::default().with_max_age(Duration::from_millis(200));
    let mut track = broadcast.track(name)?.subscribe(budget).await?;
    let read = tokio::time::timeout(duration, async {
        loop {
            let Some(mut group) = track.recv_group().await? else {
                return anyhow::Ok(());
            };
            let mut first = true;
            loop {
                let frame = match group.read_frame().await {
                    Ok(Some(frame)) => frame,
                    Ok(None) | Err(moq_net::Error::Old) => break,
                    Err(err) => return Err(err.into()),
                };
                let frame = hang::container::Frame::decode(frame.payload)?;
                if !frame.payload.is_empty() {
                    let key = first && has_idr(&frame.payload);
                    first = false;
                    if on_frame(frame.timestamp.as_micros() as u64, key).is_break() {
                        return Ok(());
                    }
                }
            }
        }
    })
    .await;
    match read {
        Ok(Err(err)) => Err(err.context(format!("reading {name}"))),
        _ => Ok(()),
    }
}

/// Now, in Unix µs.
pub fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
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

/// Whether a length-prefixed access unit holds a keyframe: an H.264 IDR slice, or (`hevc`) an
/// HEVC random access point (IRAP, NAL types 16–21).
fn is_keyframe(data: &[u8], hevc: bool) -> bool {
    match hevc {
        false => has_idr(data),
        true => {
            nal_types(data, |header| (header >> 1) & 0x3f).any(|kind| (16..=21).contains(&kind))
        }
    }
}

/// The type of each NAL unit in a length-prefixed access unit, read from its first byte.
fn nal_types(mut data: &[u8], kind: fn(u8) -> u8) -> impl Iterator<Item = u8> + '_ {
    std::iter::from_fn(move || {
        if data.len() <= 4 {
            return None;
        }
        let len = u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let header = data[4];
        data = &data[(4 + len).min(data.len())..];
        Some(kind(header))
    })
}

/// Whether an AVCC (4-byte length-prefixed) access unit holds an IDR slice.
fn has_idr(data: &[u8]) -> bool {
    nal_types(data, |header| header & 0x1f).any(|kind| kind == 5)
}
