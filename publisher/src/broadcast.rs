//! The hang broadcast the publisher fills: an origin holding one announced broadcast, its
//! catalog (with the clock that ties frame timestamps to wall-clock capture time), and the
//! FLV import that turns ffmpeg's output into tracks, groups and frames — and the audio from a
//! second ffmpeg's MPEG-TS, added to the same broadcast and catalog by [`audio_import`].

use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::audio_args::Codec;
use crate::audio_import;
use crate::flv_runs;
use crate::status::Meter;

/// How long a superseded group stays fetchable (a moment for a relay serving a late joiner),
/// and kept at all once nobody reads it.
const MEDIA_RETENTION: Duration = Duration::from_secs(1);

/// A video rendition's FLV import (see [`Broadcast::video_import`]).
pub type FlvImport = moq_mux::container::flv::Import;

/// The broadcast and everything that must stay alive while it is published.
pub struct Broadcast {
    pub origin: moq_net::origin::Producer,
    producer: moq_net::broadcast::Producer,
    catalog: moq_mux::catalog::Producer,
    /// Unix time (µs) of timestamp zero: ffmpeg stamps frames relative to it.
    pub base_unix_micros: u64,
}

impl Broadcast {
    /// Create and announce the broadcast `name`, with its clock starting now.
    pub fn new(name: &str) -> anyhow::Result<Self> {
        // moq-net keeps any group nobody has read or written for its cache's idle expiry (30 s
        // by default, whatever the tracks' max age): ≈ 20 MB of RSS for nothing here.
        let mut config = moq_net::origin::Config::default();
        config.pool = moq_net::cache::Pool::new(
            moq_net::cache::Config::default().with_expiry(MEDIA_RETENTION),
        );
        let origin = moq_tokio::origin::spawn_config(config);
        let mut producer = origin
            .create_broadcast(name)
            .with_context(|| format!("creating broadcast {name:?}"))?;
        let (epoch, wall) = (Instant::now(), SystemTime::now());
        let base_unix_micros = wall
            .duration_since(UNIX_EPOCH)
            .context("the system clock is before 1970")?
            .as_micros() as u64;
        let clock = moq_mux::Clock::at(epoch, wall).context("the system clock is unusable")?;
        // A live view needs the current group only; hang's default keeps 30 s of history
        // fetchable (≈ 17 MB at 4.5 Mb/s) for segmented egress we don't serve.
        let config = moq_mux::catalog::Config::default()
            .with_clock(clock)
            .with_max_age(MEDIA_RETENTION);
        let catalog = moq_mux::catalog::Producer::new(&mut producer, config)
            .context("creating the catalog")?;
        producer
            .announce(Default::default())
            .context("announcing the broadcast")?;
        Ok(Self {
            origin,
            producer,
            catalog,
            base_unix_micros,
        })
    }

    /// An FLV import for one video rendition, fed by every run of its ffmpeg in turn (see
    /// [`flv_runs`]). It holds a catalog reservation: the catalog is first published once every
    /// import made before any of them starts has seen its first frame, so it lists every
    /// rendition from the start.
    pub fn video_import(&self) -> anyhow::Result<FlvImport> {
        let mut import =
            moq_mux::container::flv::Import::new(self.producer.clone(), self.catalog.reserve());
        import
            .decode(&flv_runs::HEADER)
            .context("starting the FLV import")?;
        Ok(import)
    }

    /// Read one ffmpeg run's FLV output into `import` until it ends, publishing every frame as
    /// it arrives, counting it on `meter` and calling `output` for every read. Blocking: run it
    /// on its own thread.
    pub fn ingest(
        &self,
        import: &mut FlvImport,
        mut flv: impl Read,
        meter: &Mutex<Meter>,
        mut output: impl FnMut(),
    ) -> anyhow::Result<()> {
        let mut run = flv_runs::Run::default();
        let base_ms = self.base_unix_micros / 1000;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = flv.read(&mut buf).context("reading ffmpeg's output")?;
            if n == 0 {
                return Ok(());
            }
            output();
            let now_ms = unix_millis();
            let tags = {
                let mut meter = meter.lock().unwrap_or_else(|p| p.into_inner());
                run.whole_tags(&buf[..n], |tag| {
                    meter.frame(
                        now_ms,
                        tag.bytes,
                        Some(ingest_ms(now_ms, base_ms, tag.timestamp_ms)),
                    );
                })?
            };
            import
                .decode(&tags)
                .context("importing ffmpeg's FLV output")?;
        }
    }

    /// The audio import (see [`audio_import`]), fed by every run of its ffmpeg in turn. Make it on
    /// the audio's first bytes, not before: its catalog reservation withholds the catalog's first
    /// publication until the audio's track is known, and an audio ffmpeg that never starts must
    /// not keep the video out of the catalog.
    pub fn audio_import(&self, codec: Codec) -> audio_import::Import {
        audio_import::Import::new(self.producer.clone(), &self.catalog, codec)
    }

    /// End the broadcast: subscribers see it go offline.
    pub fn close(&self) {
        self.producer.close();
    }
}

/// Capture → read latency of a frame stamped `timestamp_ms` after `base_ms` and read at `now_ms`.
/// FLV keeps 31 bits of milliseconds; the subtraction wraps the same way.
fn ingest_ms(now_ms: u64, base_ms: u64, timestamp_ms: u32) -> f64 {
    let elapsed = now_ms.saturating_sub(base_ms) as u32 & 0x7fff_ffff;
    (elapsed.wrapping_sub(timestamp_ms) & 0x7fff_ffff) as f64
}

pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

pub fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_latency_is_read_time_minus_capture_time() {
        assert_eq!(ingest_ms(1_000_250, 1_000_000, 243), 7.0);
    }

    #[test]
    fn ingest_latency_survives_the_31_bit_wrap() {
        let base = 1_000;
        let now = base + (1u64 << 31) + 5; // 5 ms past the wrap
        assert_eq!(ingest_ms(now, base, 0x7fff_fffe), 7.0);
    }
}
