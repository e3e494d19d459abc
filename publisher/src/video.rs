//! The video, kept going: one ffmpeg capturing once and encoding every rendition, a thread per
//! rendition importing its FLV into the broadcast as it arrives — the main rendition from
//! ffmpeg's stdout, the others (the main picture in a second codec, the light one, see
//! [`crate::ladder`]) each from a loopback socket (see [`crate::loopback`]) — supervised
//! ([`crate::pipeline`]): restarted when it exits or stalls.
//!
//! The imports outlive the runs (see [`crate::flv_runs`]): a restarted ffmpeg continues the same
//! tracks in the same catalog, with a new group at its first keyframe, so viewers see a pause,
//! not a new stream. A video that cannot start, or is given up on, ends the publisher.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;

use crate::broadcast::{Broadcast, FlvImport};
use crate::encoder::Encoder;
use crate::ffmpeg::Ffmpeg;
use crate::ffmpeg_args::{self, Also, Extra, Input, Second, Video};
use crate::ladder::Light;
use crate::loopback::Loopback;
use crate::pipeline::{Ended, Event, Handle, Output, Pipeline, Run, Supervised, lock};
use crate::status::{Meter, VideoState};

/// Frame counters of each rendition and the video's state, for the status line.
#[derive(Clone)]
pub struct Meters {
    pub main: Arc<Mutex<Meter>>,
    pub also: Arc<Mutex<Meter>>,
    pub light: Arc<Mutex<Meter>>,
    pub state: Arc<Mutex<VideoState>>,
}

impl Default for Meters {
    fn default() -> Self {
        Self {
            main: Default::default(),
            also: Default::default(),
            light: Default::default(),
            state: Arc::new(Mutex::new(VideoState::Running)),
        }
    }
}

/// What to run: the capture, its encoding, the encoder of the main picture in a second codec,
/// and the light rendition.
pub struct Plan {
    pub program: PathBuf,
    pub input: Input,
    pub video: Video,
    pub also: Option<Encoder>,
    pub light: Option<Light>,
}

/// Start capturing `plan` into `broadcast` on its own thread, counting on `meters`. A fatal
/// problem (ffmpeg missing, a video that cannot start or is given up on) is sent on `fatal`.
pub fn start(
    plan: Plan,
    broadcast: Arc<Broadcast>,
    meters: Meters,
    fatal: tokio::sync::mpsc::UnboundedSender<anyhow::Error>,
) -> anyhow::Result<Handle> {
    // Every import is made before any frame exists: the first catalog lists every rendition.
    let main = broadcast.video_import()?;
    let also = match plan.also {
        Some(_) => Some(broadcast.video_import()?),
        None => None,
    };
    let light = match plan.light {
        Some(_) => Some(broadcast.video_import()?),
        None => None,
    };
    let frame_interval = Duration::from_secs(1) / plan.video.fps.max(1);
    let state = meters.state.clone();
    let mut supervised = Supervised::new("video", frame_interval, move |event: Event| {
        *lock(&state) = match event {
            Event::Flowing => VideoState::Running,
            Event::Restarting(why) => VideoState::Restarting(why.into()),
        }
    });
    let handle = supervised.handle();
    let mut capture = Capture {
        plan,
        broadcast,
        meters,
        main,
        also,
        light,
    };
    std::thread::Builder::new()
        .name("video".into())
        .spawn(move || {
            let result = supervised.run(&mut capture).and_then(|ended| match ended {
                Ended::Stopped => Ok(()),
                Ended::CannotStart(why) => Err(why.context("the video cannot start")),
                Ended::GaveUp(why) => Err(why.context("the video cannot run")),
            });
            if let Err(err) = result {
                let _ = fatal.send(err);
            }
        })
        .context("starting the video thread")?;
    Ok(handle)
}

/// The video pipeline: its ffmpeg's arguments, and the imports its runs continue.
struct Capture {
    plan: Plan,
    broadcast: Arc<Broadcast>,
    meters: Meters,
    main: FlvImport,
    /// With a second codec only.
    also: Option<FlvImport>,
    /// With a light rendition only.
    light: Option<FlvImport>,
}

impl Pipeline for Capture {
    fn spawn(&mut self) -> anyhow::Result<Run<'_>> {
        let also = (self.plan.also)
            .map(|_| Listening::bind("the second codec"))
            .transpose()?;
        let light = (self.plan.light)
            .map(|_| Listening::bind("the light rendition"))
            .transpose()?;
        let extra = Extra {
            also: (self.plan.also)
                .zip(also.as_ref())
                .map(|(encoder, socket)| Also {
                    encoder,
                    url: socket.url.clone(),
                }),
            light: (self.plan.light)
                .zip(light.as_ref())
                .map(|(light, socket)| Second {
                    light,
                    url: socket.url.clone(),
                }),
        };
        let args = ffmpeg_args::build(
            &self.plan.input,
            &self.plan.video,
            &extra,
            self.broadcast.base_unix_micros,
        );
        let (ffmpeg, stdout) = Ffmpeg::spawn(&self.plan.program, &args, "ffmpeg")?;
        let Self {
            broadcast,
            meters,
            main,
            also: also_import,
            light: light_import,
            ..
        } = self;
        let (broadcast, meters): (&Broadcast, &Meters) = (broadcast, meters);
        let mut outputs = vec![Output {
            thread: "ingest",
            import: Box::new(move |read: &(dyn Fn() + Sync)| {
                broadcast.ingest(main, stdout, &meters.main, read)
            }),
        }];
        let mut wakers: Vec<Box<dyn FnOnce()>> = Vec::new();
        let sockets = [
            ("ingest-also", also, also_import.as_mut(), &meters.also),
            ("ingest-light", light, light_import.as_mut(), &meters.light),
        ];
        for (thread, socket, import, meter) in sockets {
            if let (
                Some(Listening {
                    loopback, waker, ..
                }),
                Some(import),
            ) = (socket, import)
            {
                wakers.push(waker);
                outputs.push(Output {
                    thread,
                    import: Box::new(move |read: &(dyn Fn() + Sync)| {
                        broadcast.ingest(import, loopback, meter, read)
                    }),
                });
            }
        }
        let wake = (!wakers.is_empty()).then(|| {
            Box::new(move || wakers.into_iter().for_each(|wake| wake())) as Box<dyn FnOnce()>
        });
        Ok(Run {
            ffmpeg,
            outputs,
            wake,
        })
    }
}

/// A loopback socket ffmpeg writes one rendition's FLV to, its URL, and what wakes its reader.
struct Listening {
    loopback: Loopback,
    url: String,
    waker: Box<dyn FnOnce()>,
}

impl Listening {
    /// Listen for `what` (named in errors).
    fn bind(what: &str) -> anyhow::Result<Self> {
        let context = || format!("listening for {what}");
        let loopback = Loopback::bind().with_context(context)?;
        let url = loopback.url().with_context(context)?;
        let waker = Box::new(loopback.waker().with_context(context)?);
        Ok(Self {
            loopback,
            url,
            waker,
        })
    }
}
