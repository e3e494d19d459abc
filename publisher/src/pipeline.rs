//! One ffmpeg kept running — the glue the video ([`crate::video`]) and the audio
//! ([`crate::audio`]) share: start a run, import each of its outputs on a thread of its own,
//! watch for its end or a stall, and restart it or give up as [`crate::supervise`] decides.
//!
//! The imports belong to the [`Pipeline`] and outlive its runs (each run borrows them), so a
//! restarted ffmpeg continues the same tracks in the same broadcast, catalog and clock: viewers
//! see, or hear, a pause, not a new stream.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::ffmpeg::Ffmpeg;
use crate::supervise::{Action, Supervisor};

/// How often a run is checked for output and for a stall.
const TICK: Duration = Duration::from_millis(100);

/// What a supervised pipeline runs, again and again: one ffmpeg, and a job per output of it.
pub trait Pipeline {
    /// Start the next run of ffmpeg.
    fn spawn(&mut self) -> anyhow::Result<Run<'_>>;
}

/// One run: the ffmpeg, and what imports its outputs.
pub struct Run<'a> {
    pub ffmpeg: Ffmpeg,
    pub outputs: Vec<Output<'a>>,
    /// Ends a wait that ffmpeg's end alone would not (a socket ffmpeg never connected to).
    pub wake: Option<Box<dyn FnOnce() + 'a>>,
}

/// One output of a run and its import, run on a thread named `thread`.
pub struct Output<'a> {
    pub thread: &'static str,
    pub import: Ingest<'a>,
}

/// Imports an output until it ends, calling its argument for every read.
pub type Ingest<'a> = Box<dyn FnOnce(&(dyn Fn() + Sync)) -> anyhow::Result<()> + Send + 'a>;

/// What the pipeline is doing, for the status line.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Its run's output is flowing.
    Flowing,
    /// Its run ended (`ffmpeg exited: …`, `ffmpeg stalled: …`); the next one is coming.
    Restarting(&'a str),
}

/// How the supervision of a pipeline ended.
#[derive(Debug)]
pub enum Ended {
    /// [`Handle::stop`] was called.
    Stopped,
    /// The first run ended without any output: why.
    CannotStart(anyhow::Error),
    /// It worked, then kept ending without output: why.
    GaveUp(anyhow::Error),
}

/// Stops a supervised pipeline: its ffmpeg is killed and not restarted.
#[derive(Clone, Default)]
pub struct Handle {
    stop: Arc<AtomicBool>,
    running: Arc<Mutex<Option<Ffmpeg>>>,
}

impl Handle {
    /// Stop the pipeline's ffmpeg, and don't restart it.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.kill();
    }

    /// Sleep up to `duration`, returning early when stopped.
    pub fn sleep(&self, duration: Duration) {
        let until = Instant::now() + duration;
        while !self.stopped() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(TICK));
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn kill(&self) {
        if let Some(mut ffmpeg) = lock(&self.running).take() {
            ffmpeg.kill();
        }
    }
}

/// A pipeline's supervision: its policy, its stop switch, and where it reports what it does.
pub struct Supervised<R> {
    /// `video` or `audio`, for the warnings.
    label: &'static str,
    handle: Handle,
    supervisor: Supervisor,
    report: R,
}

impl<R: FnMut(Event)> Supervised<R> {
    /// Supervise the `label` pipeline, producing output every `frame_interval`, reporting to
    /// `report`.
    pub fn new(label: &'static str, frame_interval: Duration, report: R) -> Self {
        Self {
            label,
            handle: Handle::default(),
            supervisor: Supervisor::new(frame_interval),
            report,
        }
    }

    /// The switch that stops it.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Run `pipeline` again and again until stopped or given up on; an error (ffmpeg missing, a
    /// thread that cannot start) ends it at once.
    pub fn run(&mut self, pipeline: &mut impl Pipeline) -> anyhow::Result<Ended> {
        loop {
            let Some((short, full)) = self.run_once(pipeline)? else {
                return Ok(Ended::Stopped);
            };
            match self.supervisor.ended(&short) {
                Action::Restart { after, attempt } => {
                    (self.report)(Event::Restarting(&short));
                    eprintln!(
                        "publisher: warning: the {} stopped ({full:#}); \
                         restarting it in {:.1} s (attempt {attempt})",
                        self.label,
                        after.as_secs_f64()
                    );
                    self.handle.sleep(after);
                }
                Action::CannotStart => return Ok(Ended::CannotStart(full)),
                Action::GiveUp(why) => return Ok(Ended::GaveUp(full.context(why))),
            }
        }
    }

    /// One run, until its outputs end or it is killed as stalled: why it ended (short, for the
    /// status line, and in full), or nothing when stopped.
    fn run_once(
        &mut self,
        pipeline: &mut impl Pipeline,
    ) -> anyhow::Result<Option<(String, anyhow::Error)>> {
        if self.handle.stopped() {
            return Ok(None);
        }
        let Run {
            ffmpeg,
            outputs,
            mut wake,
        } = pipeline.spawn()?;
        *lock(&self.handle.running) = Some(ffmpeg);
        self.supervisor.started(Instant::now());
        let reads = AtomicU64::new(0);
        let (ended_tx, ended) = mpsc::channel();
        let why = std::thread::scope(|scope| {
            let mut ingesting = 0;
            let mut spawned = Ok(());
            for Output { thread, import } in outputs {
                let (ended_tx, reads) = (ended_tx.clone(), &reads);
                let started = std::thread::Builder::new()
                    .name(thread.into())
                    .spawn_scoped(scope, move || {
                        let result = import(&|| {
                            reads.fetch_add(1, Ordering::Relaxed);
                        });
                        let _ = ended_tx.send(result);
                    })
                    .with_context(|| format!("starting the {thread} thread"));
                match started {
                    Ok(_) => ingesting += 1,
                    Err(err) => {
                        spawned = Err(err);
                        break;
                    }
                }
            }
            drop(ended_tx);
            if spawned.is_err() {
                self.end_run(&mut wake);
            }

            let (mut why, mut seen, mut flowing) = (None, 0, false);
            while ingesting > 0 {
                let next = ended.recv_timeout(TICK);
                let now = Instant::now();
                let count = reads.load(Ordering::Relaxed);
                if count != seen {
                    seen = count;
                    self.supervisor.output(now);
                    if !flowing {
                        flowing = true;
                        (self.report)(Event::Flowing);
                    }
                }
                match next {
                    Ok(result) => {
                        ingesting -= 1;
                        if why.is_none() {
                            why = Some(self.ended(result));
                        }
                        self.end_run(&mut wake);
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        let stalled = self.supervisor.tick(now).filter(|_| why.is_none());
                        if let Some(quiet) = stalled {
                            let short = format!(
                                "ffmpeg stalled: no frame for {:.1} s",
                                quiet.as_secs_f64()
                            );
                            why = Some((short.clone(), anyhow::anyhow!("{short}; killed it")));
                        }
                        if stalled.is_some() || self.handle.stopped() {
                            self.end_run(&mut wake);
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        anyhow::bail!("the {} import threads died", self.label)
                    }
                }
            }
            spawned.map(|()| why)
        })?;
        if self.handle.stopped() {
            return Ok(None);
        }
        Ok(why)
    }

    /// Kill the run's ffmpeg, if still running, and end whatever waits on it.
    fn end_run(&self, wake: &mut Option<Box<dyn FnOnce() + '_>>) {
        self.handle.kill();
        if let Some(wake) = wake.take() {
            wake();
        }
    }

    /// An import ended with `result`: why the run ended.
    fn ended(&self, result: anyhow::Result<()>) -> (String, anyhow::Error) {
        let ffmpeg = lock(&self.handle.running).take();
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
}

/// Lock `mutex`, whatever a thread that panicked holding it left there (counters and states:
/// nothing a panic can leave half-made).
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
