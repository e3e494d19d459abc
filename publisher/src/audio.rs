//! Keeping the audio going, beside the video and never in its way: a second ffmpeg (see
//! [`crate::audio_args`]) whose MPEG-TS output is imported into the same broadcast, supervised as
//! the video is ([`crate::pipeline`]).
//!
//! - A device the user named that cannot be opened is an error: the publisher stops and says why,
//!   with the list of devices ffmpeg can see (or why it can't list them).
//! - Audio the publisher chose by itself (the default device, a file's sound) that cannot start is a
//!   warning or a notice: the video goes on alone.
//! - Audio that exits or stalls after running is restarted with the reconnect backoff, into the
//!   same track and catalog rendition (see [`crate::audio_import::Import::next_run`]): viewers
//!   hear a pause, and their video goes on untouched. Audio that then keeps failing is given up
//!   with a warning; the video goes on.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;

use crate::audio_args::{self, Platform, Source};
use crate::audio_clock::AudioClock;
use crate::audio_import::Import;
use crate::broadcast::{Broadcast, unix_micros};
use crate::ffmpeg::Ffmpeg;
use crate::pipeline::{Ended, Event, Handle, Output, Pipeline, Run, Supervised, lock};
use crate::status::{AudioMeter, AudioState};

/// The longest audio packet ffmpeg writes here (Opus 20 ms, AAC ≈ 21 ms, AC-3 32 ms): a stall
/// is judged on it (see [`crate::supervise`]).
const PACKET_INTERVAL: Duration = Duration::from_millis(32);

/// What to capture, and whether failing to start is fatal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub source: Source,
    /// The user asked for this device (`--audio-device`): not opening it is an error.
    pub required: bool,
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
    let state = meter.clone();
    let mut supervised = Supervised::new("audio", PACKET_INTERVAL, move |event: Event| {
        lock(&state).state = match event {
            Event::Flowing => AudioState::Live,
            Event::Restarting(why) => AudioState::Restarting(why.into()),
        }
    });
    let handle = supervised.handle();
    let stop = handle.clone();
    std::thread::Builder::new()
        .name("audio".into())
        .spawn(move || {
            let mut capture = Capture {
                program,
                plan,
                settings,
                broadcast,
                meter,
                import: None,
                clock: AudioClock::default(),
            };
            // A negative offset makes the first stamps earlier than ffmpeg's start: wait until
            // they are past the broadcast's zero (the TS muxer would shift negative stamps).
            if capture.settings.offset_us < 0 {
                let ready = capture.broadcast.base_unix_micros
                    + capture.settings.offset_us.unsigned_abs()
                    + 100_000;
                stop.sleep(Duration::from_micros(ready.saturating_sub(unix_micros())));
            }
            let result = supervised
                .run(&mut capture)
                .and_then(|ended| capture.ended(ended));
            if let Some(import) = &mut capture.import {
                let _ = import.finish();
            }
            if let Err(err) = result {
                let _ = fatal.send(err);
            }
        })
        .context("starting the audio thread")?;
    Ok(handle)
}

/// The audio pipeline: its ffmpeg's arguments, and the import and clock its runs continue.
struct Capture {
    program: PathBuf,
    plan: Plan,
    settings: audio_args::Audio,
    broadcast: Arc<Broadcast>,
    meter: Arc<Mutex<AudioMeter>>,
    /// Made on the first bytes (see [`Broadcast::audio_import`]), then kept.
    import: Option<Import>,
    /// The device's drift, learnt once and kept across restarts.
    clock: AudioClock,
}

impl Pipeline for Capture {
    fn spawn(&mut self) -> anyhow::Result<Run<'_>> {
        let args = audio_args::build(
            &self.plan.source,
            &self.settings,
            self.broadcast.base_unix_micros,
        );
        let (ffmpeg, stdout) = Ffmpeg::spawn(&self.program, &args, "ffmpeg (audio)")?;
        let import = Box::new(move |read: &(dyn Fn() + Sync)| self.ingest(stdout, read));
        Ok(Run {
            ffmpeg,
            outputs: vec![Output {
                thread: "ingest-audio",
                import,
            }],
            wake: None,
        })
    }
}

impl Capture {
    /// Read one run's MPEG-TS output until it ends, publishing each packet into the broadcast the
    /// moment it arrives, stamped by the clock (a new timeline for each run, kept on the wall
    /// clock the video's stamps follow), and calling `read` for every read. Blocking.
    fn ingest(&mut self, mut ts: impl Read, read: &dyn Fn()) -> anyhow::Result<()> {
        self.clock.restart();
        if let Some(import) = &mut self.import {
            import.next_run();
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = ts
                .read(&mut buf)
                .context("reading the audio ffmpeg's output")?;
            if n == 0 {
                return Ok(());
            }
            read();
            let read_us = unix_micros() as i64 - self.broadcast.base_unix_micros as i64;
            let import = self
                .import
                .get_or_insert_with(|| self.broadcast.audio_import(self.settings.codec));
            let meter = &self.meter;
            import
                .decode(&buf[..n], read_us, &mut self.clock, |stamp| {
                    lock(meter).packet(stamp.map(|us| (read_us - us) as f64 / 1000.0));
                })
                .context("importing the audio ffmpeg's MPEG-TS output")?;
        }
    }

    /// Supervision ended: how the audio ends, an error only for a device the user named.
    fn ended(&self, ended: Ended) -> anyhow::Result<()> {
        match ended {
            Ended::Stopped => Ok(()),
            Ended::CannotStart(why) => self.could_not_start(why),
            Ended::GaveUp(why) => {
                self.set(AudioState::Failed);
                eprintln!(
                    "publisher: warning: the audio is given up ({why:#}); \
                     the video goes on without sound"
                );
                Ok(())
            }
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
