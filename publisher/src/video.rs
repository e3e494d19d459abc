//! The video job: one ffmpeg capturing once and encoding every rendition, and a thread per
//! rendition importing its FLV into the broadcast as it arrives — the main rendition from
//! ffmpeg's stdout, the light one (see [`crate::ladder`]) from a loopback socket (see
//! [`crate::loopback`]). The renditions share the ffmpeg, so either ingest ending ends the job.

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::sync::mpsc;

use crate::broadcast::{Broadcast, FlvImport};
use crate::ffmpeg::Ffmpeg;
use crate::ffmpeg_args::{self, Input, Second, Video};
use crate::ladder::Light;
use crate::loopback::Loopback;
use crate::status::Meter;

/// Frame counters of each rendition, for the status line.
#[derive(Clone, Default)]
pub struct Meters {
    pub main: Arc<Mutex<Meter>>,
    pub light: Arc<Mutex<Meter>>,
}

/// The running video job.
pub struct Job {
    ffmpeg: Ffmpeg,
    /// Each ingest thread's outcome, as it ends.
    ended: mpsc::UnboundedReceiver<anyhow::Result<()>>,
}

impl Job {
    /// Start ffmpeg capturing `input` as `video` (and as `light`, when given) and import what it
    /// writes into `broadcast`, counting frames on `meters`.
    pub fn start(
        program: &Path,
        input: &Input,
        video: &Video,
        light: Option<Light>,
        broadcast: &Arc<Broadcast>,
        meters: &Meters,
    ) -> anyhow::Result<Self> {
        let light = match light {
            Some(light) => {
                let loopback = Loopback::bind().context("listening for the light rendition")?;
                let url = loopback
                    .url()
                    .context("listening for the light rendition")?;
                // Made before any frame exists, like the main one: the first catalog lists both.
                Some((Second { light, url }, loopback, broadcast.video_import()))
            }
            None => None,
        };
        let main = broadcast.video_import();
        let second = light.as_ref().map(|(second, ..)| second);
        let args = ffmpeg_args::build(input, video, second, broadcast.base_unix_micros);
        let (ffmpeg, stdout) = Ffmpeg::spawn(program, &args, "ffmpeg")?;
        let (done, ended) = mpsc::unbounded_channel();
        ingest("ingest", main, stdout, broadcast, &meters.main, &done)?;
        if let Some((_, loopback, import)) = light {
            ingest(
                "ingest-light",
                import,
                loopback,
                broadcast,
                &meters.light,
                &done,
            )?;
        }
        Ok(Self { ffmpeg, ended })
    }

    /// Wait until the video stops, and say why; ffmpeg is stopped by then.
    pub async fn stopped(&mut self) -> anyhow::Error {
        match self.ended.recv().await {
            // Its output ended: ffmpeg is exiting and its log says why.
            Some(Ok(())) => self.ffmpeg.finish(),
            Some(Err(err)) => {
                self.ffmpeg.kill();
                err
            }
            None => {
                self.ffmpeg.kill();
                anyhow::anyhow!("the ingest threads died")
            }
        }
    }

    /// Stop ffmpeg now.
    pub fn kill(&mut self) {
        self.ffmpeg.kill();
    }
}

/// Import `flv` into `broadcast` through `import` on a thread named `name`, sending the outcome
/// on `done`.
fn ingest(
    name: &str,
    import: FlvImport,
    flv: impl Read + Send + 'static,
    broadcast: &Arc<Broadcast>,
    meter: &Arc<Mutex<Meter>>,
    done: &mpsc::UnboundedSender<anyhow::Result<()>>,
) -> anyhow::Result<()> {
    let (broadcast, meter, done) = (broadcast.clone(), meter.clone(), done.clone());
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = done.send(broadcast.ingest(import, flv, meter));
        })
        .with_context(|| format!("starting the {name} thread"))?;
    Ok(())
}
