//! Running ffmpeg (through `ffmpeg-sidecar`): start it, hand out its stdout, and keep its log.
//!
//! ffmpeg's stderr is drained on its own thread the whole time (a full pipe would stall the
//! encoder); warnings and errors are echoed, and the last few are kept so that when ffmpeg stops
//! the publisher can say why.

use std::collections::VecDeque;
use std::path::Path;
use std::process::ChildStdout;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use ffmpeg_sidecar::child::FfmpegChild;
use ffmpeg_sidecar::command::FfmpegCommand;
use ffmpeg_sidecar::event::{FfmpegEvent, LogLevel};

const KEPT_LOG_LINES: usize = 12;
/// How long ffmpeg may take to exit once an output of it has ended.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// How to get ffmpeg, for the error shown when it cannot be started.
pub const INSTALL_HELP: &str = "install ffmpeg 5.1 or newer and make sure `ffmpeg` is on PATH \
     (Debian/Ubuntu: `sudo apt install ffmpeg`; macOS: `brew install ffmpeg`; Windows: \
     `winget install ffmpeg`), or pass its location with --ffmpeg PATH";

/// A running ffmpeg.
pub struct Ffmpeg {
    child: FfmpegChild,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Ffmpeg {
    /// Start `program` with `args`; its stdout is returned for the caller to read. Its warnings
    /// are echoed as `<label>: …`.
    pub fn spawn(
        program: &Path,
        args: &[String],
        label: &'static str,
    ) -> anyhow::Result<(Self, ChildStdout)> {
        let mut child = FfmpegCommand::new_with_path(program)
            .args(args)
            .spawn()
            .map_err(|err| match err.kind() {
                std::io::ErrorKind::NotFound => {
                    anyhow::anyhow!(
                        "ffmpeg not found at `{}`: {INSTALL_HELP}",
                        program.display()
                    )
                }
                _ => anyhow::Error::new(err).context(format!("starting {}", program.display())),
            })?;
        let stdout = child
            .take_stdout()
            .context("ffmpeg's stdout is not piped")?;
        let events = child.iter().context("reading ffmpeg's log")?;
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let kept = log.clone();
        std::thread::Builder::new()
            .name("ffmpeg-log".into())
            .spawn(move || {
                for event in events {
                    if let Some(line) = problem(&event) {
                        eprintln!("{label}: {line}");
                        let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
                        if kept.len() == KEPT_LOG_LINES {
                            kept.pop_front();
                        }
                        kept.push_back(line);
                    }
                }
            })
            .context("starting the ffmpeg log thread")?;
        Ok((Self { child, log }, stdout))
    }

    /// Wait for ffmpeg to exit (after an output of it ended) and say how it ended. One that keeps
    /// running regardless (another output still open) is stopped after a moment.
    pub fn finish(&mut self) -> Stopped {
        let child = self.child.as_inner_mut();
        let deadline = Instant::now() + EXIT_GRACE;
        let status = loop {
            match child.try_wait() {
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = child.kill();
                    break child.wait();
                }
                Ok(Some(status)) => break Ok(status),
                Err(err) => break Err(err),
            }
        };
        // Give the log thread a moment to take the final lines.
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        Stopped {
            status: match status {
                Ok(status) => status.to_string(),
                Err(err) => err.to_string(),
            },
            log: log.iter().cloned().collect(),
        }
    }

    /// Stop ffmpeg now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How an ffmpeg ended: its exit status, and its last warnings and errors.
#[derive(Debug)]
pub struct Stopped {
    /// The exit status (`exit status: 1`, `signal: 9 (SIGKILL)`), or why it is unknown.
    pub status: String,
    log: Vec<String>,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ffmpeg stopped ({})", self.status)?;
        if !self.log.is_empty() {
            write!(f, "; its last messages:\n  {}", self.log.join("\n  "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Stopped {}

/// The warning or error an event carries, if any.
fn problem(event: &FfmpegEvent) -> Option<String> {
    match event {
        FfmpegEvent::Log(LogLevel::Warning | LogLevel::Error | LogLevel::Fatal, line) => {
            Some(line.trim().to_string())
        }
        FfmpegEvent::Error(line) => Some(line.trim().to_string()),
        _ => None,
    }
}
