//! The publisher's command line.

use std::path::PathBuf;

use clap::Parser;

pub use crate::audio_args::Codec;
use crate::encoder::{Codecs, VideoCodec};

#[derive(Parser, Debug)]
#[command(
    about = "Capture a screen (or a synthetic test source) and publish it live to a MoQ relay",
    after_help = "Examples:\n  \
        publisher --name screen                        # this desktop to a local dev relay\n  \
        publisher --name screen --source test          # the 720p60 test pattern instead\n  \
        publisher --name screen --monitor 1 --codec hevc   # Windows: second monitor, HEVC on the GPU\n  \
        publisher --name screen --codec hevc,h264      # HEVC, and H.264 for browsers without HEVC\n  \
        PUBLISHER_TOKEN=$(cat publish.jwt) publisher --name screen --url https://relay.example.com/\n  \
        publisher --name screen --url http://desk.lan:4443/ --token-file publish.jwt\n  \
        publisher --source screen --renditions 1       # main rendition only (a weak publishing machine)\n  \
        publisher --list-devices                       # the audio devices ffmpeg can capture\n  \
        publisher --source screen --audio-device alsa_output.pci-0000_00_1f.3.analog-stereo.monitor\n  \
        publisher --source talk.mp4 --audio-codec aac --audio-offset -80\n\n\
        Audio: the test source beeps (1 kHz, 100 ms) in sync with a white flash in the\n\
        bottom-right corner at every whole second; `screen` captures the default audio\n\
        device (Linux: PulseAudio/PipeWire `default`; a sink's `.monitor` source is what\n\
        the desktop plays; Windows and macOS: a loopback device that carries what the\n\
        desktop plays — a virtual cable such as \"CABLE Output\", \"Stereo Mix\", BlackHole —\n\
        or no sound when there is none); files and URLs publish their own first audio stream.\n\n\
        An http:// relay URL means a development relay: its self-signed certificate\n\
        fingerprint is fetched from the same host and port and pinned.\n\n\
        Publish token: a relay that refuses anonymous publishing wants a JWT. Give it with\n\
        --token-file FILE or the PUBLISHER_TOKEN environment variable (used when there is\n\
        no --token-file), not in --url: a command line is visible to every user (ps). The\n\
        publisher never prints it."
)]
pub struct Args {
    /// Broadcast name viewers subscribe to.
    #[arg(long, default_value = "screen")]
    pub name: String,

    /// Relay URL (the path is the relay's auth scope). A `?jwt=` token here works but is visible
    /// to other users in `ps`: prefer --token-file or PUBLISHER_TOKEN.
    #[arg(long, default_value = "http://localhost:4443/anon", value_parser = parse_relay_url)]
    pub url: url::Url,

    /// Read the relay's publish token (a JWT) from FILE; it is sent as the URL's `jwt`
    /// parameter, replacing one in --url. Without it, the PUBLISHER_TOKEN environment variable
    /// gives the token, if set.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// What to publish: `screen` (this desktop), `test` (synthetic pattern), a media file (looped
    /// in real time), a stream URL (rtsp://, srt://, http://…), or `lavfi:GRAPH`.
    #[arg(long, default_value = "screen", value_parser = parse_source)]
    pub source: Source,

    /// Read `--source` with this ffmpeg demuxer, e.g. `v4l2` for a camera at /dev/video0.
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<String>,

    /// Draw the pixel clock (each frame's capture time as 40 blocks in the top-left corner) into
    /// any source, for glass-to-glass measurement. The test source always has it.
    #[arg(long)]
    pub pixel_clock: bool,

    /// X11 display to capture with `--source screen` on Linux (defaults to $DISPLAY).
    #[arg(long, value_name = "DISPLAY")]
    pub display: Option<String>,

    /// The monitor to capture with `--source screen` on Windows (Desktop Duplication output
    /// index) and macOS (`Capture screen N`): 0 is the first. The GDI fallback captures the
    /// whole desktop.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub monitor: u32,

    /// Leave the mouse pointer out of the screen capture.
    #[arg(long)]
    pub no_cursor: bool,

    /// Video codec: `h264` (every browser), or `hevc`/`av1` from a hardware encoder (Windows:
    /// Intel QSV, NVIDIA NVENC, AMD AMF; macOS: VideoToolbox, HEVC only); HEVC then from
    /// libx265 on the CPU (ffmpeg 6.1+), and H.264 when nothing else opens. Viewers whose
    /// browser cannot decode it say so. A second codec after a comma (`hevc,h264`) sends the
    /// same picture in it too, from the same encoder family, and the light rendition in it:
    /// browsers without HEVC then play H.264, the others HEVC.
    #[arg(long, default_value = "h264", value_parser = parse_codecs, value_name = "CODEC[,CODEC]")]
    pub codec: Codecs,

    /// Output size, WIDTHxHEIGHT (the screen is scaled to fit, aspect kept).
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    pub size: (u32, u32),

    /// Frames per second.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub fps: u32,

    /// Video bitrate in kbit/s.
    #[arg(long, default_value_t = 4500, value_parser = clap::value_parser!(u32).range(100..=200_000))]
    pub bitrate: u32,

    /// Video renditions: 2 adds a light one to the broadcast (half the size, about 30 fps, the
    /// same capture times and keyframe instants) that viewers whose CPU can't keep up with the
    /// main one step down to; it costs ffmpeg 10–20 % more CPU. 1: the main only.
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=2))]
    pub renditions: u8,

    /// Publish no sound.
    #[arg(long, conflicts_with = "audio_device")]
    pub no_audio: bool,

    /// Publish no picture: sound only (a radio, a meeting's audio). The test source still beeps.
    #[arg(long, conflicts_with = "no_audio")]
    pub no_video: bool,

    /// Capture sound from this device, whatever the source. Linux: a PulseAudio/PipeWire source
    /// name (`default`, or `<sink>.monitor` for what the desktop plays); Windows: a DirectShow
    /// audio device name; macOS: an AVFoundation audio device name or index. `--list-devices`
    /// shows them. Not being able to open it is an error.
    #[arg(long, value_name = "NAME")]
    pub audio_device: Option<String>,

    /// Print the audio devices ffmpeg can capture from, and exit.
    #[arg(long)]
    pub list_devices: bool,

    /// Audio codec: `opus` (10 ms packets, the lowest latency), `aac` (AAC-LC, mp4a.40.2) or `ac3`
    /// (Dolby Digital, for players that decode it; browsers other than Safari do not).
    #[arg(long, value_enum, default_value_t = Codec::Opus, value_name = "CODEC")]
    pub audio_codec: Codec,

    /// Audio bitrate in kbit/s [default: 144 for Opus (below that the TS muxer holds each
    /// packet back 10 ms), 128 for AAC, 192 for AC-3].
    #[arg(long, value_name = "KBPS", value_parser = clap::value_parser!(u32).range(16..=512))]
    pub audio_bitrate: Option<u32>,

    /// Shift the audio against the video by this many milliseconds (positive: the sound plays
    /// later), e.g. to make up for a capture device's own delay. Written into the timestamps.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 0,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(i32).range(-5000..=5000)
    )]
    pub audio_offset: i32,

    /// The ffmpeg program to run.
    #[arg(long, env = "FFMPEG", default_value = "ffmpeg", value_name = "PATH")]
    pub ffmpeg: PathBuf,
}

/// What `--source` named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A synthetic real-time pattern with motion and a running clock.
    Test,
    /// The desktop (Linux: X11 via x11grab).
    Screen,
    /// A network stream.
    Url(String),
    /// An ffmpeg lavfi graph.
    Lavfi(String),
    /// A file or device path that exists.
    Path(PathBuf),
}

fn parse_source(text: &str) -> Result<Source, String> {
    Ok(match text {
        "test" => Source::Test,
        "screen" => Source::Screen,
        _ if text.contains("://") => Source::Url(text.to_string()),
        _ => match text.strip_prefix("lavfi:") {
            Some(graph) if !graph.is_empty() => Source::Lavfi(graph.to_string()),
            _ if std::path::Path::new(text).exists() => Source::Path(text.into()),
            _ => {
                return Err(format!(
                    "not `test`, `screen`, a URL, `lavfi:GRAPH` or an existing file ({text:?} does not exist)"
                ));
            }
        },
    })
}

/// The relay URL schemes the publisher can dial: `https` (WebTransport), `http` (a development
/// relay: WebTransport after fetching and pinning its certificate fingerprint), `moqt`/`moql`
/// (raw QUIC). Anything else can never connect, so it is a usage error rather than a retry.
pub const RELAY_SCHEMES: [&str; 4] = ["https", "http", "moqt", "moql"];

fn parse_relay_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|err| format!("{text:?} is not a URL: {err}"))?;
    if !RELAY_SCHEMES.contains(&url.scheme()) {
        return Err(format!(
            "the relay URL's scheme must be https://, http:// (a development relay), moqt:// or \
             moql://, not {}://",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} names no relay host"));
    }
    Ok(url)
}

fn parse_codecs(text: &str) -> Result<Codecs, String> {
    let mut codecs = text.split(',').map(|name| {
        <VideoCodec as clap::ValueEnum>::from_str(name.trim(), true)
            .map_err(|_| format!("{name:?} is not a video codec: h264, hevc or av1"))
    });
    let main = codecs.next().ok_or("no codec")??;
    let also = codecs.next().transpose()?;
    if codecs.next().is_some() {
        return Err(format!("{text:?}: at most two codecs, e.g. hevc,h264"));
    }
    if also == Some(main) {
        return Err(format!("{text:?} names the same codec twice"));
    }
    Ok(Codecs { main, also })
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{text:?} is not WIDTHxHEIGHT"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_err(|_| format!("{text:?} is not WIDTHxHEIGHT"))
    };
    let (w, h) = (parse(w)?, parse(h)?);
    if !(16..=7680).contains(&w)
        || !(16..=4320).contains(&h)
        || !w.is_multiple_of(2)
        || !h.is_multiple_of(2)
    {
        return Err(format!(
            "{w}x{h}: width and height must be even, 16…7680 × 16…4320"
        ));
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_size("1920x1080"), Ok((1920, 1080)));
        assert!(parse_size("1921x1080").is_err());
        assert!(parse_size("big").is_err());
        assert!(parse_size("0x0").is_err());
    }

    #[test]
    fn sources_are_recognised_by_shape() {
        assert_eq!(parse_source("test"), Ok(Source::Test));
        assert_eq!(parse_source("screen"), Ok(Source::Screen));
        assert_eq!(
            parse_source("srt://host:9000"),
            Ok(Source::Url("srt://host:9000".into()))
        );
        assert_eq!(
            parse_source("lavfi:mandelbrot"),
            Ok(Source::Lavfi("mandelbrot".into()))
        );
        assert_eq!(
            parse_source("Cargo.toml"),
            Ok(Source::Path("Cargo.toml".into()))
        );
        assert!(parse_source("lavfi:").is_err());
        assert!(parse_source("no-such-file.mp4").is_err());
    }

    #[test]
    fn one_or_two_codecs() {
        let codecs = |text| parse_codecs(text);
        assert_eq!(
            codecs("hevc"),
            Ok(Codecs {
                main: VideoCodec::Hevc,
                also: None
            })
        );
        assert_eq!(
            codecs("HEVC, h264"),
            Ok(Codecs {
                main: VideoCodec::Hevc,
                also: Some(VideoCodec::H264)
            })
        );
        assert!(
            codecs("hevc,hevc")
                .unwrap_err()
                .contains("same codec twice")
        );
        assert!(codecs("av1,hevc,h264").unwrap_err().contains("at most two"));
        assert!(codecs("vp8").unwrap_err().contains("h264, hevc or av1"));
        let args = Args::try_parse_from(["publisher"]).unwrap();
        assert_eq!(args.codec.main, VideoCodec::H264);
        let err = Args::try_parse_from(["publisher", "--codec", "h265"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn unknown_source_is_a_usage_error() {
        let err = Args::try_parse_from(["publisher", "--source", "webcam"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn no_video_and_no_audio_together_is_a_usage_error() {
        assert!(
            Args::try_parse_from(["publisher", "--no-video"])
                .unwrap()
                .no_video
        );
        let err = Args::try_parse_from(["publisher", "--no-video", "--no-audio"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn audio_options_parse() {
        let args = Args::try_parse_from(["publisher"]).unwrap();
        assert!(!args.no_audio && !args.list_devices);
        assert_eq!(
            (args.audio_codec, args.audio_bitrate, args.audio_offset),
            (Codec::Opus, None, 0)
        );
        let args = Args::try_parse_from([
            "publisher",
            "--audio-device",
            "vsink.monitor",
            "--audio-codec",
            "aac",
            "--audio-bitrate",
            "96",
            "--audio-offset",
            "-80",
        ])
        .unwrap();
        assert_eq!(args.audio_device.as_deref(), Some("vsink.monitor"));
        assert_eq!(
            (args.audio_codec, args.audio_bitrate, args.audio_offset),
            (Codec::Aac, Some(96), -80)
        );
        for bad in [
            &["publisher", "--no-audio", "--audio-device", "x"][..],
            &["publisher", "--audio-codec", "mp3"],
            &["publisher", "--audio-offset", "9000"],
        ] {
            assert!(Args::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn relay_urls_that_can_never_connect_are_usage_errors() {
        for good in [
            "https://relay.example.com/",
            "http://localhost:4443/anon",
            "moqt://relay.example.com:443/",
            "moql://127.0.0.1:4443/",
        ] {
            let args = Args::try_parse_from(["publisher", "--url", good]).unwrap();
            assert_eq!(args.url.as_str(), good);
        }
        for bad in [
            "ftp://nope",
            "ws://relay/",
            "relay.example.com",
            "file:///tmp/x",
        ] {
            let err = Args::try_parse_from(["publisher", "--url", bad]).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
        }
        let err = Args::try_parse_from(["publisher", "--url", "ftp://nope"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("must be https://") && err.contains("not ftp://"),
            "{err}"
        );
    }

    #[test]
    fn defaults_share_the_screen_with_a_local_dev_relay() {
        let args = Args::try_parse_from(["publisher"]).expect("defaults parse");
        assert_eq!(args.name, "screen");
        assert_eq!(args.url.as_str(), "http://localhost:4443/anon");
        assert_eq!(args.token_file, None);
        assert_eq!(
            (args.source, args.size, args.fps, args.renditions),
            (Source::Screen, (1280, 720), 60, 2)
        );
    }

    #[test]
    fn the_token_comes_from_a_file_named_on_the_command_line() {
        let args = Args::try_parse_from(["publisher", "--token-file", "publish.jwt"]).unwrap();
        assert_eq!(args.token_file, Some(PathBuf::from("publish.jwt")));
        let help = Args::try_parse_from(["publisher", "--help"])
            .unwrap_err()
            .to_string();
        assert!(
            help.contains("--token-file") && help.contains("PUBLISHER_TOKEN"),
            "{help}"
        );
    }

    #[test]
    fn one_or_two_renditions() {
        let args = Args::try_parse_from(["publisher", "--renditions", "1"]).unwrap();
        assert_eq!(args.renditions, 1);
        for bad in ["0", "3"] {
            assert!(Args::try_parse_from(["publisher", "--renditions", bad]).is_err());
        }
    }
}
