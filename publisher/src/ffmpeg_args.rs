//! Building ffmpeg's command line, as a pure function of the settings.
//!
//! The layout is chosen for the lowest ingest latency ffmpeg 5.1+ can give:
//! - **FLV on stdout**: each tag is written the moment its packet is encoded (3–4 ms measured),
//!   where fMP4 always waits for the *next* packet (one frame interval).
//! - **libx264 `veryfast` + `zerolatency`, no B-frames, a fixed 2 s GOP**: every frame leaves the
//!   encoder immediately; a long GOP costs no latency and far fewer bits than all-intra.
//! - **Capture-time timestamps**: `setpts=RTCTIME-<base>` stamps each frame with the wall clock when
//!   it entered the filter graph (µs after `base`), and `-copyts` + passthrough frame timing keep
//!   that value all the way to the FLV tag. The catalog clock says `base`, so any viewer can compute
//!   true end-to-end latency from a frame's timestamp.
//! - **One capture, one stamp, two renditions**: the filter graph stamps (and marks) each frame
//!   once, then `split`s it: the main output as it is, the light one ([`crate::rendition`]) decimated
//!   and scaled down, encoded alike and written as a second FLV output to a loopback socket
//!   ([`crate::loopback`]) with the same per-packet flushing. Both renditions' frames therefore
//!   carry identical capture times, and their keyframes fall on the same source frames.
//! - **The encoder is a setting** ([`crate::encoder`]): libx264 above, or a hardware encoder with
//!   the same choices. Windows' `ddagrab` captures into GPU memory; with an encoder that takes
//!   such frames (and no pixel clock to draw on the CPU) they stay there, scaled on the GPU.

use std::fmt::Write;
use std::path::PathBuf;

use crate::rendition::{self, Rendition, Role, Video};
use crate::{av_sync, pixel_clock};

/// Where the pictures come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A synthetic, real-time paced 60 fps pattern with motion, a running clock and the pixel
    /// clock.
    Test,
    /// The X11 display named here (e.g. `:0`), captured with x11grab.
    X11 { display: String, cursor: bool },
    /// Windows Desktop Duplication (`ddagrab`) of monitor `monitor` (0 = the first), into GPU
    /// (D3D11) memory.
    Ddagrab { monitor: u32, cursor: bool },
    /// Windows GDI capture of the whole desktop (`gdigrab`): slower, but works where Desktop
    /// Duplication does not (remote sessions, some virtual machines, Wine).
    Gdigrab { cursor: bool },
    /// macOS screen `screen` (0 = the first) through AVFoundation.
    AvFoundation { screen: u32, cursor: bool },
    /// A media file, looped and paced in real time (restreaming a recording).
    File(PathBuf),
    /// A network stream (RTSP, SRT, HTTP, …), paced by its sender.
    Url(String),
    /// An ffmpeg lavfi filter graph, paced in real time.
    Lavfi(String),
    /// Anything read with a named ffmpeg demuxer, e.g. a `v4l2` camera: `-f FORMAT -i NAME`.
    Device { format: String, name: String },
}

impl Input {
    /// Whether the source delivers `Video::fps` frames a second (otherwise it has its own rate).
    pub fn runs_at_requested_rate(&self) -> bool {
        matches!(
            self,
            Input::Test
                | Input::X11 { .. }
                | Input::Ddagrab { .. }
                | Input::Gdigrab { .. }
                | Input::AvFoundation { .. }
        )
    }

    /// Whether ffmpeg reads this as a screen capture (as opposed to a file, stream or pattern).
    pub fn is_screen(&self) -> bool {
        matches!(
            self,
            Input::X11 { .. }
                | Input::Ddagrab { .. }
                | Input::Gdigrab { .. }
                | Input::AvFoundation { .. }
        )
    }

    /// How people call this capture (the startup and status lines).
    pub fn label(&self) -> &'static str {
        match self {
            Input::Test => "test pattern",
            Input::X11 { .. } => "x11grab",
            Input::Ddagrab { .. } => "ddagrab",
            Input::Gdigrab { .. } => "gdigrab",
            Input::AvFoundation { .. } => "avfoundation",
            Input::File(_) => "file",
            Input::Url(_) => "stream",
            Input::Lavfi(_) => "lavfi",
            Input::Device { .. } => "device",
        }
    }
}

/// The filter that brings frames to `video.encoder`'s device when they can stay in GPU memory
/// (`ddagrab` into an encoder that takes D3D11 frames, with nothing to draw on the CPU).
fn gpu_upload(input: &Input, video: &Video) -> Option<&'static str> {
    match input {
        Input::Ddagrab { .. } if !video.pixel_clock => video.encoder.gpu_upload(),
        _ => None,
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "1" } else { "0" }
}

/// Where ffmpeg writes the main rendition's FLV.
pub const STDOUT: &str = "pipe:1";

/// ffmpeg's arguments (without the program name) for capturing `input` as `video` says and
/// encoding it into each of `outputs`, a [`rendition::ladder`] (the main rendition first), each
/// with the URL ffmpeg writes its FLV to ([`STDOUT`] for the main one).
/// `base_unix_micros` is the wall-clock instant timestamps count from.
pub fn build(
    input: &Input,
    video: &Video,
    outputs: &[(Rendition, String)],
    base_unix_micros: u64,
) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(|s| s.to_string()));

    push(&["-hide_banner", "-nostats"]);
    let size = format!("{}x{}", video.width, video.height);
    match input {
        Input::Test => {
            let source = format!("testsrc2=size={size}:rate={}", video.fps);
            // `-re` paces the generator to real time, like a capture device.
            push(&["-re", "-f", "lavfi", "-i", &source]);
        }
        Input::X11 { display, cursor } => {
            let fps = video.fps.to_string();
            push(&[
                "-f",
                "x11grab",
                "-framerate",
                &fps,
                "-draw_mouse",
                on_off(*cursor),
                "-i",
                display,
            ]);
        }
        Input::Ddagrab { monitor, cursor } => {
            // A lavfi source filter; it repeats the last frame when the screen is still, so
            // frames keep coming at the rate asked.
            let source = format!(
                "ddagrab=output_idx={monitor}:framerate={}:draw_mouse={}",
                video.fps,
                on_off(*cursor)
            );
            push(&["-f", "lavfi", "-i", &source]);
        }
        Input::Gdigrab { cursor } => {
            let fps = video.fps.to_string();
            push(&[
                "-f",
                "gdigrab",
                "-framerate",
                &fps,
                "-draw_mouse",
                on_off(*cursor),
                "-i",
                "desktop",
            ]);
        }
        Input::AvFoundation { screen, cursor } => {
            let fps = video.fps.to_string();
            let device = format!("Capture screen {screen}:none");
            push(&[
                "-f",
                "avfoundation",
                "-capture_cursor",
                on_off(*cursor),
                "-framerate",
                &fps,
                "-i",
                &device,
            ]);
        }
        Input::File(path) => {
            let path = path.to_string_lossy();
            push(&["-stream_loop", "-1", "-re", "-i", &path]);
        }
        Input::Url(url) => push(&["-i", url]),
        Input::Lavfi(graph) => push(&["-re", "-f", "lavfi", "-i", graph]),
        Input::Device { format, name } => push(&["-f", format, "-i", name]),
    }
    let renditions: Vec<Rendition> = outputs.iter().map(|(rendition, _)| *rendition).collect();
    let graph = graph(input, video, &renditions, base_unix_micros);
    push(&["-filter_complex", &graph, "-copyts"]);
    let gpu = gpu_upload(input, video).is_some();
    for (rendition, url) in outputs {
        encode(&mut args, rendition, gpu, url);
    }
    args
}

/// The arguments that try `input` into `video`'s encoder for a few frames, the way [`build`]
/// runs them (main rendition only, FLV to stdout): whether it starts tells whether this
/// capture and encoder work on this machine.
pub fn probe(input: &Input, video: &Video) -> Vec<String> {
    let main = rendition::ladder(video, None, false, true);
    let mut args = build(input, video, &[(main[0], STDOUT.into())], 0);
    let url = args.pop().unwrap_or_default();
    args.extend(["-frames:v".into(), PROBE_FRAMES.to_string(), url]);
    args
}

/// Frames a probe encodes: the first ones out of the encoder prove it opened and runs.
pub const PROBE_FRAMES: u32 = 3;

/// The filter graph's output pads, one for each role.
const MAIN: &str = "[main]";
const ALSO: &str = "[also]";
const LIGHT: &str = "[light]";

fn pad(role: Role) -> &'static str {
    match role {
        Role::Main => MAIN,
        Role::Also => ALSO,
        Role::Light => LIGHT,
    }
}

/// The filter graph: stamp capture times, draw the test signals, then — with more renditions —
/// `split`: a copy as it is for the main picture in another codec (`also`), and a copy scaled
/// down for the light rendition. The light rendition is the main picture made smaller, signals
/// included: a viewer showing it at the main's size (as ours does) shows the pixel clock and the
/// flash exactly where the main rendition has them.
fn graph(input: &Input, video: &Video, renditions: &[Rendition], base_unix_micros: u64) -> String {
    let also = renditions.iter().any(|r| r.role == Role::Also);
    let light = renditions.iter().find(|r| r.role == Role::Light);
    let mut graph = String::from("[0:v]");
    let upload = gpu_upload(input, video);
    if upload.is_none() && matches!(input, Input::Ddagrab { .. }) {
        // Out of GPU memory, for the CPU filters and encoder.
        graph.push_str("hwdownload,format=bgra,");
    }
    if *input != Input::Test && upload.is_none() {
        // Other sources come in any size: fit into the requested frame (even dimensions for 4:2:0).
        let _ = write!(
            graph,
            "scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,",
            w = video.width,
            h = video.height
        );
    }
    // Microsecond time base first, or the generator's 1/fps base would round the stamps.
    let _ = write!(graph, "settb=AVTB,setpts=RTCTIME-{base_unix_micros}");
    if video.pixel_clock || *input == Input::Test {
        graph.push(',');
        graph.push_str(&pixel_clock::filter(base_unix_micros));
    }
    if *input == Input::Test {
        // The A/V sync flash (its beep is in the audio test source).
        graph.push(',');
        graph.push_str(&av_sync::flash_filter(base_unix_micros));
        // The running clock (time since the stream started, ms) and the frame number, below the
        // pixel clock.
        graph.push_str(
            ",drawtext=text='%{pts\\:hms}  frame %{n}':x=40:y=40:fontsize=40\
             :fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=8",
        );
    }
    if let Some(upload) = upload {
        if !upload.is_empty() {
            graph.push(',');
            graph.push_str(upload);
        }
        graph.push(',');
        graph.push_str(&video.encoder.gpu_scale(video.width, video.height));
    }
    match (also, light.is_some()) {
        (false, false) => {
            graph.push_str(MAIN);
            return graph;
        }
        (true, false) => {
            let _ = write!(graph, ",split{MAIN}{ALSO}");
            return graph;
        }
        (false, true) => {
            let _ = write!(graph, ",split{MAIN}[light_in];");
        }
        (true, true) => {
            let _ = write!(graph, ",split=3{MAIN}{ALSO}[light_in];");
        }
    }
    let Some(light) = light else {
        return graph;
    };
    graph.push_str("[light_in]");
    if light.every > 1 {
        let _ = write!(graph, "select=not(mod(n\\,{})),", light.every);
    }
    // ffmpeg 5.1 runs the whole graph before it encodes the main frame, so this scale delays the
    // main rendition: `area` (a box filter, right for halving) takes 0.4 ms a 720p frame here,
    // the default bicubic 0.9 ms.
    match upload {
        Some(_) => {
            let _ = write!(
                graph,
                "{}{LIGHT}",
                video.encoder.gpu_scale(light.width, light.height)
            );
        }
        None => {
            let _ = write!(
                graph,
                "scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=area{LIGHT}",
                w = light.width,
                h = light.height
            );
        }
    }
    graph
}

/// One output: `rendition`'s pad encoded with the shared low-latency settings (see the module
/// documentation) of its encoder (`gpu`: fed GPU frames), its GOP and bitrate, FLV to `url`,
/// each tag flushed as it is written. No output rate is declared (`-r`): ffmpeg 7 and newer
/// refuse `-r` with passthrough timing ("One of -r/-fpsmax was specified together a non-CFR
/// -vsync/-fps_mode", seen with 9.0), so a decimated rendition's stream says the source's rate.
fn encode(args: &mut Vec<String>, rendition: &Rendition, gpu: bool, url: &str) {
    let mut push = |items: &[&str]| args.extend(items.iter().map(|s| s.to_string()));
    push(&["-map", pad(rendition.role), "-fps_mode", "passthrough"]);
    push(&["-enc_time_base:v", "1:1000"]);
    let encoder = rendition.encoder;
    args.extend(encoder.args(rendition.gop_frames, rendition.bitrate_kbps, gpu));
    let mut push = |items: &[&str]| args.extend(items.iter().map(|s| s.to_string()));
    push(&[
        "-f",
        "flv",
        "-flvflags",
        "no_duration_filesize",
        "-flush_packets",
        "1",
        url,
    ]);
}

/// The value following `flag` in an argument list (tests of the argument builders).
#[cfg(test)]
pub fn value_after<'a>(args: &'a [String], flag: &str) -> &'a str {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} missing in {args:?}"));
    &args[at + 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::{Encoder, VideoCodec};

    /// `video`'s ladder (with a second codec encoded by `also`, and the light rendition if
    /// `light`), each to its URL.
    fn outputs(
        input: &Input,
        video: &Video,
        also: Option<Encoder>,
        light: bool,
    ) -> Vec<(Rendition, String)> {
        let ladder = rendition::ladder(video, also, light, input.runs_at_requested_rate());
        ladder
            .into_iter()
            .map(|rendition| {
                let url = match rendition.role {
                    Role::Main => STDOUT.into(),
                    Role::Also => "tcp://127.0.0.1:9/also".into(),
                    Role::Light => "tcp://127.0.0.1:9/light".into(),
                };
                (rendition, url)
            })
            .collect()
    }

    fn one(input: &Input, video: &Video, base: u64) -> Vec<String> {
        build(input, video, &outputs(input, video, None, false), base)
    }

    fn two(input: &Input, video: &Video, base: u64) -> Vec<String> {
        build(input, video, &outputs(input, video, None, true), base)
    }

    /// The arguments of the output that maps `label`, up to and including its URL.
    fn output<'a>(args: &'a [String], label: &str) -> &'a [String] {
        let at = args
            .windows(2)
            .position(|w| w[0] == "-map" && w[1] == label)
            .unwrap_or_else(|| panic!("no output maps {label}: {args:?}"));
        let len = args[at + 2..]
            .iter()
            .position(|a| a == "-map")
            .map_or(args.len() - at, |n| n + 2);
        &args[at..at + len]
    }

    fn all_after<'a>(args: &'a [String], flag: &str) -> Vec<&'a str> {
        args.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn test_source_is_paced_lavfi_at_the_requested_size_and_rate() {
        let args = one(&Input::Test, &Video::default(), 1);
        assert!(args.contains(&"-re".to_string()));
        assert_eq!(value_after(&args, "-f"), "lavfi");
        assert_eq!(value_after(&args, "-i"), "testsrc2=size=1280x720:rate=60");
        assert!(value_after(&args, "-filter_complex").contains("drawtext="));
    }

    #[test]
    fn gop_is_two_seconds_of_frames_and_never_all_intra() {
        let video = Video {
            fps: 30,
            ..Video::default()
        };
        let args = one(&Input::Test, &video, 1);
        assert_eq!(value_after(&args, "-g"), "60");
        assert_eq!(value_after(&args, "-keyint_min"), "60");
        assert_eq!(value_after(&args, "-bf"), "0");
        assert_eq!(value_after(&args, "-tune"), "zerolatency");
    }

    #[test]
    fn timestamps_are_capture_wall_clock_relative_to_the_base() {
        let args = one(&Input::Test, &Video::default(), 1_700_000_000_123_456);
        let graph = value_after(&args, "-filter_complex");
        assert!(graph.starts_with("[0:v]settb=AVTB,setpts=RTCTIME-1700000000123456"));
        assert!(args.contains(&"-copyts".to_string()));
        assert_eq!(value_after(&args, "-fps_mode"), "passthrough");
    }

    #[test]
    fn output_is_flv_on_stdout_flushed_per_packet() {
        let args = one(&Input::Test, &Video::default(), 1);
        assert_eq!(args.last().map(String::as_str), Some("pipe:1"));
        assert_eq!(value_after(&args, "-flush_packets"), "1");
        assert_eq!(all_after(&args, "-f"), ["lavfi", "flv"]);
        assert_eq!(all_after(&args, "-map"), ["[main]"]);
        assert!(value_after(&args, "-filter_complex").ends_with("[main]"));
    }

    #[test]
    fn screen_capture_grabs_the_display_and_scales_to_even_size() {
        let input = Input::X11 {
            display: ":99".into(),
            cursor: true,
        };
        let args = one(&input, &Video::default(), 1);
        assert_eq!(value_after(&args, "-f"), "x11grab");
        assert_eq!(value_after(&args, "-i"), ":99");
        assert_eq!(value_after(&args, "-framerate"), "60");
        assert!(
            !args.contains(&"-re".to_string()),
            "devices pace themselves"
        );
        let graph = value_after(&args, "-filter_complex");
        assert!(graph.starts_with("[0:v]scale=1280:720:"));
        assert!(graph.contains("force_divisible_by=2"));
        assert!(!graph.contains("drawtext"));
        assert!(!graph.contains("geq="), "no pixel clock unless asked");
    }

    #[test]
    fn the_test_source_always_carries_the_pixel_clock_and_others_on_request() {
        let test = one(&Input::Test, &Video::default(), 7);
        assert!(value_after(&test, "-filter_complex").contains(&pixel_clock::filter(7)));
        let video = Video {
            pixel_clock: true,
            ..Video::default()
        };
        let screen = one(
            &Input::X11 {
                display: ":0".into(),
                cursor: true,
            },
            &video,
            7,
        );
        let graph = value_after(&screen, "-filter_complex");
        let (before, after) = graph
            .split_once("setpts=RTCTIME-7")
            .expect("capture stamps");
        assert!(
            before.starts_with("[0:v]scale="),
            "scale before the clock: {graph}"
        );
        assert!(
            after.contains(&pixel_clock::filter(7)),
            "clock after the stamps: {graph}"
        );
    }

    #[test]
    fn files_loop_in_real_time_and_urls_and_devices_pass_through() {
        let file = one(&Input::File("talk.mp4".into()), &Video::default(), 1);
        assert!(file.join(" ").contains("-stream_loop -1 -re -i talk.mp4"));
        let url = one(
            &Input::Url("rtsp://cam/stream".into()),
            &Video::default(),
            1,
        );
        assert!(url.join(" ").contains("-i rtsp://cam/stream"));
        assert!(
            !url.contains(&"-re".to_string()),
            "live streams pace themselves"
        );
        let graph = one(&Input::Lavfi("mandelbrot".into()), &Video::default(), 1);
        assert!(graph.join(" ").contains("-re -f lavfi -i mandelbrot"));
        let camera = Input::Device {
            format: "v4l2".into(),
            name: "/dev/video0".into(),
        };
        assert!(
            one(&camera, &Video::default(), 1)
                .join(" ")
                .contains("-f v4l2 -i /dev/video0")
        );
    }

    #[test]
    fn the_light_rendition_is_a_second_flv_output_of_the_same_stamped_pictures() {
        let (single, args) = (
            one(&Input::Test, &Video::default(), 7),
            two(&Input::Test, &Video::default(), 7),
        );
        assert_eq!(all_after(&args, "-map"), ["[main]", "[light]"]);
        assert_eq!(all_after(&args, "-f"), ["lavfi", "flv", "flv"]);
        // The main output is exactly what it is alone: FLV on stdout.
        assert_eq!(output(&args, "[main]"), output(&single, "[main]"));
        let light = output(&args, "[light]");
        assert_eq!(
            light.last().map(String::as_str),
            Some("tcp://127.0.0.1:9/light")
        );
        // Same low-latency encoding at half the rate, a keyframe each second (30 frames): on
        // the same source frames as the main one's, twice per main GOP.
        for (flag, value) in [
            ("-fps_mode", "passthrough"),
            ("-preset", "veryfast"),
            ("-tune", "zerolatency"),
            ("-bf", "0"),
            ("-g", "30"),
            ("-keyint_min", "30"),
            ("-sc_threshold", "0"),
            ("-b:v", "750k"),
            ("-f", "flv"),
            ("-flush_packets", "1"),
        ] {
            assert_eq!(value_after(light, flag), value, "{flag} in {light:?}");
        }
        assert!(
            !light.contains(&"-r".to_string()),
            "ffmpeg 7+ refuses -r with passthrough timing: {light:?}"
        );
        assert_eq!(value_after(&args, "-copyts"), "-map", "-copyts covers both");

        // Stamped and signed once, then split: the light rendition is the main picture, smaller,
        // with the same capture times.
        let (graph, alone) = (
            value_after(&args, "-filter_complex"),
            value_after(&single, "-filter_complex"),
        );
        let main = alone.strip_suffix("[main]").expect(alone);
        assert_eq!(
            graph,
            format!(
                "{main},split[main][light_in];[light_in]select=not(mod(n\\,2)),\
                 scale=640:360:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=area\
                 [light]"
            )
        );
    }

    #[test]
    fn a_source_of_unknown_rate_keeps_its_rate_in_the_light_rendition() {
        let args = two(&Input::File("talk.mp4".into()), &Video::default(), 7);
        let graph = value_after(&args, "-filter_complex");
        assert!(graph.contains("[light_in]scale=640:360:"), "{graph}");
        assert!(!graph.contains("select="), "{graph}");
        let light = output(&args, "[light]");
        assert!(!light.contains(&"-r".to_string()), "{light:?}");
        assert_eq!(
            value_after(light, "-g"),
            "60",
            "a second at the nominal rate"
        );
    }

    fn with(encoder: Encoder) -> Video {
        Video {
            encoder,
            ..Video::default()
        }
    }

    const DDA: Input = Input::Ddagrab {
        monitor: 1,
        cursor: false,
    };

    #[test]
    fn ddagrab_frames_stay_on_the_gpu_into_qsv_scaled_there() {
        let args = two(&DDA, &with(Encoder::Qsv(VideoCodec::Hevc)), 7);
        assert_eq!(value_after(&args, "-f"), "lavfi");
        assert_eq!(
            value_after(&args, "-i"),
            "ddagrab=output_idx=1:framerate=60:draw_mouse=0"
        );
        let graph = value_after(&args, "-filter_complex");
        assert_eq!(
            graph,
            "[0:v]settb=AVTB,setpts=RTCTIME-7,hwmap=derive_device=qsv,format=qsv,\
             scale_qsv=w=1280:h=720:format=nv12,split[main][light_in];\
             [light_in]select=not(mod(n\\,2)),scale_qsv=w=640:h=360:format=nv12[light]"
        );
        for label in ["[main]", "[light]"] {
            let out = output(&args, label);
            assert_eq!(value_after(out, "-c:v"), "hevc_qsv");
            assert!(
                !out.contains(&"-pix_fmt".to_string()),
                "GPU frames: {out:?}"
            );
        }
    }

    fn three(input: &Input, video: &Video, also: Encoder) -> Vec<String> {
        build(input, video, &outputs(input, video, Some(also), true), 7)
    }

    #[test]
    fn the_main_picture_in_a_second_codec_is_a_copy_encoded_alike() {
        let hevc = with(Encoder::Libx265);
        let (args, alone) = (
            three(&Input::Test, &hevc, Encoder::Libx264),
            one(&Input::Test, &hevc, 7),
        );
        assert_eq!(all_after(&args, "-map"), ["[main]", "[also]", "[light]"]);
        assert_eq!(output(&args, "[main]"), output(&alone, "[main]"));
        let (main, also, light) = (
            output(&args, "[main]"),
            output(&args, "[also]"),
            output(&args, "[light]"),
        );
        assert_eq!(value_after(main, "-c:v"), "libx265");
        assert_eq!(value_after(also, "-c:v"), "libx264");
        assert_eq!(
            also.last().map(String::as_str),
            Some("tcp://127.0.0.1:9/also")
        );
        for flag in ["-g", "-b:v", "-fps_mode"] {
            assert_eq!(value_after(also, flag), value_after(main, flag), "{flag}");
        }
        // The light rendition in the codec more browsers decode.
        assert_eq!(value_after(light, "-c:v"), "libx264");
        let graph = value_after(&args, "-filter_complex");
        let stamped = value_after(&alone, "-filter_complex")
            .strip_suffix("[main]")
            .expect("main pad");
        assert!(
            graph.starts_with(&format!(
                "{stamped},split=3[main][also][light_in];[light_in]"
            )),
            "{graph}"
        );
        // Without the light rendition: two copies.
        let two_codecs = outputs(&Input::Test, &hevc, Some(Encoder::Libx264), false);
        let args = build(&Input::Test, &hevc, &two_codecs, 7);
        assert_eq!(
            value_after(&args, "-filter_complex"),
            format!("{stamped},split[main][also]")
        );
    }

    #[test]
    fn the_second_codec_takes_the_same_gpu_frames() {
        let args = three(
            &DDA,
            &with(Encoder::Qsv(VideoCodec::Hevc)),
            Encoder::Qsv(VideoCodec::H264),
        );
        let graph = value_after(&args, "-filter_complex");
        assert!(
            graph.contains("scale_qsv=w=1280:h=720:format=nv12,split=3[main][also][light_in];"),
            "{graph}"
        );
        for (label, encoder) in [
            ("[main]", "hevc_qsv"),
            ("[also]", "h264_qsv"),
            ("[light]", "h264_qsv"),
        ] {
            let out = output(&args, label);
            assert_eq!(value_after(out, "-c:v"), encoder, "{label}");
            assert!(
                !out.contains(&"-pix_fmt".to_string()),
                "GPU frames: {out:?}"
            );
        }
    }

    #[test]
    fn nvenc_and_amf_take_d3d11_frames_as_they_are() {
        let args = one(&DDA, &with(Encoder::Nvenc(VideoCodec::H264)), 7);
        assert_eq!(
            value_after(&args, "-filter_complex"),
            "[0:v]settb=AVTB,setpts=RTCTIME-7,scale_d3d11=width=1280:height=720[main]"
        );
        assert_eq!(value_after(&args, "-c:v"), "h264_nvenc");
    }

    #[test]
    fn ddagrab_into_libx264_or_with_the_pixel_clock_downloads_the_frames_first() {
        let args = one(&DDA, &with(Encoder::Libx264), 7);
        let graph = value_after(&args, "-filter_complex");
        assert!(
            graph.starts_with("[0:v]hwdownload,format=bgra,scale=1280:720:"),
            "{graph}"
        );
        assert_eq!(value_after(&args, "-pix_fmt"), "yuv420p");
        let clocked = Video {
            pixel_clock: true,
            ..with(Encoder::Qsv(VideoCodec::H264))
        };
        let args = one(&DDA, &clocked, 7);
        let graph = value_after(&args, "-filter_complex");
        assert!(graph.starts_with("[0:v]hwdownload,format=bgra,"), "{graph}");
        assert!(graph.contains(&pixel_clock::filter(7)), "{graph}");
        assert!(!graph.contains("hwmap"), "{graph}");
        assert_eq!(value_after(&args, "-pix_fmt"), "nv12");
    }

    #[test]
    fn gdigrab_and_avfoundation_capture_the_screen_at_the_requested_rate() {
        let gdi = one(&Input::Gdigrab { cursor: true }, &Video::default(), 1).join(" ");
        assert!(
            gdi.contains("-f gdigrab -framerate 60 -draw_mouse 1 -i desktop"),
            "{gdi}"
        );
        let mac = one(
            &Input::AvFoundation {
                screen: 0,
                cursor: false,
            },
            &with(Encoder::VideoToolbox(VideoCodec::H264)),
            1,
        );
        assert!(
            mac.join(" ").contains(
                "-f avfoundation -capture_cursor 0 -framerate 60 -i Capture screen 0:none"
            ),
            "{mac:?}"
        );
        assert_eq!(value_after(&mac, "-c:v"), "h264_videotoolbox");
        for input in [DDA, Input::Gdigrab { cursor: true }] {
            assert!(input.is_screen() && input.runs_at_requested_rate());
        }
    }

    #[test]
    fn a_probe_encodes_a_few_frames_of_the_main_rendition_only() {
        let args = probe(&DDA, &with(Encoder::Amf(VideoCodec::Av1)));
        let tail: Vec<&str> = args[args.len() - 3..].iter().map(String::as_str).collect();
        assert_eq!(tail, ["-frames:v", "3", "pipe:1"]);
        assert_eq!(all_after(&args, "-map"), ["[main]"]);
        assert_eq!(value_after(&args, "-c:v"), "av1_amf");
    }
}
