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

use std::fmt::Write;
use std::path::PathBuf;

use crate::{av_sync, pixel_clock};

/// Where the pictures come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A synthetic, real-time paced 60 fps pattern with motion, a running clock and the pixel
    /// clock.
    Test,
    /// The X11 display named here (e.g. `:0`), captured with x11grab.
    X11 { display: String },
    /// A media file, looped and paced in real time (restreaming a recording).
    File(PathBuf),
    /// A network stream (RTSP, SRT, HTTP, …), paced by its sender.
    Url(String),
    /// An ffmpeg lavfi filter graph, paced in real time.
    Lavfi(String),
    /// Anything read with a named ffmpeg demuxer, e.g. a `v4l2` camera: `-f FORMAT -i NAME`.
    Device { format: String, name: String },
}

/// How to encode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Video {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    pub gop_seconds: u32,
    /// Draw the pixel clock (always on for the test source).
    pub pixel_clock: bool,
}

impl Default for Video {
    fn default() -> Self {
        Self {
            width: 1280,
            height: 720,
            fps: 60,
            bitrate_kbps: 4500,
            gop_seconds: 2,
            pixel_clock: false,
        }
    }
}

/// ffmpeg's arguments (without the program name) for capturing `input`, encoding with `video`,
/// and writing FLV to stdout. `base_unix_micros` is the wall-clock instant timestamps count from.
pub fn build(input: &Input, video: &Video, base_unix_micros: u64) -> Vec<String> {
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
        Input::X11 { display } => {
            let fps = video.fps.to_string();
            push(&[
                "-f",
                "x11grab",
                "-framerate",
                &fps,
                "-draw_mouse",
                "1",
                "-i",
                display,
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

    let mut filters = String::new();
    if *input != Input::Test {
        // Other sources come in any size: fit into the requested frame (even dimensions for 4:2:0).
        let _ = write!(
            filters,
            "scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2,",
            w = video.width,
            h = video.height
        );
    }
    // Microsecond time base first, or the generator's 1/fps base would round the stamps.
    let _ = write!(filters, "settb=AVTB,setpts=RTCTIME-{base_unix_micros}");
    if video.pixel_clock || *input == Input::Test {
        filters.push(',');
        filters.push_str(&pixel_clock::filter(base_unix_micros));
    }
    if *input == Input::Test {
        // The A/V sync flash (its beep is in the audio test source).
        filters.push(',');
        filters.push_str(&av_sync::flash_filter(base_unix_micros));
        // The running clock (time since the stream started, ms) and the frame number, below the
        // pixel clock.
        filters.push_str(
            ",drawtext=text='%{pts\\:hms}  frame %{n}':x=40:y=40:fontsize=40\
             :fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=8",
        );
    }
    push(&["-vf", &filters]);

    let gop = (video.fps * video.gop_seconds).to_string();
    let bitrate = format!("{}k", video.bitrate_kbps);
    let bufsize = format!("{}k", video.bitrate_kbps / 2);
    push(&[
        "-copyts",
        "-fps_mode",
        "passthrough",
        "-enc_time_base:v",
        "1:1000",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
        "-bf",
        "0",
        "-g",
        &gop,
        "-keyint_min",
        &gop,
        "-sc_threshold",
        "0",
        "-b:v",
        &bitrate,
        "-maxrate",
        &bitrate,
        "-bufsize",
        &bufsize,
        "-pix_fmt",
        "yuv420p",
        "-an",
        "-f",
        "flv",
        "-flvflags",
        "no_duration_filesize",
        "-flush_packets",
        "1",
        "pipe:1",
    ]);
    args
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

    #[test]
    fn test_source_is_paced_lavfi_at_the_requested_size_and_rate() {
        let args = build(&Input::Test, &Video::default(), 1);
        assert!(args.contains(&"-re".to_string()));
        assert_eq!(value_after(&args, "-f"), "lavfi");
        assert_eq!(value_after(&args, "-i"), "testsrc2=size=1280x720:rate=60");
        assert!(value_after(&args, "-vf").contains("drawtext="));
    }

    #[test]
    fn gop_is_two_seconds_of_frames_and_never_all_intra() {
        let video = Video {
            fps: 30,
            ..Video::default()
        };
        let args = build(&Input::Test, &video, 1);
        assert_eq!(value_after(&args, "-g"), "60");
        assert_eq!(value_after(&args, "-keyint_min"), "60");
        assert_eq!(value_after(&args, "-bf"), "0");
        assert_eq!(value_after(&args, "-tune"), "zerolatency");
    }

    #[test]
    fn timestamps_are_capture_wall_clock_relative_to_the_base() {
        let args = build(&Input::Test, &Video::default(), 1_700_000_000_123_456);
        let filters = value_after(&args, "-vf");
        assert!(filters.starts_with("settb=AVTB,setpts=RTCTIME-1700000000123456"));
        assert!(args.contains(&"-copyts".to_string()));
        assert_eq!(value_after(&args, "-fps_mode"), "passthrough");
    }

    #[test]
    fn output_is_flv_on_stdout_flushed_per_packet() {
        let args = build(&Input::Test, &Video::default(), 1);
        assert_eq!(args.last().map(String::as_str), Some("pipe:1"));
        assert_eq!(value_after(&args, "-flush_packets"), "1");
        let formats: Vec<_> = args
            .windows(2)
            .filter(|w| w[0] == "-f")
            .map(|w| w[1].as_str())
            .collect();
        assert_eq!(formats, ["lavfi", "flv"]);
    }

    #[test]
    fn screen_capture_grabs_the_display_and_scales_to_even_size() {
        let input = Input::X11 {
            display: ":99".into(),
        };
        let args = build(&input, &Video::default(), 1);
        assert_eq!(value_after(&args, "-f"), "x11grab");
        assert_eq!(value_after(&args, "-i"), ":99");
        assert_eq!(value_after(&args, "-framerate"), "60");
        assert!(
            !args.contains(&"-re".to_string()),
            "devices pace themselves"
        );
        let filters = value_after(&args, "-vf");
        assert!(filters.starts_with("scale=1280:720:"));
        assert!(filters.contains("force_divisible_by=2"));
        assert!(!filters.contains("drawtext"));
        assert!(!filters.contains("geq="), "no pixel clock unless asked");
    }

    #[test]
    fn the_test_source_always_carries_the_pixel_clock_and_others_on_request() {
        let test = build(&Input::Test, &Video::default(), 7);
        assert!(value_after(&test, "-vf").contains(&pixel_clock::filter(7)));
        let video = Video {
            pixel_clock: true,
            ..Video::default()
        };
        let screen = build(
            &Input::X11 {
                display: ":0".into(),
            },
            &video,
            7,
        );
        let filters = value_after(&screen, "-vf");
        let (before, after) = filters
            .split_once("setpts=RTCTIME-7")
            .expect("capture stamps");
        assert!(
            before.starts_with("scale="),
            "scale before the clock: {filters}"
        );
        assert!(
            after.contains(&pixel_clock::filter(7)),
            "clock after the stamps: {filters}"
        );
    }

    #[test]
    fn files_loop_in_real_time_and_urls_and_devices_pass_through() {
        let file = build(&Input::File("talk.mp4".into()), &Video::default(), 1);
        assert!(file.join(" ").contains("-stream_loop -1 -re -i talk.mp4"));
        let url = build(
            &Input::Url("rtsp://cam/stream".into()),
            &Video::default(),
            1,
        );
        assert!(url.join(" ").contains("-i rtsp://cam/stream"));
        assert!(
            !url.contains(&"-re".to_string()),
            "live streams pace themselves"
        );
        let graph = build(&Input::Lavfi("mandelbrot".into()), &Video::default(), 1);
        assert!(graph.join(" ").contains("-re -f lavfi -i mandelbrot"));
        let camera = Input::Device {
            format: "v4l2".into(),
            name: "/dev/video0".into(),
        };
        assert!(
            build(&camera, &Video::default(), 1)
                .join(" ")
                .contains("-f v4l2 -i /dev/video0")
        );
    }
}
