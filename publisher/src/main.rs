//! `publisher`: capture with ffmpeg, publish over Media over QUIC.
//!
//! ffmpeg writes FLV to a pipe (and a lighter second rendition of the same pictures to a loopback
//! socket); moq-mux imports each into a hang broadcast as it arrives; moq-tokio keeps that
//! broadcast published on the relay, reconnecting when needed. A status line shows the state,
//! frame rate, bitrate, frames sent and ingest latency. The sound comes from a second ffmpeg
//! writing MPEG-TS to another pipe, imported into the same broadcast on the same clock, so audio
//! can never hold back or break the video.

mod audio;
mod audio_args;
mod audio_clock;
mod audio_import;
mod av_sync;
mod backoff;
mod broadcast;
mod cli;
mod devices;
mod encoder;
mod ffmpeg;
mod ffmpeg_args;
mod flv_runs;
mod loopback;
mod pipeline;
mod pixel_clock;
mod plan;
mod probe;
mod relay_log;
mod rendition;
mod session;
mod status;
mod supervise;
mod token;
mod ts_pes;
mod video;

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use crate::audio_args::{Platform, Source as AudioSource};
use crate::broadcast::{Broadcast, unix_millis};
use crate::cli::Args;
use crate::plan::Host;
use crate::status::{AudioMeter, AudioState, ExtraReport, State, VideoState};

// One runtime thread: the async side only carries the session and the status ticker (capture
// and import run on threads of their own), and a multi-thread runtime's workers (one per core)
// cost wake-ups between themselves for nothing.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // moq-net's session warning repeats what the publisher says about the session.
                .unwrap_or_else(|_| {
                    "warn,moq_sock=error,moq_tokio::noq=error,moq_net::lite::session=error".into()
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(err) = run(Args::parse(), Host::current()).await {
        eprintln!("publisher: error: {err:#}");
        std::process::exit(1);
    }
}

async fn run(args: Args, host: Host) -> anyhow::Result<()> {
    if args.list_devices {
        return match audio::list_devices(&args.ffmpeg, host.platform) {
            Ok(list) if host.platform == Platform::Linux => {
                println!("{list}");
                Ok(())
            }
            Ok(list) => {
                let names = devices::audio_devices(host.platform, &list);
                println!("{}", devices::listing(host.platform, &names));
                Ok(())
            }
            Err(err) => Err(anyhow::anyhow!("cannot list the audio devices: {err}")),
        };
    }
    let token = token::given(args.token_file.as_deref(), std::env::var_os(token::ENV))?;
    let (relay, warning) = token::Relay::new(args.url.clone(), token);
    if let Some(warning) = warning {
        eprintln!("publisher: warning: {warning}");
    }
    let candidates = match args.no_video {
        true => Vec::new(),
        false => plan::video(&args, &host).map_err(anyhow::Error::msg)?,
    };
    let audio_plan = plan::audio(&args, host.platform, desktop_sound(&args, host.platform));
    let audio_settings = audio_args::Audio {
        codec: args.audio_codec,
        bitrate_kbps: args
            .audio_bitrate
            .unwrap_or_else(|| args.audio_codec.default_kbps()),
        offset_us: i64::from(args.audio_offset) * 1000,
    };
    let video = rendition::Video {
        width: args.size.0,
        height: args.size.1,
        fps: args.fps,
        bitrate_kbps: args.bitrate,
        pixel_clock: args.pixel_clock,
        ..Default::default()
    };
    let chosen = match candidates.first() {
        None => None,
        Some(only) if !plan::needs_probe(&candidates) => Some(only.clone()),
        Some(_) => Some(probe::choose(&args.ffmpeg, candidates, &video)?),
    };
    let video = rendition::Video {
        encoder: chosen.as_ref().map(|c| c.encoder).unwrap_or_default(),
        ..video
    };
    let also = match (&chosen, args.codec.also) {
        (Some(chosen), Some(codec)) => {
            let works =
                plan::also_encoder(video.encoder, codec).and_then(
                    |encoder| match probe::also_works(&args.ffmpeg, chosen, &video, encoder) {
                        Ok(works) => works.map(|()| encoder),
                        Err(err) => Err(err.to_string()),
                    },
                );
            works
                .inspect_err(|why| eprintln!("publisher: no {} rendition: {why}", codec.label()))
                .ok()
        }
        _ => None,
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
    let renditions = chosen
        .as_ref()
        .map(|chosen| {
            let rate_known = chosen.input.runs_at_requested_rate();
            rendition::ladder(&video, also, args.renditions > 1, rate_known)
        })
        .unwrap_or_default();
    let picture = match &chosen {
        None => "no video".to_string(),
        Some(chosen) => format!("{}, {chosen}", rendition::describe(&renditions)),
    };
    let capture = chosen
        .as_ref()
        .map(|c| {
            let also = also.map(|also| format!(" + {}", also.name()));
            format!("  [{c}{}]", also.unwrap_or_default())
        })
        .unwrap_or_default();
    eprintln!(
        "publisher: publishing {:?} ({picture}; {sound}) to {}",
        args.name,
        relay.shown()
    );

    let audio_meter = Arc::new(Mutex::new(AudioMeter::new(
        match audio_plan {
            Some(_) => AudioState::Starting,
            None => AudioState::Off,
        },
        audio_settings.codec.name(),
        audio_settings.bitrate_kbps,
    )));
    // Audio or video that cannot go on.
    let (fatal, mut failed) = tokio::sync::mpsc::unbounded_channel();
    let audio = match audio_plan {
        Some(plan) => Some(audio::start(
            args.ffmpeg.clone(),
            plan,
            audio_settings.clone(),
            broadcast.clone(),
            audio_meter.clone(),
            fatal.clone(),
        )?),
        None => None,
    };

    let meters = video::Meters::new(renditions.len().max(1));
    let video = match chosen {
        None => None,
        Some(chosen) => Some(video::start(
            video::Plan {
                program: args.ffmpeg.clone(),
                input: chosen.input,
                video,
                renditions: renditions.clone(),
            },
            broadcast.clone(),
            meters.clone(),
            fatal,
        )?),
    };

    let state = Arc::new(Mutex::new(State::Connecting));
    let session = tokio::spawn(session::stay_connected(
        relay,
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
                let now = unix_millis();
                let figures = |meter: &Mutex<status::Meter>| {
                    meter.lock().unwrap_or_else(|p| p.into_inner()).report(now, state)
                };
                // The main rendition's counters say the state, with video or without.
                let mut report = figures(&meters.renditions[0]).to_string();
                for (rendition, meter) in renditions.iter().zip(&meters.renditions).skip(1) {
                    report = format!("{report}  {}", ExtraReport(rendition.label(), figures(meter)));
                }
                let video_state = meters.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
                if video_state != VideoState::Running {
                    report = format!("{report}  {video_state}");
                }
                let sound = audio_meter.lock().unwrap_or_else(|p| p.into_inner()).report();
                let report = format!("{report}  {sound}{capture}");
                if interactive {
                    eprint!("\r\x1b[K{report}");
                } else if ticks.is_multiple_of(5) {
                    eprintln!("publisher: {report}");
                }
            }
            Some(err) = failed.recv() => break Err(err),
            res = tokio::signal::ctrl_c() => {
                res.context("waiting for Ctrl-C")?;
                break Ok(());
            }
        }
    };
    if interactive {
        eprintln!();
    }
    if let Some(video) = &video {
        video.stop();
    }
    if let Some(audio) = &audio {
        audio.stop();
    }
    // Tell the relay the broadcast ended before the session goes: it hands the name back to an
    // earlier publisher at once, not after the QUIC idle timeout of a silent connection.
    broadcast.close();
    tokio::time::sleep(GOODBYE).await;
    session.abort();
    result
}

/// How long the session has, once the broadcast is closed, to say so to the relay.
const GOODBYE: Duration = Duration::from_millis(200);

/// The device carrying what the desktop plays (see [`devices`]), looked up only when the screen's
/// sound is wanted from the platform's default; with none, says so and how to name one.
fn desktop_sound(args: &Args, platform: Platform) -> Option<String> {
    let wanted = args.source == cli::Source::Screen
        && args.input_format.is_none()
        && args.audio_device.is_none()
        && !args.no_audio;
    if !wanted {
        return None;
    }
    if platform == Platform::Linux {
        return devices::desktop_sound(platform, &[]);
    }
    let listed = audio::list_devices(&args.ffmpeg, platform)
        .map(|listing| devices::audio_devices(platform, &listing))
        .unwrap_or_default();
    let found = devices::desktop_sound(platform, &listed);
    if found.is_none() {
        eprintln!(
            "publisher: no sound: {}",
            devices::no_desktop_sound(platform)
        );
    }
    found
}
