//! Trying the video candidates at start (see [`crate::plan`]): each one's capture and encoder run
//! for a few frames ([`ffmpeg_args::probe`]), in order, until one works; each failure is printed
//! as one line. The decisions are [`plan::Choice`]'s; this only runs ffmpeg and times it out.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::encoder::Encoder;
use crate::ffmpeg::INSTALL_HELP;
use crate::ffmpeg_args;
use crate::plan::{self, Candidate, Choice, Outcome};
use crate::rendition::Video;

/// How long a probe may take to encode its few frames. Generous: opening a hardware encoder
/// takes a second or two, and ffmpeg under Wine starts in about 4 s.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The first of `candidates` that works with `video`'s settings, run by `program`; with more
/// than one, each failure is printed as it happens. An error (one line) says why the last one
/// failed.
pub fn choose(
    program: &Path,
    candidates: Vec<Candidate>,
    video: &Video,
) -> anyhow::Result<Candidate> {
    let screen = candidates.iter().any(|c| c.input.is_screen());
    let several = candidates.len() > 1;
    let mut choice = Choice::new(candidates);
    let mut last = None;
    while let Some(candidate) = choice.next() {
        let settings = Video {
            encoder: candidate.encoder,
            ..video.clone()
        };
        let args = ffmpeg_args::probe(&candidate.input, &settings);
        let outcome = run(program, &args)?;
        match choice.outcome(&candidate, outcome) {
            None => return Ok(candidate),
            Some(line) => {
                if several {
                    eprintln!("publisher: {line}");
                }
                last = Some(line);
            }
        }
    }
    let last = last.unwrap_or_else(|| "no candidate to try".into());
    match screen {
        true => anyhow::bail!(
            "no screen to capture: {last}; publish the test pattern with --source test"
        ),
        false => anyhow::bail!("cannot encode the video: {last}"),
    }
}

/// Whether `candidate`'s capture encodes with `encoder` too (the main picture in a second
/// codec, see [`plan::also_encoder`]); `Err` is the one-line reason it does not.
pub fn also_works(
    program: &Path,
    candidate: &Candidate,
    video: &Video,
    encoder: Encoder,
) -> anyhow::Result<Result<(), String>> {
    let settings = Video {
        encoder,
        ..video.clone()
    };
    let args = ffmpeg_args::probe(&candidate.input, &settings);
    Ok(match run(program, &args)? {
        Outcome::Worked => Ok(()),
        Outcome::Failed { why, .. } => Err(format!("{}: {why}", encoder.name())),
    })
}

/// Run one probe: ffmpeg `args`, its output discarded, its log kept to say why it failed.
fn run(program: &Path, args: &[String]) -> anyhow::Result<Outcome> {
    let mut child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!(
                "ffmpeg not found at `{}`: {INSTALL_HELP}",
                program.display()
            )
        }
        Err(err) => anyhow::bail!("cannot start {}: {err}", program.display()),
    };
    let mut stderr = child.stderr.take();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(stderr) = stderr.as_mut() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if started.elapsed() > PROBE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = log.join().unwrap_or_default();
    let target = args
        .iter()
        .position(|a| a == "-i")
        .and_then(|at| args.get(at + 1))
        .map_or("", String::as_str);
    Ok(match status {
        Some(status) if status.success() => Outcome::Worked,
        Some(_) => Outcome::Failed {
            why: plan::failure_line(&text),
            at_input: plan::failed_at_input(&text, target),
        },
        None => Outcome::Failed {
            why: format!(
                "no {} frames in {} s",
                ffmpeg_args::PROBE_FRAMES,
                PROBE_TIMEOUT.as_secs()
            ),
            at_input: false,
        },
    })
}
