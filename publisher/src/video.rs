//! The video, kept going: one ffmpeg capturing once and encoding every rendition, a thread per
//! rendition importing its FLV into the broadcast as it arrives — the main rendition from
//! ffmpeg's stdout, the light one (see [`crate::ladder`]) from a loopback socket (see
//! [`crate::loopback`]) — supervised ([`crate::pipeline`]): restarted when it exits or stalls.
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
use crate::ffmpeg_args::{self, Input, Second, Video};
use crate::ladder::Light;
use crate::loopback::Loopback;
use crate::pipeline::{Ended, Event, Handle, Output, Pipeline, Run, Supervised, lock};
use crate::status::{Meter, VideoState};

/// Frame counters of each rendition and the video's state, for the status line.
#[derive(Clone)]
pub struct Meters {
    pub main: Arc<Mutex<Meter>>,
    pub light: Arc<Mutex<Meter>>,
    pub state: Arc<Mutex<VideoState>>,
}

impl Default for Meters {
    fn default() -> Self {
        Self {
            main: Default::default(),
            light: Default::default(),
            state: Arc::new(Mutex::new(VideoState::Running)),
        }
    }
}

/// What to run: the capture, its encoding and its light rendition.
pub struct Plan {
    pub program: PathBuf,
    pub input: Input,
    pub video: Video,
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
    // Both imports are made before any frame exists: the first catalog lists both renditions.
    let main = broadcast.video_import()?;
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
    /// With a light rendition only.
    light: Option<FlvImport>,
}

impl Pipeline for Capture {
    fn spawn(&mut self) -> anyhow::Result<Run<'_>> {
        let second = match self.plan.light {
            Some(light) => {
                let loopback = Loopback::bind().context("listening for the light rendition")?;
                let url = loopback
                    .url()
                    .context("listening for the light rendition")?;
                let waker = loopback
                    .waker()
                    .context("listening for the light rendition")?;
                Some((Second { light, url }, loopback, waker))
            }
            None => None,
        };
        let args = ffmpeg_args::build(
            &self.plan.input,
            &self.plan.video,
            second.as_ref().map(|(second, ..)| second),
            self.broadcast.base_unix_micros,
        );
        let (ffmpeg, stdout) = Ffmpeg::spawn(&self.plan.program, &args, "ffmpeg")?;
        let Self {
            broadcast,
            meters,
            main,
            light,
            ..
        } = self;
        let (broadcast, meters): (&Broadcast, &Meters) = (broadcast, meters);
        let mut outputs = vec![Output {
            thread: "ingest",
            import: Box::new(move |read: &(dyn Fn() + Sync)| {
                broadcast.ingest(main, stdout, &meters.main, read)
            }),
        }];
        let mut wake = None;
        if let (Some((_, loopback, waker)), Some(light)) = (second, light.as_mut()) {
            wake = Some(Box::new(waker) as Box<dyn FnOnce()>);
            outputs.push(Output {
                thread: "ingest-light",
                import: Box::new(move |read: &(dyn Fn() + Sync)| {
                    broadcast.ingest(light, loopback, &meters.light, read)
                }),
            });
        }
        Ok(Run {
            ffmpeg,
            outputs,
            wake,
        })
    }
}
