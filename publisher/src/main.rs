//! `publisher`: capture with ffmpeg, publish over Media over QUIC.
//!
//! ffmpeg writes FLV to a pipe; moq-mux imports it into a hang broadcast as it arrives; moq-tokio
//! keeps that broadcast published on the relay, reconnecting when needed. A status line shows the
//! state, frame rate, bitrate, frames sent and ingest latency. The sound comes from a second ffmpeg
//! writing MPEG-TS to another pipe, imported into the same broadcast on the same clock, so audio
//! can never hold back or break the video.

mod audio;
mod audio_args;
mod av_sync;
mod backoff;
mod broadcast;
mod cli;
mod ffmpeg;
mod ffmpeg_args;
mod flv_tags;
mod pixel_clock;
mod session;
mod status;
mod ts_pes;

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use crate::audio_args::{Platform, Source as AudioSource};
use crate::broadcast::{Broadcast, unix_millis};
use crate::cli::{Args, Source};
use crate::status::{AudioMeter, AudioState, Meter, State};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,moq_sock=error,moq_tokio::noq=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(err) = run(Args::parse()).await {
        eprintln!("publisher: error: {err:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.list_devices {
        return match audio::list_devices(&args.ffmpeg, Platform::current()) {
            Ok(list) => {
                println!("{list}");
                Ok(())
            }
            Err(err) => Err(anyhow::anyhow!("cannot list the audio devices: {err}")),
        };
    }
    let input = input(&args)?;
    let audio_plan = audio_plan(&args);
    let audio_settings = audio_args::Audio {
        codec: args.audio_codec,
        bitrate_kbps: args
            .audio_bitrate
            .unwrap_or_else(|| args.audio_codec.default_kbps()),
        offset_us: i64::from(args.audio_offset) * 1000,
    };
    let video = ffmpeg_args::Video {
        width: args.size.0,
        height: args.size.1,
        fps: args.fps,
        bitrate_kbps: args.bitrate,
        pixel_clock: args.pixel_clock,
        ..Default::default()
    };
    let _ = moq_tokio::crypto::install_default();

    if args.no_video && audio_plan.is_none() {
        anyhow::bail!("--no-video needs sound: this source has none (try --audio-device NAME)");
    }
    let broadcast = Arc::new(Broadcast::new(&args.name)?);
    let sound = match &audio_plan {
        None => "no audio".to_string(),
        Some(plan) => format!(
            "{} {} kb/s from {}",
            audio_settings.codec.name(),
            audio_settings.bitrate_kbps,
            match &plan.source {
                AudioSource::TestTone => "the test tone".to_string(),
                AudioSource::Device { name, .. } => format!("audio device {name:?}"),
                AudioSource::File(_) | AudioSource::Url(_) => "the source".to_string(),
            }
        ),
    };
    let picture = match args.no_video {
        true => "no video".to_string(),
        false => format!(
            "{}x{} {} fps, {} kb/s H.264",
            video.width, video.height, video.fps, video.bitrate_kbps
        ),
    };
    eprintln!(
        "publisher: publishing {:?} ({picture}; {sound}) to {}",
        args.name, args.url
    );

    let audio_meter = Arc::new(Mutex::new(AudioMeter::new(
        match audio_plan {
            Some(_) => AudioState::Starting,
            None => AudioState::Off,
        },
        audio_settings.codec.name(),
        audio_settings.bitrate_kbps,
    )));
    let (audio_fatal, mut audio_failed) = tokio::sync::mpsc::unbounded_channel();
    let audio = match audio_plan {
        Some(plan) => Some(audio::start(
            args.ffmpeg.clone(),
            plan,
            audio_settings.clone(),
            broadcast.clone(),
            audio_meter.clone(),
            audio_fatal,
        )?),
        None => None,
    };

    let meter = Arc::new(Mutex::new(Meter::default()));
    // The video pipeline: ffmpeg writing FLV, and the thread importing it.
    let mut video_pipeline = None;
    if !args.no_video {
        let ffmpeg_args = ffmpeg_args::build(&input, &video, broadcast.base_unix_micros);
        let (ffmpeg, flv) = ffmpeg::Ffmpeg::spawn(&args.ffmpeg, &ffmpeg_args, "ffmpeg")?;
        let (ingest_done, ingested) = tokio::sync::oneshot::channel();
        let (broadcast, meter) = (broadcast.clone(), meter.clone());
        std::thread::Builder::new()
            .name("ingest".into())
            .spawn(move || {
                let _ = ingest_done.send(broadcast.ingest(flv, meter));
            })
            .context("starting the ingest thread")?;
        video_pipeline = Some((ffmpeg, ingested));
    }
    let kill_video = |pipeline: &mut Option<(ffmpeg::Ffmpeg, _)>| {
        if let Some((ffmpeg, _)) = pipeline.as_mut() {
            ffmpeg.kill();
        }
    };

    let state = Arc::new(Mutex::new(State::Connecting));
    let session = tokio::spawn(session::stay_connected(
        args.url.clone(),
        broadcast.origin.clone(),
        state.clone(),
    ));

    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let interactive = std::io::stderr().is_terminal();
    let mut ticks = 0u64;
    let result = loop {
        tokio::select! {
            _ = ticker.tick() => {
                ticks += 1;
                let state = *state.lock().unwrap_or_else(|p| p.into_inner());
                let report = meter.lock().unwrap_or_else(|p| p.into_inner()).report(unix_millis(), state);
                let sound = audio_meter.lock().unwrap_or_else(|p| p.into_inner()).report();
                let report = format!("{report}  {sound}");
                if interactive {
                    eprint!("\r\x1b[K{report}");
                } else if ticks.is_multiple_of(5) {
                    eprintln!("publisher: {report}");
                }
            }
            res = video_ended(&mut video_pipeline) => {
                let err = match res {
                    Ok(Ok(())) => match video_pipeline.take() {
                        Some((ffmpeg, _)) => ffmpeg.finish(),
                        None => anyhow::anyhow!("the video ended"),
                    },
                    Ok(Err(err)) => { kill_video(&mut video_pipeline); err }
                    Err(_) => { kill_video(&mut video_pipeline); anyhow::anyhow!("the ingest thread died") }
                };
                break Err(err);
            }
            Some(err) = audio_failed.recv() => {
                kill_video(&mut video_pipeline);
                break Err(err);
            }
            res = tokio::signal::ctrl_c() => {
                res.context("waiting for Ctrl-C")?;
                kill_video(&mut video_pipeline);
                break Ok(());
            }
        }
    };
    if interactive {
        eprintln!();
    }
    if let Some(audio) = &audio {
        audio.stop();
    }
    session.abort();
    broadcast.close();
    result
}

/// The video ingest's outcome, or never without video.
async fn video_ended(
    pipeline: &mut Option<(ffmpeg::Ffmpeg, VideoIngest)>,
) -> Result<anyhow::Result<()>, tokio::sync::oneshot::error::RecvError> {
    match pipeline.as_mut() {
        Some((_, ingested)) => ingested.await,
        None => std::future::pending().await,
    }
}

/// How the ingest thread reports the end of the video.
type VideoIngest = tokio::sync::oneshot::Receiver<anyhow::Result<()>>;

/// Where the sound comes from, if anywhere: `--audio-device` for any source; otherwise the test
/// tone for the test source, the default device for the screen, a file's or stream's own audio,
/// and nothing for `lavfi:` graphs and `--input-format` devices.
fn audio_plan(args: &Args) -> Option<audio::Plan> {
    if args.no_audio {
        return None;
    }
    let platform = Platform::current();
    if let Some(name) = &args.audio_device {
        return Some(audio::Plan {
            source: AudioSource::Device {
                platform,
                name: name.clone(),
            },
            required: true,
        });
    }
    if args.input_format.is_some() {
        return None;
    }
    let source = match &args.source {
        Source::Test => AudioSource::TestTone,
        Source::Screen => AudioSource::Device {
            platform,
            name: platform.default_device().to_string(),
        },
        Source::Path(path) => AudioSource::File(path.clone()),
        Source::Url(url) => AudioSource::Url(url.clone()),
        Source::Lavfi(_) => return None,
    };
    Some(audio::Plan {
        source,
        required: false,
    })
}

/// What ffmpeg should capture, or why it can't here.
fn input(args: &Args) -> anyhow::Result<ffmpeg_args::Input> {
    use ffmpeg_args::Input;
    if let Some(format) = &args.input_format {
        let name = match &args.source {
            Source::Url(name) | Source::Lavfi(name) => name.clone(),
            Source::Path(path) => path.to_string_lossy().into_owned(),
            Source::Test | Source::Screen => {
                anyhow::bail!("--input-format needs a --source to read")
            }
        };
        return Ok(Input::Device {
            format: format.clone(),
            name,
        });
    }
    match &args.source {
        Source::Test => Ok(Input::Test),
        Source::Screen if cfg!(target_os = "linux") => {
            let display = args
                .display
                .clone()
                .or_else(|| std::env::var("DISPLAY").ok())
                .unwrap_or_else(|| ":0".into());
            Ok(Input::X11 { display })
        }
        Source::Screen => anyhow::bail!(
            "--source screen supports Linux (X11) so far; Windows and macOS capture are coming. \
             Use --source test meanwhile"
        ),
        Source::Url(url) => Ok(Input::Url(url.clone())),
        Source::Lavfi(graph) => Ok(Input::Lavfi(graph.clone())),
        Source::Path(path) => Ok(Input::File(path.clone())),
    }
}
