//! What to run, decided from the arguments and the host (its platform passed in, never read
//! with `cfg!`, so every platform's plan is tested on any machine): the video candidates — a
//! capture and an encoder each, in the order they are probed — and where the sound comes from.
//!
//! The screen, per platform:
//! - **Linux**: `x11grab` of `--display` or `$DISPLAY`, into libx264.
//! - **Windows**: Desktop Duplication (`ddagrab`, monitor `--monitor`) kept in GPU memory into
//!   the first hardware encoder that opens, in a fixed order — Intel QSV, NVIDIA NVENC, AMD AMF —
//!   then `ddagrab` copied to memory into libx264, then GDI capture (`gdigrab`, for remote
//!   sessions, old drivers, virtual machines) into libx264.
//! - **macOS**: AVFoundation screen capture into VideoToolbox, then libx264.
//!
//! `--codec hevc|av1` asks the hardware encoders for that codec, then (HEVC) libx265 on the CPU,
//! on every platform; libx264 (H.264) stays the last resort. Other sources (the test pattern,
//! files, streams) are encoded with libx264 unless a codec other than H.264 is asked for. [`Choice`] walks the candidates with the outcome of each
//! probe (see [`crate::probe`]), one line per failure.

use crate::audio;
use crate::audio_args::{Platform, Source as AudioSource};
use crate::cli::{Args, Source};
use crate::encoder::{Encoder, VideoCodec};
use crate::ffmpeg_args::Input;

/// What the publisher knows about the machine it runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    pub platform: Platform,
    /// `$DISPLAY`, if set and not empty.
    pub display: Option<String>,
    /// `$WAYLAND_DISPLAY` is set: a Wayland session (x11grab sees only its X11 windows).
    pub wayland: bool,
}

impl Host {
    /// This machine.
    pub fn current() -> Self {
        let set = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            platform: Platform::current(),
            display: set("DISPLAY"),
            wayland: set("WAYLAND_DISPLAY").is_some(),
        }
    }
}

/// One way to make the video: a capture and the encoder it feeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub input: Input,
    pub encoder: Encoder,
}

impl std::fmt::Display for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} → {}", self.input.label(), self.encoder.name())
    }
}

/// The video candidates for `args` on `host`, in probe order (never empty), or why there is no
/// way to capture what was asked for (one line, saying what to do).
pub fn video(args: &Args, host: &Host) -> Result<Vec<Candidate>, String> {
    let hardware = hardware_encoders(host.platform, args.codec.main);
    let software = software_encoders(args.codec.main);
    if hardware.is_empty() && !software.iter().any(|e| e.codec() == args.codec.main) {
        return Err(format!(
            "--codec {} needs a hardware encoder (Windows: Intel QSV, NVIDIA NVENC or AMD AMF; \
             macOS: VideoToolbox{}); here the publisher sends H.264 (--codec h264)",
            args.codec.main.label(),
            if args.codec.main == VideoCodec::Av1 {
                ", which has no AV1"
            } else {
                ""
            }
        ));
    }
    let with = |input: Input, encoders: &[Encoder]| -> Vec<Candidate> {
        encoders
            .iter()
            .map(|&encoder| Candidate {
                input: input.clone(),
                encoder,
            })
            .collect()
    };
    let all = [hardware, software.clone()].concat();
    if args.source != Source::Screen || args.input_format.is_some() {
        let encoders = match args.codec.main {
            VideoCodec::H264 => &software,
            _ => &all,
        };
        return Ok(with(other_input(args)?, encoders));
    }
    let cursor = !args.no_cursor;
    Ok(match host.platform {
        Platform::Linux => {
            let display = args
                .display
                .clone()
                .or_else(|| host.display.clone())
                .ok_or_else(|| no_display(host.wayland))?;
            with(Input::X11 { display, cursor }, &software)
        }
        Platform::Windows => {
            let dda = Input::Ddagrab {
                monitor: args.monitor,
                cursor,
            };
            let mut all = with(dda, &all);
            all.extend(with(Input::Gdigrab { cursor }, &software));
            all
        }
        Platform::MacOs => {
            let screen = Input::AvFoundation {
                screen: args.monitor,
                cursor,
            };
            with(screen, &all)
        }
    })
}

/// The encoder for the main picture again in `codec` (`--codec main,also`) beside `main`, the
/// encoder chosen for it: one of the same family — the same GPU's (frames in GPU memory suit
/// it too), or the CPU's for a CPU one. `Err` says in one line why that rendition is left out.
pub fn also_encoder(main: Encoder, codec: VideoCodec) -> Result<Encoder, String> {
    if main.codec() == codec {
        return Err(format!(
            "the main picture is {} already ({} was chosen): one rendition",
            codec.label(),
            main.name()
        ));
    }
    let encoder = match main {
        Encoder::Libx264 | Encoder::Libx265 => match codec {
            VideoCodec::H264 => Some(Encoder::Libx264),
            VideoCodec::Hevc => Some(Encoder::Libx265),
            VideoCodec::Av1 => None,
        },
        Encoder::Qsv(_) => Some(Encoder::Qsv(codec)),
        Encoder::Nvenc(_) => Some(Encoder::Nvenc(codec)),
        Encoder::Amf(_) => Some(Encoder::Amf(codec)),
        Encoder::VideoToolbox(_) if codec == VideoCodec::Av1 => None,
        Encoder::VideoToolbox(_) => Some(Encoder::VideoToolbox(codec)),
    };
    encoder.ok_or_else(|| format!("no {} encoder beside {}", codec.label(), main.name()))
}

/// The encoders on the CPU for `codec`, in probe order after the hardware ones: libx265 for
/// HEVC, and libx264 (H.264) always last.
fn software_encoders(codec: VideoCodec) -> Vec<Encoder> {
    match codec {
        VideoCodec::Hevc => vec![Encoder::Libx265, Encoder::Libx264],
        VideoCodec::H264 | VideoCodec::Av1 => vec![Encoder::Libx264],
    }
}

/// The hardware encoders for `codec` on `platform`, in probe order.
fn hardware_encoders(platform: Platform, codec: VideoCodec) -> Vec<Encoder> {
    match platform {
        Platform::Linux => vec![],
        Platform::Windows => vec![
            Encoder::Qsv(codec),
            Encoder::Nvenc(codec),
            Encoder::Amf(codec),
        ],
        Platform::MacOs if codec == VideoCodec::Av1 => vec![],
        Platform::MacOs => vec![Encoder::VideoToolbox(codec)],
    }
}

fn no_display(wayland: bool) -> String {
    let why = match wayland {
        true => "this is a Wayland session without $DISPLAY (x11grab captures X11 only)",
        false => "$DISPLAY is not set (no X11 session here)",
    };
    format!(
        "no screen to capture: {why}; name an X11 display with --display :N, or publish the \
         test pattern with --source test"
    )
}

/// The input of any source but the screen.
fn other_input(args: &Args) -> Result<Input, String> {
    if let Some(format) = &args.input_format {
        let name = match &args.source {
            Source::Url(name) | Source::Lavfi(name) => name.clone(),
            Source::Path(path) => path.to_string_lossy().into_owned(),
            Source::Test | Source::Screen => {
                return Err("--input-format needs a --source to read".into());
            }
        };
        return Ok(Input::Device {
            format: format.clone(),
            name,
        });
    }
    Ok(match &args.source {
        Source::Test => Input::Test,
        Source::Url(url) => Input::Url(url.clone()),
        Source::Lavfi(graph) => Input::Lavfi(graph.clone()),
        Source::Path(path) => Input::File(path.clone()),
        Source::Screen => return Err("the screen is captured, not read as a file".into()),
    })
}

/// Whether the candidates are tried before the publisher starts: when there is a choice, and
/// for the screen (so a screen that cannot be captured is one clear error, not a restart loop).
pub fn needs_probe(candidates: &[Candidate]) -> bool {
    candidates.len() > 1 || candidates.iter().any(|c| c.input.is_screen())
}

/// How one probe ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The candidate encoded its frames.
    Worked,
    /// It failed: ffmpeg's output (or what went wrong running it), and whether it failed
    /// opening the capture (then every candidate with that capture fails the same way).
    Failed { why: String, at_input: bool },
}

/// Walking the candidates in order with each probe's outcome, to the first that works.
#[derive(Debug)]
pub struct Choice {
    candidates: Vec<Candidate>,
    next: usize,
    dead_inputs: Vec<Input>,
}

impl Choice {
    pub fn new(candidates: Vec<Candidate>) -> Self {
        Self {
            candidates,
            next: 0,
            dead_inputs: Vec::new(),
        }
    }

    /// The next candidate to probe, skipping those whose capture already failed to open.
    pub fn next(&mut self) -> Option<Candidate> {
        while let Some(candidate) = self.candidates.get(self.next) {
            self.next += 1;
            if !self.dead_inputs.contains(&candidate.input) {
                return Some(candidate.clone());
            }
        }
        None
    }

    /// Take `candidate`'s probe `outcome`: the line to print when it failed.
    pub fn outcome(&mut self, candidate: &Candidate, outcome: Outcome) -> Option<String> {
        match outcome {
            Outcome::Worked => None,
            Outcome::Failed { why, at_input } => {
                if at_input {
                    self.dead_inputs.push(candidate.input.clone());
                }
                let what = match at_input {
                    true => format!("{} (capture)", candidate.input.label()),
                    false => candidate.to_string(),
                };
                Some(format!("{what} failed: {why}"))
            }
        }
    }
}

/// The most telling line of ffmpeg's output when a probe fails: the first error it printed,
/// with the `[component @ 0x…]` prefix shortened to the component's name.
pub fn failure_line(stderr: &str) -> String {
    const MARKS: [&str; 9] = [
        "not compatible",
        "error",
        "failed",
        "cannot",
        "could not",
        "not found",
        "no such",
        "unknown",
        "invalid",
    ];
    let telling = stderr.lines().map(str::trim).find(|line| {
        let lower = line.to_ascii_lowercase();
        MARKS.iter().any(|mark| lower.contains(mark))
    });
    let Some(line) = telling.or_else(|| stderr.lines().map(str::trim).rfind(|l| !l.is_empty()))
    else {
        return "ffmpeg printed nothing".into();
    };
    match line
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
    {
        Some((component, message)) => {
            let name = component.split(" @ ").next().unwrap_or(component);
            format!("{name}: {message}")
        }
        None => line.to_string(),
    }
}

/// Whether ffmpeg failed opening its input (`target`, the argument of `-i`), as opposed to the
/// filters or the encoder: ffmpeg 6+ says "Error opening input", 5.1 `"TARGET: <reason>"`.
pub fn failed_at_input(stderr: &str, target: &str) -> bool {
    stderr.lines().any(|line| {
        line.contains("Error opening input") || line.starts_with(&format!("{target}: "))
    })
}

/// Where the sound comes from, if anywhere: `--audio-device` for any source; otherwise the test
/// tone for the test source, `screen_device` for the screen (the platform's default, see
/// [`crate::devices`]), a file's or stream's own audio, and nothing for `lavfi:` graphs and
/// `--input-format` devices.
pub fn audio(
    args: &Args,
    platform: Platform,
    screen_device: Option<String>,
) -> Option<audio::Plan> {
    if args.no_audio {
        return None;
    }
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
            name: screen_device?,
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("publisher").chain(extra.iter().copied()))
            .expect("arguments parse")
    }

    fn host(platform: Platform) -> Host {
        Host {
            platform,
            display: Some(":0".into()),
            wayland: false,
        }
    }

    fn names(candidates: &[Candidate]) -> Vec<String> {
        candidates.iter().map(Candidate::to_string).collect()
    }

    #[test]
    fn linux_captures_x11_into_libx264() {
        let plan = video(&args(&[]), &host(Platform::Linux)).unwrap();
        assert_eq!(
            plan,
            [Candidate {
                input: Input::X11 {
                    display: ":0".into(),
                    cursor: true
                },
                encoder: Encoder::Libx264
            }]
        );
        let named = video(
            &args(&["--display", ":5", "--no-cursor"]),
            &host(Platform::Linux),
        );
        assert_eq!(
            named.unwrap()[0].input,
            Input::X11 {
                display: ":5".into(),
                cursor: false
            }
        );
        assert!(needs_probe(&plan), "the screen is probed");
    }

    #[test]
    fn no_display_on_linux_names_the_test_source() {
        let mut bare = host(Platform::Linux);
        bare.display = None;
        let err = video(&args(&[]), &bare).unwrap_err();
        assert!(
            err.starts_with("no screen to capture: $DISPLAY is not set"),
            "{err}"
        );
        assert!(err.contains("--source test"), "{err}");
        bare.wayland = true;
        assert!(video(&args(&[]), &bare).unwrap_err().contains("Wayland"));
        // The test pattern needs no display.
        assert_eq!(
            video(&args(&["--source", "test"]), &bare).unwrap()[0].input,
            Input::Test
        );
    }

    #[test]
    fn windows_tries_dda_on_the_gpu_then_dda_on_the_cpu_then_gdigrab() {
        let plan = video(&args(&[]), &host(Platform::Windows)).unwrap();
        assert_eq!(
            names(&plan),
            [
                "ddagrab → h264_qsv",
                "ddagrab → h264_nvenc",
                "ddagrab → h264_amf",
                "ddagrab → libx264",
                "gdigrab → libx264"
            ]
        );
        assert_eq!(
            plan[0].input,
            Input::Ddagrab {
                monitor: 0,
                cursor: true
            }
        );
        let second = video(
            &args(&["--monitor", "1", "--no-cursor"]),
            &host(Platform::Windows),
        )
        .unwrap();
        assert_eq!(
            second[0].input,
            Input::Ddagrab {
                monitor: 1,
                cursor: false
            }
        );
        assert_eq!(second[4].input, Input::Gdigrab { cursor: false });
    }

    #[test]
    fn hevc_and_av1_ask_the_hardware_and_fall_back_to_h264() {
        let hevc = video(&args(&["--codec", "hevc"]), &host(Platform::Windows)).unwrap();
        assert_eq!(
            names(&hevc),
            [
                "ddagrab → hevc_qsv",
                "ddagrab → hevc_nvenc",
                "ddagrab → hevc_amf",
                "ddagrab → libx265",
                "ddagrab → libx264",
                "gdigrab → libx265",
                "gdigrab → libx264"
            ]
        );
        let av1 = video(&args(&["--codec", "av1"]), &host(Platform::Windows)).unwrap();
        assert_eq!(av1[0].encoder, Encoder::Qsv(VideoCodec::Av1));
        let mac = video(&args(&["--codec", "hevc"]), &host(Platform::MacOs)).unwrap();
        assert_eq!(
            names(&mac),
            [
                "avfoundation → hevc_videotoolbox",
                "avfoundation → libx265",
                "avfoundation → libx264"
            ]
        );
        // Nothing encodes AV1 on a Mac nor on Linux here: said at once.
        let err = video(&args(&["--codec", "av1"]), &host(Platform::MacOs)).unwrap_err();
        assert!(
            err.contains("--codec AV1 needs a hardware encoder"),
            "{err}"
        );
        assert!(video(&args(&["--codec", "av1"]), &host(Platform::Linux)).is_err());
    }

    #[test]
    fn the_second_codec_comes_from_the_main_encoders_family() {
        use VideoCodec::{Av1, H264, Hevc};
        assert_eq!(also_encoder(Encoder::Libx265, H264), Ok(Encoder::Libx264));
        assert_eq!(also_encoder(Encoder::Libx264, Hevc), Ok(Encoder::Libx265));
        assert_eq!(
            also_encoder(Encoder::Qsv(Hevc), H264),
            Ok(Encoder::Qsv(H264))
        );
        assert_eq!(
            also_encoder(Encoder::Nvenc(Av1), H264),
            Ok(Encoder::Nvenc(H264))
        );
        assert_eq!(
            also_encoder(Encoder::Amf(Av1), Hevc),
            Ok(Encoder::Amf(Hevc))
        );
        assert_eq!(
            also_encoder(Encoder::VideoToolbox(Hevc), H264),
            Ok(Encoder::VideoToolbox(H264))
        );
        // HEVC fell back to libx264 (Debian's ffmpeg 5.1): the main picture is H.264 already.
        let same = also_encoder(Encoder::Libx264, H264).unwrap_err();
        assert_eq!(
            same,
            "the main picture is H.264 already (libx264 was chosen): one rendition"
        );
        assert_eq!(
            also_encoder(Encoder::Libx264, Av1).unwrap_err(),
            "no AV1 encoder beside libx264"
        );
        assert!(also_encoder(Encoder::VideoToolbox(H264), Av1).is_err());
    }

    #[test]
    fn hevc_falls_back_to_libx265_on_the_cpu_everywhere() {
        let linux = video(&args(&["--codec", "hevc"]), &host(Platform::Linux)).unwrap();
        assert_eq!(names(&linux), ["x11grab → libx265", "x11grab → libx264"]);
        for platform in [Platform::Linux, Platform::Windows, Platform::MacOs] {
            let test = video(
                &args(&["--source", "test", "--codec", "hevc"]),
                &host(platform),
            )
            .unwrap();
            let software: Vec<Encoder> = test.iter().rev().take(2).map(|c| c.encoder).collect();
            assert_eq!(
                software,
                [Encoder::Libx264, Encoder::Libx265],
                "{platform:?}"
            );
            assert!(needs_probe(&test), "libx265 is tried before it runs");
        }
    }

    #[test]
    fn macos_captures_avfoundation_into_videotoolbox_then_libx264() {
        let plan = video(&args(&["--monitor", "1"]), &host(Platform::MacOs)).unwrap();
        assert_eq!(
            names(&plan),
            ["avfoundation → h264_videotoolbox", "avfoundation → libx264"]
        );
        assert_eq!(
            plan[0].input,
            Input::AvFoundation {
                screen: 1,
                cursor: true
            }
        );
    }

    #[test]
    fn other_sources_use_libx264_unless_another_codec_is_asked_for() {
        for platform in [Platform::Linux, Platform::Windows, Platform::MacOs] {
            let plan = video(&args(&["--source", "test"]), &host(platform)).unwrap();
            assert_eq!(names(&plan), ["test pattern → libx264"], "{platform:?}");
            assert!(
                !needs_probe(&plan),
                "one non-screen candidate runs as it is"
            );
        }
        let hevc = video(
            &args(&["--source", "test", "--codec", "hevc"]),
            &host(Platform::Windows),
        )
        .unwrap();
        assert_eq!(
            names(&hevc),
            [
                "test pattern → hevc_qsv",
                "test pattern → hevc_nvenc",
                "test pattern → hevc_amf",
                "test pattern → libx265",
                "test pattern → libx264"
            ]
        );
        assert!(needs_probe(&hevc));
        let device = video(
            &args(&["--source", "Cargo.toml", "--input-format", "v4l2"]),
            &host(Platform::Linux),
        )
        .unwrap();
        assert_eq!(
            device[0].input,
            Input::Device {
                format: "v4l2".into(),
                name: "Cargo.toml".into()
            }
        );
        assert!(video(&args(&["--input-format", "v4l2"]), &host(Platform::Linux)).is_err());
    }

    /// ffmpeg 9.0 under Wine, probing `ddagrab` (no D3D11 device there).
    const DDA_UNDER_WINE: &str = "\
[Parsed_ddagrab_0 @ 0000000001139e40] Failed to create D3D11VA device.
[Parsed_ddagrab_0 @ 0000000001139e40] Failed to configure output pad on Parsed_ddagrab_0
[in#0 @ 0000000001138200] Error opening input: Unknown error occurred
Error opening input file ddagrab=output_idx=0:framerate=60.
Error opening input files: Unknown error occurred";

    #[test]
    fn a_capture_that_fails_to_open_skips_its_other_encoders() {
        let plan = video(&args(&[]), &host(Platform::Windows)).unwrap();
        let mut choice = Choice::new(plan);
        let first = choice.next().unwrap();
        assert_eq!(first.to_string(), "ddagrab → h264_qsv");
        let line = choice
            .outcome(
                &first,
                Outcome::Failed {
                    why: failure_line(DDA_UNDER_WINE),
                    at_input: failed_at_input(DDA_UNDER_WINE, "ddagrab=output_idx=0:framerate=60"),
                },
            )
            .unwrap();
        assert_eq!(
            line,
            "ddagrab (capture) failed: Parsed_ddagrab_0: Failed to create D3D11VA device."
        );
        let fallback = choice.next().unwrap();
        assert_eq!(fallback.to_string(), "gdigrab → libx264");
        assert_eq!(choice.outcome(&fallback, Outcome::Worked), None);
    }

    #[test]
    fn each_encoder_that_fails_is_one_line_and_the_next_is_tried() {
        let plan = video(&args(&[]), &host(Platform::Windows)).unwrap();
        let mut choice = Choice::new(plan);
        let mut lines = Vec::new();
        for why in [
            "[h264_qsv @ 0x1] Error initializing an internal MFX session: unsupported (-3)",
            "[h264_nvenc @ 0x2] Cannot load nvcuda.dll",
            "[h264_amf @ 0x3] DLL amfrt64.dll failed to open",
        ] {
            let candidate = choice.next().unwrap();
            let outcome = Outcome::Failed {
                why: failure_line(why),
                at_input: failed_at_input(why, "ddagrab=…"),
            };
            lines.push(choice.outcome(&candidate, outcome).unwrap());
        }
        assert_eq!(
            lines,
            [
                "ddagrab → h264_qsv failed: h264_qsv: Error initializing an internal MFX \
                 session: unsupported (-3)",
                "ddagrab → h264_nvenc failed: h264_nvenc: Cannot load nvcuda.dll",
                "ddagrab → h264_amf failed: h264_amf: DLL amfrt64.dll failed to open",
            ]
        );
        assert_eq!(choice.next().unwrap().to_string(), "ddagrab → libx264");
        assert_eq!(choice.next().unwrap().to_string(), "gdigrab → libx264");
        assert_eq!(choice.next(), None);
    }

    #[test]
    fn ffmpeg_5_1_input_failures_are_recognised() {
        let x11 = "[x11grab @ 0x55] Cannot open display :5, error 1.\n:5: Input/output error";
        assert!(failed_at_input(x11, ":5"));
        assert_eq!(
            failure_line(x11),
            "x11grab: Cannot open display :5, error 1."
        );
        // ffmpeg before 6.1 writes no HEVC into FLV.
        let flv = "[flv @ 0x1] Video codec hevc not compatible with flv\n\
                   Could not write header for output file #0 (incorrect codec parameters ?)";
        assert_eq!(
            failure_line(flv),
            "flv: Video codec hevc not compatible with flv"
        );
        let encoder = "[libx264 @ 0x1] broken\nError initializing output stream 0:0";
        assert!(!failed_at_input(encoder, ":5"));
        assert_eq!(failure_line(""), "ffmpeg printed nothing");
    }

    #[test]
    fn audio_follows_the_source_and_the_platforms_screen_device() {
        let screen = audio(&args(&[]), Platform::Windows, Some("CABLE Output".into())).unwrap();
        assert_eq!(
            screen.source,
            AudioSource::Device {
                platform: Platform::Windows,
                name: "CABLE Output".into()
            }
        );
        assert!(!screen.required);
        assert_eq!(audio(&args(&[]), Platform::Windows, None), None);
        let named = audio(
            &args(&["--audio-device", "Microphone (USB)"]),
            Platform::Windows,
            None,
        )
        .unwrap();
        assert!(named.required);
        let test = audio(&args(&["--source", "test"]), Platform::Linux, None).unwrap();
        assert_eq!(test.source, AudioSource::TestTone);
        assert_eq!(audio(&args(&["--no-audio"]), Platform::Linux, None), None);
        assert_eq!(
            audio(
                &args(&["--source", "lavfi:mandelbrot"]),
                Platform::Linux,
                None
            ),
            None
        );
    }
}
