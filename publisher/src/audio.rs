//! Keeping the audio going, beside the video and never in its way: a second ffmpeg (see
//! [`crate::audio_args`]) whose MPEG-TS output is imported into the same broadcast.
//!
//! - A device the user named that cannot be opened is an error: the publisher stops and says why,
//!   with the list of devices ffmpeg can see (or why it can't list them).
//! - Audio the publisher chose by itself (the default device, a file's sound) that cannot start is a
//!   warning or a notice: the video goes on alone.
//! - Audio that stops after running is restarted with the reconnect backoff; the video goes on
//!   meanwhile.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::audio_args::{self, Platform, Source};
use crate::audio_clock::AudioClock;
use crate::backoff::Backoff;
use crate::broadcast::{Broadcast, unix_micros};
use crate::ffmpeg::Ffmpeg;
use crate::status::{AudioMeter, AudioState};

/// A run shorter than this that ends counts as a failed start for the backoff.
const STABLE_RUN: Duration = Duration::from_secs(10);

/// What to capture, and whether failing to start is fatal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub source: Source,
    /// The user asked for this device (`--audio-device`): not opening it is an error.
    pub required: bool,
}

/// The running audio supervisor.
pub struct Handle {
    stop: Arc<AtomicBool>,
    running: Arc<Mutex<Option<Ffmpeg>>>,
}

impl Handle {
    /// Stop the audio ffmpeg (and don't restart it).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(mut ffmpeg) = lock(&self.running).take() {
            ffmpeg.kill();
        }
    }
}

/// Start capturing `plan` on its own thread. A fatal problem (a required device that won't open)
/// is sent on `fatal`.
pub fn start(
    program: PathBuf,
    plan: Plan,
    settings: audio_args::Audio,
    broadcast: Arc<Broadcast>,
    meter: Arc<Mutex<AudioMeter>>,
    fatal: tokio::sync::mpsc::UnboundedSender<anyhow::Error>,
) -> anyhow::Result<Handle> {
    let stop = Arc::new(AtomicBool::new(false));
    let running = Arc::new(Mutex::new(None));
    let handle = Handle {
        stop: stop.clone(),
        running: running.clone(),
    };
    std::thread::Builder::new()
        .name("audio".into())
        .spawn(move || {
            let supervisor = Supervisor {
                program,
                plan,
                settings,
                broadcast,
                meter,
                stop,
                running,
            };
            if let Err(err) = supervisor.run() {
                let _ = fatal.send(err);
            }
        })
        .context("starting the audio thread")?;
    Ok(handle)
}

struct Supervisor {
    program: PathBuf,
    plan: Plan,
    settings: audio_args::Audio,
    broadcast: Arc<Broadcast>,
    meter: Arc<Mutex<AudioMeter>>,
    stop: Arc<AtomicBool>,
    running: Arc<Mutex<Option<Ffmpeg>>>,
}

impl Supervisor {
    /// Capture until stopped; an error is fatal for the publisher.
    fn run(&self) -> anyhow::Result<()> {
        // A negative offset makes the first stamps earlier than ffmpeg's start: wait until they
        // are past the broadcast's zero (the TS muxer would shift negative stamps).
        if self.settings.offset_us < 0 {
            let ready =
                self.broadcast.base_unix_micros + self.settings.offset_us.unsigned_abs() + 100_000;
            let wait = ready.saturating_sub(unix_micros());
            self.sleep(Duration::from_micros(wait));
        }
        let mut backoff = Backoff::default();
        let mut ever_ran = false;
        // The device's drift, learnt once and kept across restarts.
        let mut clock = AudioClock::default();
        loop {
            if self.stopped() {
                return Ok(());
            }
            self.set(AudioState::Starting);
            let args = audio_args::build(
                &self.plan.source,
                &self.settings,
                self.broadcast.base_unix_micros,
            );
            let (ffmpeg, stdout) = Ffmpeg::spawn(&self.program, &args, "ffmpeg (audio)")?;
            *lock(&self.running) = Some(ffmpeg);
            let started = Instant::now();
            let (received, result) =
                self.broadcast
                    .ingest_audio(stdout, self.settings.codec, &self.meter, &mut clock);
            let ffmpeg = lock(&self.running).take();
            if self.stopped() {
                return Ok(());
            }
            let why = match (ffmpeg, result) {
                (Some(mut ffmpeg), Ok(())) => ffmpeg.finish().into(),
                (Some(mut ffmpeg), Err(err)) => {
                    ffmpeg.kill();
                    err
                }
                (None, _) => return Ok(()), // stopped meanwhile
            };
            if !received && !ever_ran {
                return self.could_not_start(why);
            }
            ever_ran = true;
            if started.elapsed() >= STABLE_RUN {
                backoff.succeeded();
            }
            self.set(AudioState::Retrying);
            let (wait, attempt) = backoff.failed();
            eprintln!(
                "publisher: warning: the audio stopped ({why:#}); the video goes on; \
                 restarting the audio in {:.1} s (attempt {attempt})",
                wait.as_secs_f64()
            );
            self.sleep(wait);
        }
    }

    /// The first start failed: an error for a device the user named, otherwise a warning.
    fn could_not_start(&self, why: anyhow::Error) -> anyhow::Result<()> {
        let why = format!("{why:#}");
        match &self.plan.source {
            Source::Device { platform, name } if self.plan.required => {
                let listing = match list_devices(&self.program, *platform) {
                    Ok(list) => format!("audio devices ffmpeg can see:\n{list}"),
                    Err(err) => format!("and the audio devices could not be listed either: {err}"),
                };
                anyhow::bail!(
                    "cannot open the audio device {name:?}: {why}\n{listing}\n\
                     Pick a device with --audio-device NAME, or publish without sound with --no-audio"
                );
            }
            Source::Device { name, .. } => {
                self.set(AudioState::Failed);
                eprintln!(
                    "publisher: warning: no audio: cannot open the audio device {name:?} ({why}). \
                     The video goes on without sound; pick a device with --audio-device NAME \
                     (see --list-devices), or pass --no-audio to silence this warning"
                );
            }
            Source::File(_) | Source::Url(_) if why.contains("matches no streams") => {
                self.set(AudioState::Off);
                eprintln!("publisher: the source has no audio stream; publishing video only");
            }
            Source::File(_) | Source::Url(_) | Source::TestTone => {
                self.set(AudioState::Failed);
                eprintln!(
                    "publisher: warning: no audio: its ffmpeg could not start ({why}); \
                     the video goes on without sound"
                );
            }
        }
        Ok(())
    }

    fn set(&self, state: AudioState) {
        lock(&self.meter).state = state;
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
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }
}

/// The audio devices ffmpeg can see on `platform`, as ffmpeg prints them; or why not.
pub fn list_devices(program: &Path, platform: Platform) -> Result<String, String> {
    let out = std::process::Command::new(program)
        .args(platform.list_devices_args())
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|err| format!("cannot run {}: {err}", program.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = text.trim_end().to_string();
    match platform {
        // `-sources pulse` exits 0 even when it fails, saying so.
        Platform::Linux if text.contains("Cannot list sources") => Err(format!(
            "{} (is a PulseAudio or PipeWire server running for this user?)",
            text.lines()
                .find(|l| l.contains("Cannot list sources"))
                .unwrap_or(&text)
                .trim()
        )),
        Platform::Linux if !out.status.success() => Err(text),
        // dshow and avfoundation list through an input that then fails: the exit status says
        // nothing, the text is the list.
        _ if text.is_empty() => Err("ffmpeg printed nothing".into()),
        _ => Ok(text),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
