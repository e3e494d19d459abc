//! The audio ffmpeg's command line, as a pure function of the settings.
//!
//! Audio runs in its **own ffmpeg process**, so it can never hold back or break the video: one
//! muxer interleaving both adds latency, and ffmpeg 5.1 refuses Opus in FLV. It writes MPEG-TS to
//! its stdout, which [`crate::audio_import`] turns into the broadcast's audio track.
//!
//! Latency choices (measured on ffmpeg 5.1, sample stamp → bytes read from stdout):
//! - Opus `-application lowdelay -frame_duration 10`: 10 ms packets, 2.5 ms look-ahead.
//! - `-f mpegts -muxdelay 0 -muxpreload 0 -pes_payload_size 0 -flush_packets 1`: no timestamp
//!   offset, one PES per packet, flushed at once. The TS muxer still holds back an audio packet
//!   no larger than its minimum PES payload (170 bytes once rounded to whole TS packets) until the
//!   next one arrives (+10 ms); **constant bitrate at 144 kb/s** makes every 10 ms Opus packet
//!   180 bytes, so each is written the moment it is encoded: ≈ 3 ms for the test source, where
//!   128 kb/s (VBR or CBR) measured 13 ms.
//!
//! Timestamps are on the video's clock (µs after `base_unix_micros`):
//! `asetpts=N*1000000/SR+RTCSTART-base+offset` — sample-count based, so consecutive packets are
//! exactly contiguous, and anchored at the wall-clock time the filter graph saw the first samples.
//! Device timestamps (pulse, dshow) are not wall-clock time, so they are not used (`-copyts` is
//! not given). The encoder shifts packet stamps back by its look-ahead, so each packet's
//! timestamp is the capture time of the first sample its decoded output holds. Counted samples
//! follow the device's clock, which drifts against the wall clock the video's stamps follow:
//! [`crate::audio_clock`] keeps them on it as they are read.

use std::path::PathBuf;

use crate::av_sync;

/// The operating system whose capture API to use (a parameter so tests exercise all three).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// PulseAudio / PipeWire (`-f pulse`).
    Linux,
    /// DirectShow (`-f dshow`).
    Windows,
    /// AVFoundation (`-f avfoundation`).
    MacOs,
}

impl Platform {
    /// The platform this binary runs on (Linux for anything that is neither Windows nor macOS).
    pub fn current() -> Self {
        if cfg!(target_os = "windows") {
            Platform::Windows
        } else if cfg!(target_os = "macos") {
            Platform::MacOs
        } else {
            Platform::Linux
        }
    }

    /// ffmpeg's arguments (without the program name) that list this platform's audio devices.
    pub fn list_devices_args(self) -> Vec<String> {
        let args: &[&str] = match self {
            Platform::Linux => &["-hide_banner", "-sources", "pulse"],
            Platform::Windows => &[
                "-hide_banner",
                "-list_devices",
                "true",
                "-f",
                "dshow",
                "-i",
                "dummy",
            ],
            Platform::MacOs => &[
                "-hide_banner",
                "-f",
                "avfoundation",
                "-list_devices",
                "true",
                "-i",
                "",
            ],
        };
        args.iter().map(|s| s.to_string()).collect()
    }
}

/// Where the sound comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The synced test tone (see [`av_sync`]): a 1 kHz beep at every whole Unix second.
    TestTone,
    /// A capture device of `platform`, by name.
    Device { platform: Platform, name: String },
    /// The first audio stream of a media file, looped and paced in real time like the video.
    File(PathBuf),
    /// The first audio stream of a network stream.
    Url(String),
}

/// The audio codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    /// Opus, 10 ms packets (lowest latency).
    Opus,
    /// AAC-LC (ffmpeg's `aac` encoder, ADTS in TS; 21.3 ms frames).
    Aac,
    /// AC-3 (Dolby Digital; 32 ms frames), for players that decode it (TVs, Safari). Chromium
    /// and Firefox cannot: their viewers play the video and say why there is no sound.
    Ac3,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Aac => "aac",
            Codec::Ac3 => "ac3",
        }
    }

    /// The bitrate used when none is given, kb/s.
    pub fn default_kbps(self) -> u32 {
        match self {
            // 180-byte packets: over the TS muxer's hold-back threshold (see the module docs).
            Codec::Opus => 144,
            Codec::Aac => 128,
            Codec::Ac3 => 192,
        }
    }
}

pub const SAMPLE_RATE: u32 = 48_000;
pub const CHANNELS: u32 = 2;

/// How to encode and stamp.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audio {
    pub codec: Codec,
    pub bitrate_kbps: u32,
    /// Added to every timestamp (positive: the audio plays later), µs.
    pub offset_us: i64,
}

impl Default for Audio {
    fn default() -> Self {
        Self {
            codec: Codec::Opus,
            bitrate_kbps: Codec::Opus.default_kbps(),
            offset_us: 0,
        }
    }
}

/// ffmpeg's arguments (without the program name) for capturing `source`, encoding with `audio`
/// and writing MPEG-TS to stdout, stamped in µs after `base_unix_micros`.
pub fn build(source: &Source, audio: &Audio, base_unix_micros: u64) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(|s| s.to_string()));
    push(&["-hide_banner", "-nostats"]);

    let rate = SAMPLE_RATE.to_string();
    let channels = CHANNELS.to_string();
    let mut map_first_audio = false;
    let mut pace = false;
    match source {
        // Generated as fast as ffmpeg asks and paced by `arealtime` in the graph: it sleeps to
        // the exact instant, where `-re` polls in 10 ms steps (measured 10 ms median, 21 ms p95).
        Source::TestTone => push(&[
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=48000:cl=stereo:nb_samples=480",
        ]),
        Source::Device { platform, name } => match platform {
            // 10 ms fragments (48 kHz × 2 ch × 16 bit); the default lets pulse pick, often more.
            Platform::Linux => push(&[
                "-f",
                "pulse",
                "-sample_rate",
                &rate,
                "-channels",
                &channels,
                "-fragment_size",
                "1920",
                "-i",
                name,
            ]),
            // dshow's default buffer is ≈ 500 ms.
            Platform::Windows => push(&[
                "-f",
                "dshow",
                "-audio_buffer_size",
                "20",
                "-i",
                &format!("audio={name}"),
            ]),
            Platform::MacOs => push(&["-f", "avfoundation", "-i", &format!(":{name}")]),
        },
        Source::File(path) => {
            let path = path.to_string_lossy();
            push(&["-stream_loop", "-1", "-re", "-i", &path]);
            map_first_audio = true;
        }
        Source::Url(url) => {
            push(&["-i", url]);
            map_first_audio = true;
        }
    }
    if *source == Source::TestTone {
        pace = true;
    }

    let mut filters = String::new();
    if pace {
        filters.push_str("arealtime,");
    }
    // Any input format → 48 kHz stereo before the stamps, so N counts output samples.
    filters.push_str("aresample=48000,aformat=sample_rates=48000:channel_layouts=stereo,");
    let offset = match audio.offset_us {
        0 => String::new(),
        us if us > 0 => format!("+{us}"),
        us => format!("-{}", us.unsigned_abs()),
    };
    filters.push_str(&format!(
        "asettb=AVTB,asetpts=N*1000000/SR+RTCSTART-{base_unix_micros}{offset}"
    ));
    if *source == Source::TestTone {
        filters.push(',');
        // The beep follows the samples' *capture* time (the stamp minus the offset): an offset
        // moves it against the flash just as it moves real sound against real pictures, so it
        // can be measured. With no offset the onsets coincide in stamped time.
        filters.push_str(&av_sync::beep_filter(
            base_unix_micros.wrapping_add_signed(-audio.offset_us),
            CHANNELS,
        ));
    }
    if map_first_audio {
        push(&["-map", "0:a:0"]);
    }
    push(&["-af", &filters, "-vn", "-sn", "-dn"]);

    let bitrate = format!("{}k", audio.bitrate_kbps);
    match audio.codec {
        Codec::Opus => push(&[
            "-c:a",
            "libopus",
            "-application",
            "lowdelay",
            "-frame_duration",
            "10",
            "-vbr",
            "off",
            "-b:a",
            &bitrate,
        ]),
        Codec::Aac => push(&["-c:a", "aac", "-b:a", &bitrate]),
        Codec::Ac3 => push(&["-c:a", "ac3", "-b:a", &bitrate]),
    }
    push(&[
        "-ar",
        &rate,
        "-ac",
        &channels,
        "-f",
        "mpegts",
        "-muxdelay",
        "0",
        "-muxpreload",
        "0",
        "-pes_payload_size",
        "0",
        "-flush_packets",
        "1",
        "pipe:1",
    ]);
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffmpeg_args::value_after;

    fn device(platform: Platform, name: &str) -> Vec<String> {
        let source = Source::Device {
            platform,
            name: name.into(),
        };
        build(&source, &Audio::default(), 1)
    }

    #[test]
    fn opus_is_10_ms_lowdelay_cbr_in_unbuffered_mpegts_on_stdout() {
        let args = build(&Source::TestTone, &Audio::default(), 1);
        let line = args.join(" ");
        assert!(
            line.contains(
                "-c:a libopus -application lowdelay -frame_duration 10 -vbr off -b:a 144k"
            ),
            "{line}"
        );
        assert!(
            line.ends_with(
                "-ar 48000 -ac 2 -f mpegts -muxdelay 0 -muxpreload 0 -pes_payload_size 0 \
                 -flush_packets 1 pipe:1"
            ),
            "{line}"
        );
        assert!(!args.contains(&"-copyts".to_string()));
        assert!(!args.contains(&"-re".to_string()), "arealtime paces it");
    }

    #[test]
    fn stamps_are_sample_counts_from_the_first_samples_wall_clock_plus_the_offset() {
        let audio = |offset_us| Audio {
            offset_us,
            ..Audio::default()
        };
        let stamps = |args: &[String]| value_after(args, "-af").to_string();
        let none = stamps(&build(&Source::TestTone, &audio(0), 1_700_000_000_123_456));
        assert!(
            none.contains("asettb=AVTB,asetpts=N*1000000/SR+RTCSTART-1700000000123456,"),
            "{none}"
        );
        let later = stamps(&build(&Source::TestTone, &audio(40_000), 7));
        assert!(later.contains("RTCSTART-7+40000,"), "{later}");
        let earlier = stamps(&build(&Source::TestTone, &audio(-25_000), 7));
        assert!(earlier.contains("RTCSTART-7-25000,"), "{earlier}");
    }

    #[test]
    fn the_test_tone_is_paced_and_beeps() {
        let args = build(&Source::TestTone, &Audio::default(), 1_700_000_000_250_000);
        assert_eq!(
            value_after(&args, "-i"),
            "anullsrc=r=48000:cl=stereo:nb_samples=480"
        );
        let filters = value_after(&args, "-af");
        assert!(filters.starts_with("arealtime,"), "{filters}");
        assert!(
            filters.ends_with(&av_sync::beep_filter(1_700_000_000_250_000, 2)),
            "{filters}"
        );
    }

    #[test]
    fn devices_per_platform() {
        let linux = device(Platform::Linux, "vsink.monitor").join(" ");
        assert!(
            linux.contains(
                "-f pulse -sample_rate 48000 -channels 2 -fragment_size 1920 -i vsink.monitor"
            ),
            "{linux}"
        );
        let windows = device(Platform::Windows, "Microphone (USB)").join(" ");
        assert!(
            windows.contains("-f dshow -audio_buffer_size 20 -i audio=Microphone (USB)"),
            "{windows}"
        );
        let mac = device(Platform::MacOs, "MacBook Microphone").join(" ");
        assert!(
            mac.contains("-f avfoundation -i :MacBook Microphone"),
            "{mac}"
        );
        for args in [
            device(Platform::Linux, "x"),
            device(Platform::Windows, "x"),
            device(Platform::MacOs, "x"),
        ] {
            let filters = value_after(&args, "-af");
            assert!(!filters.contains("aeval"), "no beep on devices: {filters}");
            assert!(!filters.contains("arealtime"), "devices pace themselves");
        }
    }

    #[test]
    fn media_sources_take_their_first_audio_stream() {
        let file = build(&Source::File("talk.mp4".into()), &Audio::default(), 1);
        let line = file.join(" ");
        assert!(line.contains("-stream_loop -1 -re -i talk.mp4"), "{line}");
        assert_eq!(value_after(&file, "-map"), "0:a:0");
        let url = build(&Source::Url("srt://h:1".into()), &Audio::default(), 1);
        assert!(url.join(" ").contains("-i srt://h:1 -map 0:a:0"));
    }

    #[test]
    fn aac_is_adts_in_ts() {
        let audio = Audio {
            codec: Codec::Aac,
            bitrate_kbps: 96,
            offset_us: 0,
        };
        let line = build(&Source::TestTone, &audio, 1).join(" ");
        assert!(line.contains("-c:a aac -b:a 96k"), "{line}");
        assert!(!line.contains("libopus"), "{line}");
        assert!(line.contains("-f mpegts"), "{line}");
    }

    #[test]
    fn device_listing_per_platform() {
        assert_eq!(
            Platform::Linux.list_devices_args().join(" "),
            "-hide_banner -sources pulse"
        );
        assert_eq!(
            Platform::Windows.list_devices_args().join(" "),
            "-hide_banner -list_devices true -f dshow -i dummy"
        );
        assert_eq!(
            Platform::MacOs.list_devices_args(),
            [
                "-hide_banner",
                "-f",
                "avfoundation",
                "-list_devices",
                "true",
                "-i",
                ""
            ]
        );
    }
}
