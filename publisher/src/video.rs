//! The video, kept going: one ffmpeg capturing once and encoding every rendition, a thread per
//! rendition importing its FLV into the broadcast as it arrives — the main rendition from
//! ffmpeg's stdout, the light one (see [`crate::ladder`]) from a loopback socket (see
//! [`crate::loopback`]) — and a supervisor thread that restarts ffmpeg when it exits or stalls,
//! as [`crate::supervise`] decides.
//!
//! The imports outlive the runs (see [`crate::flv_runs`]): a restarted ffmpeg continues the same
//! tracks in the same catalog, with a new group at its first keyframe, so viewers see a pause,
//! not a new stream.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::broadcast::{Broadcast, FlvImport};
use crate::ffmpeg::Ffmpeg;
use crate::ffmpeg_args::{self, Input, Second, Video};
use crate::ladder::Light;
use crate::loopback::Loopback;
use crate::status::{Meter, VideoState};
use crate::supervise::{Action, Supervisor};

/// How often a running ffmpeg is checked for a stall.
const TICK: Duration = Duration::from_millis(100);

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

/// The running video supervisor.
pub struct Handle {
    stop: Arc<AtomicBool>,
    running: Arc<Mutex<Option<Ffmpeg>>>,
}

impl Handle {
    /// Stop the video ffmpeg, and don't restart it.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(mut ffmpeg) = lock(&self.running).take() {
            ffmpeg.kill();
        }
    }
}

/// Start capturing `plan` into `broadcast` on its own thread, counting on `meters`. A fatal
/// problem (ffmpeg missing, or giving up on it) is sent on `fatal`.
pub fn start(
    plan: Plan,
    broadcast: Arc<Broadcast>,
    meters: Meters,
    fatal: tokio::sync::mpsc::UnboundedSender<anyhow::Error>,
) -> anyhow::Result<Handle> {
    let stop = Arc::new(AtomicBool::new(false));
    let running = Arc::new(Mutex::new(None));
    let handle = Handle {
        stop: stop.clone(),
        running: running.clone(),
    };
    // Both imports are made before any frame exists: the first catalog lists both renditions.
    let main = broadcast.video_import()?;
    let light = match plan.light {
        Some(_) => Some(broadcast.video_import()?),
        None => None,
    };
    let supervisor = Supervisor::new(Duration::from_secs(1) / plan.video.fps.max(1));
    let mut job = Job {
        plan,
        broadcast,
        meters,
        stop,
        running,
        supervisor,
        imports: [Some(main), light],
    };
    std::thread::Builder::new()
        .name("video".into())
        .spawn(move || {
            if let Err(err) = job.run() {
                let _ = fatal.send(err);
            }
        })
        .context("starting the video thread")?;
    Ok(handle)
}

/// Which rendition an ingest thread reads.
#[derive(Clone, Copy)]
enum Rendition {
    Main = 0,
    Light = 1,
}

/// What an ingest thread reports.
enum Ingested {
    Output,
    /// Its run's output ended: the import comes back for the next run.
    Ended(Rendition, Box<FlvImport>, anyhow::Result<()>),
}

struct Job {
    plan: Plan,
    broadcast: Arc<Broadcast>,
    meters: Meters,
    stop: Arc<AtomicBool>,
    running: Arc<Mutex<Option<Ffmpeg>>>,
    supervisor: Supervisor,
    /// Each rendition's import, between runs (the light one only with a light rendition).
    imports: [Option<FlvImport>; 2],
}

impl Job {
    /// Run ffmpeg again and again until stopped; an error is fatal for the publisher.
    fn run(&mut self) -> anyhow::Result<()> {
        loop {
            let Some((short, full)) = self.run_once()? else {
                return Ok(()); // stopped
            };
            match self.supervisor.ended(&short) {
                Action::Restart { after, attempt } => {
                    *lock(&self.meters.state) = VideoState::Restarting(short);
                    eprintln!(
                        "publisher: warning: the video stopped ({full:#}); \
                         restarting it in {:.1} s (attempt {attempt})",
                        after.as_secs_f64()
                    );
                    self.sleep(after);
                }
                Action::GiveUp(why) => anyhow::bail!("the video cannot run: {why}\n{full:#}"),
            }
        }
    }

    /// One run of ffmpeg, until it exits or is killed as stalled: why it ended (short, for the
    /// status line, and in full), or nothing when stopped.
    fn run_once(&mut self) -> anyhow::Result<Option<(String, anyhow::Error)>> {
        if self.stopped() {
            return Ok(None);
        }
        let (events, ingested) = mpsc::channel();
        let second = match self.plan.light {
            Some(light) => {
                let loopback = Loopback::bind().context("listening for the light rendition")?;
                let url = loopback
                    .url()
                    .context("listening for the light rendition")?;
                let wake = loopback
                    .waker()
                    .context("listening for the light rendition")?;
                Some((Second { light, url }, loopback, wake))
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
        *lock(&self.running) = Some(ffmpeg);
        self.supervisor.started(Instant::now());
        let mut ingesting = 1;
        self.ingest(Rendition::Main, stdout, &events)?;
        let mut wake = None;
        if let Some((_, loopback, waker)) = second {
            self.ingest(Rendition::Light, loopback, &events)?;
            ingesting += 1;
            wake = Some(waker);
        }
        drop(events);

        let mut why = None;
        while ingesting > 0 {
            match ingested.recv_timeout(TICK) {
                Ok(Ingested::Output) => {
                    self.supervisor.output(Instant::now());
                    let mut state = lock(&self.meters.state);
                    if *state != VideoState::Running {
                        *state = VideoState::Running;
                    }
                }
                Ok(Ingested::Ended(rendition, import, result)) => {
                    self.imports[rendition as usize] = Some(*import);
                    ingesting -= 1;
                    if why.is_none() {
                        why = Some(self.ended(result));
                    }
                    self.kill();
                    if let Some(wake) = wake.take() {
                        wake();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let stalled = self
                        .supervisor
                        .tick(Instant::now())
                        .filter(|_| why.is_none());
                    if let Some(quiet) = stalled {
                        let short =
                            format!("ffmpeg stalled: no frame for {:.1} s", quiet.as_secs_f64());
                        why = Some((short.clone(), anyhow::anyhow!("{short}; killed it")));
                    }
                    if stalled.is_some() || self.stopped() {
                        self.kill();
                        if let Some(wake) = wake.take() {
                            wake();
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    anyhow::bail!("the video's ingest threads died")
                }
            }
        }
        if self.stopped() {
            return Ok(None);
        }
        Ok(why)
    }

    /// An ingest ended with `result`: why the run ended. ffmpeg is stopped by then.
    fn ended(&mut self, result: anyhow::Result<()>) -> (String, anyhow::Error) {
        let ffmpeg = lock(&self.running).take();
        match (ffmpeg, result) {
            // Its output ended: ffmpeg is exiting and its status and log say why.
            (Some(mut ffmpeg), Ok(())) => {
                let stopped = ffmpeg.finish();
                (format!("ffmpeg exited: {}", stopped.status), stopped.into())
            }
            (ffmpeg, Err(err)) => {
                if let Some(mut ffmpeg) = ffmpeg {
                    ffmpeg.kill();
                }
                (format!("{err:#}"), err)
            }
            (None, Ok(())) => ("stopped".into(), anyhow::anyhow!("stopped")),
        }
    }

    /// Import what `flv` carries into `rendition`'s import on its own thread, until it ends.
    fn ingest(
        &mut self,
        rendition: Rendition,
        flv: impl std::io::Read + Send + 'static,
        events: &mpsc::Sender<Ingested>,
    ) -> anyhow::Result<()> {
        let (name, meter) = match rendition {
            Rendition::Main => ("ingest", self.meters.main.clone()),
            Rendition::Light => ("ingest-light", self.meters.light.clone()),
        };
        let mut import = self.imports[rendition as usize]
            .take()
            .context("the rendition's import is in use")?;
        let (broadcast, events) = (self.broadcast.clone(), events.clone());
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let result = broadcast.ingest(&mut import, flv, &meter, || {
                    let _ = events.send(Ingested::Output);
                });
                let _ = events.send(Ingested::Ended(rendition, Box::new(import), result));
            })
            .with_context(|| format!("starting the {name} thread"))?;
        Ok(())
    }

    /// Kill the running ffmpeg, if any.
    fn kill(&self) {
        if let Some(mut ffmpeg) = lock(&self.running).take() {
            ffmpeg.kill();
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleep up to `duration`, returning early when stopped.
    fn sleep(&self, duration: Duration) {
        let until = Instant::now() + duration;
        while !self.stopped() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(TICK));
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
