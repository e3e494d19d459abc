//! The audio ffmpeg's MPEG-TS into the broadcast, with [`GROUP_DURATION`] of sound in each group.
//!
//! A MoQ group is a QUIC stream of its own. moq-mux's TS import cuts every audio packet into its
//! own group: 100 streams a second for 10 ms Opus, and a viewer pays for each in JavaScript (a
//! WebTransport stream object, its reader, its promises). On a slow or throttled browser that
//! alone swamped the page's main thread: sound arrived 10–20 s late and starved the video. So
//! the audio is demuxed here ([`crate::ts_pes`]) and published through moq-mux's audio track
//! producer, which keeps a group open until the next keyframe: each packet is still written into
//! the open group's stream the moment ffmpeg hands it over (moq-lite sends a frame as soon as it
//! is written), so grouping adds no latency.
//!
//! Everything else is as moq-mux's TS import made it: the track names (`N.opus`, `N.aac`,
//! `N.ac3`), the catalog rendition (built from the PMT for Opus, from the first frame's header
//! for AAC and AC-3; AAC's jitter is the most sound one PES brought at once, as moq-mux measures
//! it), the payloads (raw Opus packets, raw AAC frames without ADTS headers, whole AC-3 sync
//! frames). The timestamps start as moq-mux's did (the PES PTS, unwrapped past 33 bits, advanced
//! by each packet's samples: on the broadcast clock, but counted by the capture device's clock)
//! and are then kept on the wall clock by [`crate::audio_clock`].

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use moq_mux::codec::{aac, opus};

use crate::audio_args::Codec;
use crate::audio_clock::AudioClock;
use crate::ts_pes::{self, Event, Pes, Stream};

/// How much sound a group holds: a new one starts with the first packet stamped this long after
/// the open group's first (10 Opus packets, 5 AAC frames, 4 AC-3 frames). Ten streams a second
/// instead of a hundred, and still short: a viewer joining mid-group is sent at most this much old sound, and
/// a lost datagram holds up at most the rest of one group until it is resent.
pub const GROUP_DURATION: Duration = Duration::from_millis(100);

/// PES timestamps count 90 kHz ticks.
const PTS_HZ: u64 = 90_000;
/// Opus always runs at 48 kHz.
const OPUS_HZ: u64 = 48_000;
/// Samples in an ADTS frame (one raw data block).
const AAC_FRAME: u64 = 1024;
/// Samples in an AC-3 sync frame.
const AC3_FRAME: u64 = 1536;

/// A PES's packets, each with its duration in samples.
type Units<'a> = Vec<(&'a [u8], u64)>;

type Producer =
    moq_mux::container::Producer<moq_mux::catalog::hang::Container, hang::catalog::AudioConfig>;

/// The audio ffmpeg's output on its way into the broadcast, one run of it after another (see
/// [`Import::next_run`]): the same track and catalog rendition throughout. Dropping it retires
/// the rendition.
pub struct Import {
    codec: Codec,
    demux: ts_pes::Demuxer,
    broadcast: moq_net::broadcast::Producer,
    catalog: moq_mux::catalog::Producer,
    /// Withholds the catalog's first publication until the track exists.
    reserved: Option<moq_mux::catalog::Reserved>,
    /// The stream's PID, from the PMT.
    pid: Option<u16>,
    track: Option<Track>,
    unwrap: Unwrap,
}

impl Import {
    /// Import `codec` into `broadcast`. The catalog's first publication waits for this audio's
    /// track (until it is known, or this import is finished or dropped).
    pub fn new(
        broadcast: moq_net::broadcast::Producer,
        catalog: &moq_mux::catalog::Producer,
        codec: Codec,
    ) -> Self {
        Self {
            codec,
            demux: ts_pes::Demuxer::default(),
            broadcast,
            catalog: catalog.clone(),
            reserved: Some(catalog.reserve()),
            pid: None,
            track: None,
            unwrap: Unwrap::default(),
        }
    }

    /// Import the next chunk of MPEG-TS, read at `read_us` (wall clock, µs after the broadcast's
    /// base), publishing every packet it completes at once, stamped by `clock`, and calling
    /// `on_pes` with the stamp (µs) of each PES's first packet on the way.
    pub fn decode(
        &mut self,
        data: &[u8],
        read_us: i64,
        clock: &mut AudioClock,
        mut on_pes: impl FnMut(Option<i64>),
    ) -> anyhow::Result<()> {
        let mut demux = std::mem::take(&mut self.demux);
        let result = demux.feed(data, |event| match event {
            Event::Streams(streams) => self.streams(streams),
            Event::Pes(pes) if self.pid == Some(pes.pid) => {
                on_pes(self.pes(pes, read_us, clock)?);
                Ok(())
            }
            Event::Pes(_) => Ok(()),
        });
        self.demux = demux;
        result
    }

    /// A new run of ffmpeg follows: its own MPEG-TS stream (tables, PIDs, a new PTS timeline),
    /// into the same track. A run that ended before the track was known stops withholding the
    /// catalog meanwhile.
    pub fn next_run(&mut self) {
        self.demux = ts_pes::Demuxer::default();
        self.pid = None;
        self.unwrap = Unwrap::default();
        if self.track.is_none() {
            self.reserved = None;
        }
    }

    /// Finish the track at the end of the stream.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        // Nothing published: stop withholding the catalog.
        self.reserved = None;
        if let Some(track) = &mut self.track {
            track.producer.finish()?;
        }
        Ok(())
    }

    /// Find our stream in the PMT. Opus's catalog entry is known from it; AAC's and AC-3's come
    /// with their first frame's header.
    fn streams(&mut self, streams: &[Stream]) -> anyhow::Result<()> {
        let stream = streams
            .iter()
            .find(|stream| match self.codec {
                // Private data with an 'Opus' registration descriptor (Opus-in-TS, as ffmpeg
                // writes it).
                Codec::Opus => {
                    stream.stream_type == 0x06
                        && stream
                            .descriptors
                            .iter()
                            .any(|(tag, data)| *tag == 0x05 && data.starts_with(b"Opus"))
                }
                Codec::Aac => stream.stream_type == 0x0f, // ADTS
                Codec::Ac3 => stream.stream_type == 0x81, // ATSC, ffmpeg's default
            })
            .with_context(|| format!("the audio ffmpeg wrote no {} stream", self.codec.name()))?;
        self.pid = Some(stream.pid);
        // A later run of the same ffmpeg continues the track it opened.
        if self.codec == Codec::Opus && self.track.is_none() {
            let channels = opus_channels(&stream.descriptors)?;
            self.open(".opus", opus::Config::new(OPUS_HZ as u32, channels).into())?;
        }
        Ok(())
    }

    fn open(&mut self, suffix: &str, config: hang::catalog::AudioConfig) -> anyhow::Result<()> {
        anyhow::ensure!(self.track.is_none(), "the audio track exists already");
        let track = self.broadcast.unique_track(
            suffix,
            self.catalog.track_info(hang::catalog::PRIORITY.audio),
        )?;
        let wire = moq_mux::catalog::hang::Container::try_from(&config)?;
        // Reserved while the catalog's first publication waits for it; added to it otherwise.
        let producer = match self.reserved.take() {
            Some(reserved) => reserved.audio(track, wire, config)?,
            None => self.catalog.audio(track, wire, config)?,
        };
        self.track = Some(Track {
            producer,
            group_start: None,
            burst: Duration::ZERO,
        });
        Ok(())
    }

    /// Publish a PES's packets, read at `read_us`: stamped from its PTS on by their samples, then
    /// by `clock`. Returns the first packet's stamp (µs).
    fn pes(
        &mut self,
        pes: Pes<'_>,
        read_us: i64,
        clock: &mut AudioClock,
    ) -> anyhow::Result<Option<i64>> {
        let base = pes.pts.map(|pts| self.unwrap.unwrap(pts));
        let parsed = match self.codec {
            Codec::Opus => opus_packets(pes.payload).map(|packets| (packets, None)),
            Codec::Aac => adts_frames(pes.payload),
            Codec::Ac3 => ac3_frames(pes.payload),
        };
        let (units, format) = match parsed {
            Ok(parsed) => parsed,
            Err(err) => {
                tracing::warn!(%err, "dropped a malformed {} PES", self.codec.name());
                return Ok(None);
            }
        };
        if let Some(format) = &format
            && self.track.is_none()
        {
            let (suffix, config) = format.rendition()?;
            self.open(suffix, config)?;
        }
        let rate = format.as_ref().map_or(OPUS_HZ, Format::rate);
        let track = self.track.as_mut().context("no audio track")?;
        let mut elapsed = 0;
        let mut first = None;
        for (payload, samples) in units {
            let stamp = base.map(|base| {
                let device = base * 1_000_000 / PTS_HZ + elapsed * 1_000_000 / rate;
                let duration = samples * 1_000_000 / rate;
                clock.stamp(device as i64, duration as i64, read_us)
            });
            first = first.or(stamp);
            // Never negative: ffmpeg's stamps start past the base and drift little.
            let pts = stamp
                .map(|us| moq_net::Timestamp::from_micros(us.max(0) as u64))
                .transpose()?;
            track.write(Bytes::copy_from_slice(payload), pts)?;
            elapsed += samples;
        }
        // moq-mux reports this for AAC only.
        if let Some(Format::Aac(_)) = format {
            track.burst(Duration::from_nanos(
                (elapsed * 1_000_000_000).div_ceil(rate),
            ))?;
        }
        Ok(first)
    }
}

/// What AAC and AC-3 frame headers say about their stream (Opus's is in the PMT).
enum Format {
    Aac(aac::Config),
    Ac3 { rate: u32, channels: u32 },
}

impl Format {
    fn rate(&self) -> u64 {
        u64::from(match self {
            Format::Aac(config) => config.sample_rate,
            Format::Ac3 { rate, .. } => *rate,
        })
    }

    /// The track name's suffix and the catalog entry for this stream.
    fn rendition(&self) -> anyhow::Result<(&'static str, hang::catalog::AudioConfig)> {
        Ok(match self {
            Format::Aac(config) => (".aac", aac::config(&config.encode())?),
            Format::Ac3 { rate, channels } => (
                ".ac3",
                hang::catalog::AudioConfig::new(hang::catalog::AudioCodec::Ac3, *rate, *channels),
            ),
        })
    }
}

/// The audio track, cut into groups of [`GROUP_DURATION`].
struct Track {
    producer: Producer,
    /// When the open group's first packet is stamped, µs.
    group_start: Option<u128>,
    /// The most sound one PES brought, published as the rendition's jitter.
    burst: Duration,
}

impl Track {
    /// Publish one packet now: into the open group, or as the first of a new one once the open
    /// one spans [`GROUP_DURATION`]. Every audio packet decodes on its own, so any can start a
    /// group: it is marked a keyframe, which closes the open group at its timestamp.
    fn write(&mut self, payload: Bytes, pts: Option<moq_net::Timestamp>) -> anyhow::Result<()> {
        let timestamp = self.producer.timestamp(pts)?;
        let micros = timestamp.as_micros();
        let keyframe = self
            .group_start
            .is_none_or(|start| micros.saturating_sub(start) >= GROUP_DURATION.as_micros());
        self.producer.write(moq_mux::container::Frame {
            timestamp,
            payload,
            keyframe,
            duration: None,
        })?;
        if keyframe {
            self.group_start = Some(micros);
        }
        Ok(())
    }

    /// Note that `duration` of sound arrived at once.
    fn burst(&mut self, duration: Duration) -> anyhow::Result<()> {
        if duration > self.burst {
            self.burst = duration;
            let mut config = self.producer.modify()?;
            config.jitter = Some(duration);
            config.commit()?;
        }
        Ok(())
    }
}

/// Extends the 33-bit PTS past its wrap (every 26.5 hours).
#[derive(Debug, Default)]
struct Unwrap {
    last: Option<u64>,
    offset: u64,
}

impl Unwrap {
    fn unwrap(&mut self, pts: u64) -> u64 {
        const WRAP: u64 = 1 << 33;
        if self
            .last
            .is_some_and(|last| pts < last && last - pts > WRAP / 2)
        {
            self.offset += WRAP;
        }
        self.last = Some(pts);
        self.offset + pts
    }
}

/// The channel count in the DVB extension descriptor for Opus (tag 0x7f, extension 0x80): code
/// 0 is dual mono (decoded as stereo), 1 and 2 the count. ffmpeg here always encodes stereo;
/// more channels would need a channel mapping in the OpusHead.
fn opus_channels(descriptors: &[(u8, Vec<u8>)]) -> anyhow::Result<u32> {
    let code = descriptors
        .iter()
        .find(|(tag, data)| *tag == 0x7f && data.first() == Some(&0x80))
        .and_then(|(_, data)| data.get(1).copied())
        .unwrap_or(2);
    match code {
        0 | 2 => Ok(2),
        1 => Ok(1),
        _ => anyhow::bail!("Opus channel configuration {code} is not supported"),
    }
}

/// The Opus packets of a PES, each behind its Opus-in-TS control header (ETSI's draft), with
/// their durations in 48 kHz samples. A PES holds one, or more when the TS muxer bundles them.
fn opus_packets(mut data: &[u8]) -> anyhow::Result<Units<'_>> {
    let mut packets = Vec::new();
    while !data.is_empty() {
        anyhow::ensure!(
            data.len() >= 2 && data[0] == 0x7f && data[1] & 0xe0 == 0xe0,
            "no Opus control header"
        );
        let flags = data[1];
        let mut at = 2;
        let mut size = 0;
        loop {
            let byte = *data.get(at).context("truncated Opus au_size")?;
            at += 1;
            size += usize::from(byte);
            if byte != 0xff {
                break;
            }
        }
        // Start and end trim (16 bits each), then a control extension (length byte + data).
        at += 2 * usize::from(flags & 0x10 != 0) + 2 * usize::from(flags & 0x08 != 0);
        if flags & 0x04 != 0 {
            at += 1 + usize::from(*data.get(at).context("truncated Opus control extension")?);
        }
        let packet = data
            .get(at..at + size)
            .context("Opus packet overruns its PES")?;
        packets.push((packet, opus_samples(packet)?));
        data = &data[at + size..];
    }
    Ok(packets)
}

/// An Opus packet's duration in 48 kHz samples, from its TOC byte (RFC 6716 §3.1).
fn opus_samples(packet: &[u8]) -> anyhow::Result<u64> {
    let toc = *packet.first().context("empty Opus packet")?;
    let config = usize::from(toc >> 3);
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][config % 4], // SILK: 10, 20, 40, 60 ms
        12..=15 => [480, 960][config % 2],            // hybrid: 10, 20 ms
        _ => [120, 240, 480, 960][config % 4],        // CELT: 2.5, 5, 10, 20 ms
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(packet.get(1).context("Opus frame count missing")? & 0x3f),
    };
    Ok(frame * frames)
}

/// The raw AAC frames of a PES's ADTS frames, each 1024 samples, and the stream's format from the
/// first header.
fn adts_frames(mut data: &[u8]) -> anyhow::Result<(Units<'_>, Option<Format>)> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let mut frames = Vec::new();
    let mut config = None;
    while !data.is_empty() {
        let header = data.get(..7).context("truncated ADTS header")?;
        anyhow::ensure!(
            header[0] == 0xff && header[1] & 0xf6 == 0xf0,
            "no ADTS sync word"
        );
        anyhow::ensure!(
            header[6] & 3 == 0,
            "several raw data blocks in one ADTS frame"
        );
        let channels = match (header[2] & 1) << 2 | header[3] >> 6 {
            0 => anyhow::bail!("an AAC program config element is not supported"),
            7 => 8, // 7.1
            code => u32::from(code),
        };
        let rate = *RATES
            .get(usize::from((header[2] >> 2) & 0x0f))
            .context("reserved AAC sample rate")?;
        let header_len = if header[1] & 1 != 0 { 7 } else { 9 };
        let len = usize::from(header[3] & 3) << 11
            | usize::from(header[4]) << 3
            | usize::from(header[5] >> 5);
        let frame = data
            .get(header_len..len)
            .context("ADTS frame overruns its PES")?;
        config.get_or_insert(aac::Config {
            profile: (header[2] >> 6) + 1,
            sample_rate: rate,
            channel_count: channels,
        });
        frames.push((frame, AAC_FRAME));
        data = &data[len..];
    }
    let config = config.context("empty AAC PES")?;
    Ok((frames, Some(Format::Aac(config))))
}

/// The AC-3 sync frames of a PES, whole (they are published as they are), each 1536 samples, and
/// the stream's format from the first header (ATSC A/52 §5.4).
fn ac3_frames(mut data: &[u8]) -> anyhow::Result<(Units<'_>, Option<Format>)> {
    /// kb/s by `frmsizecod >> 1`.
    const KBPS: [usize; 19] = [
        32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640,
    ];
    /// Full-bandwidth channels by `acmod`: 1+1, 1/0, 2/0, 3/0, 2/1, 3/1, 2/2, 3/2.
    const CHANNELS: [u32; 8] = [2, 1, 2, 3, 3, 4, 4, 5];
    let mut frames = Vec::new();
    let mut format = None;
    while !data.is_empty() {
        let header = data.get(..7).context("truncated AC-3 header")?;
        anyhow::ensure!(header[..2] == [0x0b, 0x77], "no AC-3 sync word");
        anyhow::ensure!(header[5] >> 3 <= 8, "not AC-3 (bsid {})", header[5] >> 3);
        let size_code = usize::from(header[4] & 0x3f);
        let kbps = *KBPS
            .get(size_code >> 1)
            .context("reserved AC-3 frame size")?;
        let (rate, len) = match header[4] >> 6 {
            0 => (48_000, 4 * kbps),
            1 => (44_100, 2 * (320 * kbps / 147 + (size_code & 1))),
            2 => (32_000, 6 * kbps),
            _ => anyhow::bail!("reserved AC-3 sample rate"),
        };
        let frame = data.get(..len).context("AC-3 frame overruns its PES")?;
        // lfeon follows acmod (3 bits) and the mix levels that acmod implies.
        let acmod = header[6] >> 5;
        let mut bit = 3;
        if acmod & 1 != 0 && acmod != 1 {
            bit += 2; // cmixlev
        }
        if acmod & 4 != 0 {
            bit += 2; // surmixlev
        }
        if acmod == 2 {
            bit += 2; // dsurmod
        }
        let lfe = u32::from((header[6] >> (7 - bit)) & 1);
        format.get_or_insert(Format::Ac3 {
            rate,
            channels: CHANNELS[usize::from(acmod)] + lfe,
        });
        frames.push((frame, AC3_FRAME));
        data = &data[len..];
    }
    Ok((frames, Some(format.context("empty AC-3 PES")?)))
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts_pes::tests::{pes, tables};

    /// A stereo Opus stream as ffmpeg's TS muxer declares it.
    const OPUS_DESCRIPTORS: [u8; 10] = [0x05, 4, b'O', b'p', b'u', b's', 0x7f, 2, 0x80, 2];

    /// A 10 ms CELT packet (TOC config 30, one frame) of `len` bytes behind its control header.
    pub(super) fn opus_unit(len: usize) -> Vec<u8> {
        let mut unit = vec![0x7f, 0xe0];
        unit.extend(std::iter::repeat_n(0xff, len / 255));
        unit.push((len % 255) as u8);
        unit.push(30 << 3);
        unit.resize(unit.len() + len - 1, 0x55);
        unit
    }

    pub(super) fn adts_frame(len: usize) -> Vec<u8> {
        let total = 7 + len;
        let mut frame = vec![
            0xff,
            0xf1,
            0x4c, // AAC-LC, 48 kHz, channel config 2 (high bit 0)
            0x80 | (total >> 11) as u8,
            (total >> 3) as u8,
            ((total & 7) << 5) as u8 | 0x1f,
            0xfc,
        ];
        frame.resize(total, 0x21);
        frame
    }

    struct Reader {
        consumer: moq_net::broadcast::Consumer,
        catalog: moq_mux::catalog::Producer,
    }

    fn broadcast() -> (moq_net::broadcast::Producer, Reader) {
        let mut broadcast = moq_net::broadcast::Info::new().produce();
        let catalog = moq_mux::catalog::Producer::new(
            &mut broadcast,
            moq_mux::catalog::Config::default().with_max_age(Duration::from_secs(10)),
        )
        .unwrap();
        let consumer = broadcast.consume();
        (broadcast, Reader { consumer, catalog })
    }

    /// Every group of `track` so far: its frames' (timestamp µs, payload length).
    async fn groups(reader: &Reader, track: &str) -> Vec<Vec<(u128, usize)>> {
        let budget = moq_net::track::Subscription::default().with_max_age(Duration::from_secs(10));
        let mut subscriber = reader
            .consumer
            .track(track)
            .unwrap()
            .subscribe(budget.with_start(moq_net::track::Position::group(0)))
            .await
            .unwrap();
        let mut groups = Vec::new();
        while let Ok(Ok(Some(mut group))) =
            tokio::time::timeout(Duration::from_millis(50), subscriber.recv_group()).await
        {
            let mut frames = Vec::new();
            while let Ok(Ok(Some(frame))) =
                tokio::time::timeout(Duration::from_millis(50), group.read_frame()).await
            {
                let frame = hang::container::Frame::decode(frame.payload).unwrap();
                frames.push((frame.timestamp.as_micros(), frame.payload.len()));
            }
            groups.push(frames);
        }
        groups
    }

    #[tokio::test]
    async fn opus_packets_share_a_group_per_100_ms_with_contiguous_stamps() {
        let (producer, reader) = broadcast();
        let mut import = Import::new(producer, &reader.catalog, Codec::Opus);
        let mut stream = tables(0x100, 0x06, &OPUS_DESCRIPTORS);
        for n in 0..125u64 {
            stream.extend(pes(0x100, 90_000 + n * 900, &opus_unit(180)));
        }
        let mut stamps = Vec::new();
        import
            .decode(&stream, 0, &mut AudioClock::default(), |stamp| {
                stamps.push(stamp)
            })
            .unwrap();
        assert_eq!(stamps.len(), 125);

        let catalog = reader.catalog.snapshot();
        let (name, audio) = catalog.audio.renditions.iter().next().unwrap();
        assert!(name.ends_with(".opus"), "{name}");
        assert_eq!(audio.codec.to_string(), "opus");
        assert_eq!((audio.sample_rate, audio.channel_count), (48_000, 2));
        assert!(
            audio
                .description
                .as_deref()
                .unwrap()
                .starts_with(b"OpusHead")
        );
        assert_eq!(audio.bitrate, Some(144_000), "180 bytes every 10 ms");

        let groups = groups(&reader, name).await;
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes, [[10; 12].as_slice(), &[5]].concat());
        let stamps: Vec<u128> = groups.concat().iter().map(|f| f.0).collect();
        let want: Vec<u128> = (0..125).map(|n| 1_000_000 + n * 10_000).collect();
        assert_eq!(stamps, want);
        assert!(groups.concat().iter().all(|f| f.1 == 180));
    }

    #[tokio::test]
    async fn bundled_opus_packets_are_stamped_by_their_samples() {
        let (producer, reader) = broadcast();
        let mut import = Import::new(producer, &reader.catalog, Codec::Opus);
        let mut stream = tables(0x100, 0x06, &OPUS_DESCRIPTORS);
        let mut two = opus_unit(300); // au_size over 255: 0xff, 45
        two.extend(opus_unit(40));
        stream.extend(pes(0x100, 900, &two));
        import
            .decode(&stream, 0, &mut AudioClock::default(), |_| ())
            .unwrap();
        let name = reader
            .catalog
            .snapshot()
            .audio
            .renditions
            .keys()
            .next()
            .unwrap()
            .clone();
        assert_eq!(
            groups(&reader, &name).await,
            [[(10_000, 300), (20_000, 40)]]
        );
    }

    #[tokio::test]
    async fn a_restarted_ffmpeg_continues_the_same_track_and_rendition_in_a_new_group() {
        let (producer, reader) = broadcast();
        let mut import = Import::new(producer, &reader.catalog, Codec::Opus);
        let mut clock = AudioClock::default();
        // One run's stream: its tables, then 15 packets from `start` (90 kHz).
        let run = |start: u64| {
            let mut stream = tables(0x100, 0x06, &OPUS_DESCRIPTORS);
            for n in 0..15u64 {
                stream.extend(pes(0x100, start + n * 900, &opus_unit(180)));
            }
            stream
        };
        // The first run is killed in the middle of a PES.
        let mut first = run(90_000);
        first.extend(&pes(0x100, 90_000 + 15 * 900, &opus_unit(180))[..100]);
        import.decode(&first, 0, &mut clock, |_| ()).unwrap();
        let before = reader.catalog.snapshot();
        // The next run starts 2 s later on the wall clock, its own stream from its tables on.
        import.next_run();
        clock.restart();
        import.decode(&run(270_000), 0, &mut clock, |_| ()).unwrap();

        // The same rendition (its bitrate is an estimate, updated as packets come).
        let renditions = |catalog: &hang::Catalog| {
            let mut renditions = catalog.audio.renditions.clone();
            renditions
                .values_mut()
                .for_each(|audio| audio.bitrate = None);
            renditions
        };
        let after = reader.catalog.snapshot();
        assert_eq!(before.audio.renditions.len(), 1);
        assert_eq!(renditions(&after), renditions(&before));
        let name = after.audio.renditions.keys().next().unwrap();
        let groups = groups(&reader, name).await;
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 5, 10, 5], "the second run starts a group");
        let stamps: Vec<u128> = groups.concat().iter().map(|f| f.0).collect();
        let want: Vec<u128> = (0..15)
            .map(|n| 1_000_000 + n * 10_000)
            .chain((0..15).map(|n| 3_000_000 + n * 10_000))
            .collect();
        assert_eq!(stamps, want);
    }

    #[tokio::test]
    async fn aac_frames_group_by_five_with_the_config_from_adts() {
        let (producer, reader) = broadcast();
        let mut import = Import::new(producer, &reader.catalog, Codec::Aac);
        let mut stream = tables(0x101, 0x0f, &[]);
        for n in 0..10u64 {
            stream.extend(pes(0x101, n * 1920, &adts_frame(300)));
        }
        // Two frames in one PES: the jitter the catalog reports.
        let mut two = adts_frame(100);
        two.extend(adts_frame(100));
        stream.extend(pes(0x101, 10 * 1920, &two));
        import
            .decode(&stream, 0, &mut AudioClock::default(), |_| ())
            .unwrap();

        let catalog = reader.catalog.snapshot();
        let (name, audio) = catalog.audio.renditions.iter().next().unwrap();
        assert!(name.ends_with(".aac"), "{name}");
        assert_eq!(audio.codec.to_string(), "mp4a.40.2");
        assert_eq!((audio.sample_rate, audio.channel_count), (48_000, 2));
        assert_eq!(audio.description.as_deref(), Some(&[0x11, 0x90][..]));
        assert_eq!(audio.jitter, Some(Duration::from_nanos(42_666_667)));

        let groups = groups(&reader, name).await;
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes, [5, 5, 2]);
        let stamps: Vec<u128> = groups.concat().iter().map(|f| f.0).collect();
        let want: Vec<u128> = (0..12).map(|n| n * 64_000 / 3).collect();
        assert_eq!(stamps, want);
    }

    #[tokio::test]
    async fn ac3_frames_group_by_four_whole() {
        let (producer, reader) = broadcast();
        let mut import = Import::new(producer, &reader.catalog, Codec::Ac3);
        // 48 kHz, 192 kb/s (768 bytes), bsid 8, 2/0 without LFE.
        let mut frame = vec![0x0b, 0x77, 0, 0, 0x14, 0x40, 0x40];
        frame.resize(768, 0);
        let mut stream = tables(0x102, 0x81, &[]);
        for n in 0..10u64 {
            stream.extend(pes(0x102, n * 2880, &frame));
        }
        import
            .decode(&stream, 0, &mut AudioClock::default(), |_| ())
            .unwrap();

        let catalog = reader.catalog.snapshot();
        let (name, audio) = catalog.audio.renditions.iter().next().unwrap();
        assert!(name.ends_with(".ac3"), "{name}");
        assert_eq!(audio.codec.to_string(), "ac-3");
        assert_eq!((audio.sample_rate, audio.channel_count), (48_000, 2));
        assert_eq!(audio.container, hang::catalog::Container::Legacy);

        let groups = groups(&reader, name).await;
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes, [4, 4, 2]);
        let frames = groups.concat();
        assert!(frames.iter().all(|f| f.1 == 768), "whole sync frames");
        let stamps: Vec<u128> = frames.iter().map(|f| f.0).collect();
        assert_eq!(stamps, (0..10).map(|n| n * 32_000).collect::<Vec<_>>());
    }

    #[test]
    fn stamps_follow_the_wall_clock_the_packets_are_read_on() {
        let (producer, reader) = broadcast();
        let mut import = Import::new(producer, &reader.catalog, Codec::Opus);
        let mut clock = AudioClock::default();
        let tables = tables(0x100, 0x06, &OPUS_DESCRIPTORS);
        import.decode(&tables, 0, &mut clock, |_| ()).unwrap();
        // A minute of 10 ms packets from a device 500 ppm fast, each read 13 ms after capture.
        let mut last = (0, 0.0);
        for n in 0..6_000u64 {
            let wall = 1e6 + n as f64 * 10_000.0 / 1.0005;
            let read = (wall + 13_000.0) as i64;
            let pes = pes(0x100, 90_000 + n * 900, &opus_unit(180));
            import
                .decode(&pes, read, &mut clock, |stamp| {
                    last = (stamp.unwrap(), wall)
                })
                .unwrap();
        }
        let (stamp, wall) = last;
        let pts_off = 1e6 + 5_999.0 * 10_000.0 - wall;
        assert!(pts_off > 29_000.0, "the PTS are {pts_off} µs off");
        assert!((stamp as f64 - wall).abs() < 1_000.0, "{stamp} for {wall}");
    }

    #[test]
    fn no_track_until_the_pmt_names_the_codec() {
        let (producer, reader) = broadcast();
        let mut import = Import::new(producer, &reader.catalog, Codec::Opus);
        let err = import
            .decode(
                &tables(0x100, 0x0f, &[]),
                0,
                &mut AudioClock::default(),
                |_| (),
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "the audio ffmpeg wrote no opus stream");
        import.finish().unwrap();
        assert!(reader.catalog.snapshot().audio.renditions.is_empty());
    }

    #[test]
    fn the_pts_unwraps_past_33_bits() {
        let mut unwrap = Unwrap::default();
        assert_eq!(unwrap.unwrap((1 << 33) - 900), (1 << 33) - 900);
        assert_eq!(unwrap.unwrap(0), 1 << 33);
        assert_eq!(unwrap.unwrap(900), (1 << 33) + 900);
    }

    #[test]
    fn opus_durations_come_from_the_toc() {
        assert_eq!(opus_samples(&[30 << 3]).unwrap(), 480); // CELT 10 ms
        assert_eq!(opus_samples(&[(29 << 3) | 1]).unwrap(), 480); // 2 × 5 ms
        assert_eq!(opus_samples(&[(16 << 3) | 3, 4]).unwrap(), 480); // 4 × 2.5 ms
        assert_eq!(opus_samples(&[1 << 3]).unwrap(), 960); // SILK 20 ms
        assert!(opus_samples(&[]).is_err());
    }
}
