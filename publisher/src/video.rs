//! The video, kept going: one ffmpeg capturing once and encoding every rendition, a thread per
//! rendition importing its FLV into the broadcast as it arrives — the main rendition from
//! ffmpeg's stdout, the others (the main picture in a second codec, the light one, see
//! [`crate::rendition`]) each from a loopback socket (see [`crate::loopback`]) — supervised
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
use crate::ffmpeg::Ffmpeg;
use crate::ffmpeg_args::{self, Input};
use crate::loopback::Loopback;
use crate::pipeline::{Ended, Event, Handle, Ingest, Output, Pipeline, Run, Supervised, lock};
use crate::rendition::{Rendition, Role, Video};
use crate::status::{Meter, VideoState};

/// Frame counters of each rendition (in the ladder's order) and the video's state, for the
/// status line.
#[derive(Clone)]
pub struct Meters {
    pub renditions: Vec<Arc<Mutex<Meter>>>,
    pub state: Arc<Mutex<VideoState>>,
}

impl Meters {
    /// Counters for `renditions` renditions (at least one: the main one's say the state even
    /// with no video).
    pub fn new(renditions: usize) -> Self {
        Self {
            renditions: (0..renditions).map(|_| Arc::default()).collect(),
            state: Arc::new(Mutex::new(VideoState::Running)),
        }
    }
}

/// What to run: the capture and the renditions it is encoded into.
pub struct Plan {
    pub program: PathBuf,
    pub input: Input,
    pub video: Video,
    /// The ladder (see [`crate::rendition::ladder`]), the main rendition first.
    pub renditions: Vec<Rendition>,
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
    let imports = (plan.renditions.iter())
        .map(|_| broadcast.video_import())
        .collect::<anyhow::Result<Vec<_>>>()?;
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
        imports,
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
    /// One for each rendition, in the ladder's order.
    imports: Vec<FlvImport>,
}

impl Pipeline for Capture {
    fn spawn(&mut self) -> anyhow::Result<Run<'_>> {
        // The main rendition goes to stdout, every other one to a loopback socket of its own.
        let mut sockets = Vec::new();
        let mut outputs = Vec::new();
        for rendition in &self.plan.renditions {
            let url = match rendition.role {
                Role::Main => ffmpeg_args::STDOUT.to_string(),
                Role::Also | Role::Light => {
                    let what = match rendition.role {
                        Role::Light => "the light rendition",
                        _ => "the second codec",
                    };
                    let socket = Listening::bind(what)?;
                    let url = socket.url.clone();
                    sockets.push(socket);
                    url
                }
            };
            outputs.push((*rendition, url));
        }
        let args = ffmpeg_args::build(
            &self.plan.input,
            &self.plan.video,
            &outputs,
            self.broadcast.base_unix_micros,
        );
        let (ffmpeg, stdout) = Ffmpeg::spawn(&self.plan.program, &args, "ffmpeg")?;
        let Self {
            plan,
            broadcast,
            meters,
            imports,
        } = self;
        let (broadcast, meters): (&Broadcast, &Meters) = (broadcast, meters);
        let mut stdout = Some(stdout);
        let mut sockets = sockets.into_iter();
        let mut runs = Vec::new();
        let mut wakers: Vec<Box<dyn FnOnce()>> = Vec::new();
        let each = plan.renditions.iter().zip(imports).zip(&meters.renditions);
        for ((rendition, import), meter) in each {
            let thread = match rendition.role {
                Role::Main => "ingest",
                Role::Also => "ingest-also",
                Role::Light => "ingest-light",
            };
            let import: Ingest<'_> = match rendition.role {
                Role::Main => {
                    let stdout = stdout.take().context("the ladder has one main rendition")?;
                    Box::new(move |read: &(dyn Fn() + Sync)| {
                        broadcast.ingest(import, stdout, meter, read)
                    })
                }
                Role::Also | Role::Light => {
                    let Listening {
                        loopback, waker, ..
                    } = sockets
                        .next()
                        .context("a socket for each other rendition")?;
                    wakers.push(waker);
                    Box::new(move |read: &(dyn Fn() + Sync)| {
                        broadcast.ingest(import, loopback, meter, read)
                    })
                }
            };
            runs.push(Output { thread, import });
        }
        let wake = (!wakers.is_empty()).then(|| {
            Box::new(move || wakers.into_iter().for_each(|wake| wake())) as Box<dyn FnOnce()>
        });
        Ok(Run {
            ffmpeg,
            outputs: runs,
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
