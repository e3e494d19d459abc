//! The video encoders the publisher can drive, and each one's low-latency settings, as pure data.
//!
//! Every encoder keeps this project's choices: no B-frames, a fixed GOP (2 s), constant bitrate
//! with a half-second buffer, and its own low-latency mode, so each frame leaves the encoder
//! when it is encoded (FLV then writes it at once; see [`crate::ffmpeg_args`]).
//!
//! Hardware encoders can take frames where `ddagrab` (Windows Desktop Duplication) leaves them,
//! in GPU memory: [`Encoder::gpu_upload`] maps D3D11 frames onto the encoder's device and
//! [`Encoder::gpu_scale`] scales them there (to exactly the size asked: GPU scalers do not keep
//! the aspect ratio), so the picture never crosses into system memory.

/// The video codec a viewer receives (`--codec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum VideoCodec {
    /// H.264: every browser decodes it.
    H264,
    /// HEVC (H.265): fewer bits for the same picture; not every browser decodes it.
    Hevc,
    /// AV1: fewer bits still; needs a recent GPU to encode in real time.
    Av1,
}

impl VideoCodec {
    /// The codec's name as people read it.
    pub fn label(self) -> &'static str {
        match self {
            VideoCodec::H264 => "H.264",
            VideoCodec::Hevc => "HEVC",
            VideoCodec::Av1 => "AV1",
        }
    }

    /// The prefix of ffmpeg's hardware encoder names (`h264_qsv`, `hevc_nvenc`, `av1_amf`).
    fn prefix(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264",
            VideoCodec::Hevc => "hevc",
            VideoCodec::Av1 => "av1",
        }
    }
}

/// The codecs asked for (`--codec main[,also]`): the main picture's, and another the same
/// picture is sent in for viewers that cannot decode the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Codecs {
    pub main: VideoCodec,
    pub also: Option<VideoCodec>,
}

/// One ffmpeg video encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoder {
    /// x264 on the CPU: always there, H.264 only. The fallback everywhere.
    #[default]
    Libx264,
    /// x265 on the CPU: HEVC where no hardware encoder opens.
    Libx265,
    /// Intel Quick Sync Video.
    Qsv(VideoCodec),
    /// NVIDIA NVENC.
    Nvenc(VideoCodec),
    /// AMD AMF.
    Amf(VideoCodec),
    /// Apple VideoToolbox (H.264 and HEVC).
    VideoToolbox(VideoCodec),
}

impl Encoder {
    /// ffmpeg's name for it.
    pub fn name(self) -> String {
        match self {
            Encoder::Libx264 => "libx264".into(),
            Encoder::Libx265 => "libx265".into(),
            Encoder::Qsv(codec) => format!("{}_qsv", codec.prefix()),
            Encoder::Nvenc(codec) => format!("{}_nvenc", codec.prefix()),
            Encoder::Amf(codec) => format!("{}_amf", codec.prefix()),
            Encoder::VideoToolbox(codec) => format!("{}_videotoolbox", codec.prefix()),
        }
    }

    /// The codec it produces.
    pub fn codec(self) -> VideoCodec {
        match self {
            Encoder::Libx264 => VideoCodec::H264,
            Encoder::Libx265 => VideoCodec::Hevc,
            Encoder::Qsv(codec)
            | Encoder::Nvenc(codec)
            | Encoder::Amf(codec)
            | Encoder::VideoToolbox(codec) => codec,
        }
    }

    /// The filter that brings `ddagrab`'s D3D11 frames to this encoder's device, when it can
    /// take GPU frames at all (empty: it takes D3D11 frames as they are).
    pub fn gpu_upload(self) -> Option<&'static str> {
        match self {
            Encoder::Qsv(_) => Some("hwmap=derive_device=qsv,format=qsv"),
            // NVENC and AMF encode D3D11 frames directly.
            Encoder::Nvenc(_) | Encoder::Amf(_) => Some(""),
            Encoder::Libx264 | Encoder::Libx265 | Encoder::VideoToolbox(_) => None,
        }
    }

    /// The filter scaling GPU frames (after [`Encoder::gpu_upload`]) to exactly
    /// `width`x`height` on the encoder's device.
    pub fn gpu_scale(self, width: u32, height: u32) -> String {
        match self {
            // NV12, the format every QSV encoder takes.
            Encoder::Qsv(_) => format!("scale_qsv=w={width}:h={height}:format=nv12"),
            // ffmpeg 8.0+; with an older one the probe fails and the next candidate runs.
            Encoder::Nvenc(_) | Encoder::Amf(_) => {
                format!("scale_d3d11=width={width}:height={height}")
            }
            Encoder::Libx264 | Encoder::Libx265 | Encoder::VideoToolbox(_) => {
                format!("scale={width}:{height}")
            }
        }
    }

    /// The encoder's arguments: `-c:v NAME` and its settings for `gop` frames per GOP at
    /// `bitrate_kbps`. `gpu_frames`: the frames arrive in GPU memory (no `-pix_fmt`).
    pub fn args(self, gop: u32, bitrate_kbps: u32, gpu_frames: bool) -> Vec<String> {
        let name = self.name();
        let gop = gop.to_string();
        let bitrate = format!("{bitrate_kbps}k");
        let bufsize = format!("{}k", bitrate_kbps / 2);
        // x265 takes the GOP, B-frames and scene cuts in its own parameters as well.
        let x265 = format!(
            "keyint={gop}:min-keyint={gop}:bframes=0:scenecut=0:open-gop=0:log-level=error"
        );
        let own: &[&str] = match self {
            // `zerolatency`: no frame held back (no lookahead, no sliced threads' delay).
            Encoder::Libx264 => &[
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
                "-keyint_min",
                &gop,
                "-sc_threshold",
                "0",
            ],
            // As x264, `ultrafast`: x265 is several times slower per frame.
            Encoder::Libx265 => &[
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
                "-x265-params",
                &x265,
            ],
            // One frame in flight.
            Encoder::Qsv(_) => &["-preset", "veryfast", "-async_depth", "1"],
            Encoder::Nvenc(_) => &[
                "-preset",
                "p1",
                "-tune",
                "ull",
                "-zerolatency",
                "1",
                "-delay",
                "0",
                "-rc",
                "cbr",
            ],
            Encoder::Amf(_) => &["-usage", "lowlatency", "-quality", "speed", "-rc", "cbr"],
            Encoder::VideoToolbox(_) => &["-realtime", "1"],
        };
        let mut args: Vec<String> = ["-c:v", &name]
            .into_iter()
            .chain(own.iter().copied())
            .chain([
                "-bf", "0", "-g", &gop, "-b:v", &bitrate, "-maxrate", &bitrate, "-bufsize",
                &bufsize,
            ])
            .map(str::to_string)
            .collect();
        if !gpu_frames {
            // x264 and x265 want planar 4:2:0; the hardware encoders all take NV12 from system
            // memory.
            let format = match self {
                Encoder::Libx264 | Encoder::Libx265 => "yuv420p",
                _ => "nv12",
            };
            args.extend(["-pix_fmt".to_string(), format.to_string()]);
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffmpeg_args::value_after;

    const ALL_CODECS: [VideoCodec; 3] = [VideoCodec::H264, VideoCodec::Hevc, VideoCodec::Av1];

    fn every_encoder() -> Vec<Encoder> {
        let mut all = vec![Encoder::Libx264, Encoder::Libx265];
        for codec in ALL_CODECS {
            all.extend([
                Encoder::Qsv(codec),
                Encoder::Nvenc(codec),
                Encoder::Amf(codec),
                Encoder::VideoToolbox(codec),
            ]);
        }
        all
    }

    #[test]
    fn names_are_ffmpegs() {
        let names: Vec<String> = [
            Encoder::Libx264,
            Encoder::Qsv(VideoCodec::H264),
            Encoder::Nvenc(VideoCodec::Hevc),
            Encoder::Amf(VideoCodec::Av1),
            Encoder::VideoToolbox(VideoCodec::H264),
        ]
        .into_iter()
        .map(Encoder::name)
        .collect();
        assert_eq!(
            names,
            [
                "libx264",
                "h264_qsv",
                "hevc_nvenc",
                "av1_amf",
                "h264_videotoolbox"
            ]
        );
    }

    #[test]
    fn every_encoder_keeps_the_low_latency_choices() {
        for encoder in every_encoder() {
            let args = encoder.args(120, 4500, false);
            assert_eq!(value_after(&args, "-c:v"), encoder.name());
            assert_eq!(value_after(&args, "-bf"), "0", "{encoder:?}: no B-frames");
            assert_eq!(value_after(&args, "-g"), "120", "{encoder:?}: 2 s GOP");
            assert_eq!(value_after(&args, "-b:v"), "4500k");
            assert_eq!(value_after(&args, "-maxrate"), "4500k");
            assert_eq!(value_after(&args, "-bufsize"), "2250k");
            assert!(args.contains(&"-pix_fmt".to_string()), "{encoder:?}");
            assert!(
                !encoder.args(120, 4500, true).contains(&"-pix_fmt".into()),
                "GPU frames keep their format: {encoder:?}"
            );
        }
    }

    #[test]
    fn each_family_uses_its_low_latency_mode() {
        let line = |encoder: Encoder| encoder.args(120, 4500, false).join(" ");
        assert!(line(Encoder::Libx264).contains("-preset veryfast -tune zerolatency"));
        assert!(line(Encoder::Libx264).ends_with("-pix_fmt yuv420p"));
        assert!(line(Encoder::Libx265).contains(
            "-preset ultrafast -tune zerolatency -x265-params \
             keyint=120:min-keyint=120:bframes=0:scenecut=0:open-gop=0"
        ));
        assert!(line(Encoder::Libx265).ends_with("-pix_fmt yuv420p"));
        assert!(line(Encoder::Qsv(VideoCodec::H264)).contains("-async_depth 1"));
        assert!(line(Encoder::Nvenc(VideoCodec::Hevc)).contains("-tune ull -zerolatency 1"));
        assert!(line(Encoder::Amf(VideoCodec::Av1)).contains("-usage lowlatency"));
        assert!(line(Encoder::VideoToolbox(VideoCodec::H264)).contains("-realtime 1"));
        assert!(line(Encoder::Nvenc(VideoCodec::H264)).ends_with("-pix_fmt nv12"));
    }

    #[test]
    fn gpu_paths_map_and_scale_on_the_encoders_device() {
        assert_eq!(
            Encoder::Qsv(VideoCodec::Hevc).gpu_upload(),
            Some("hwmap=derive_device=qsv,format=qsv")
        );
        assert_eq!(
            Encoder::Qsv(VideoCodec::Hevc).gpu_scale(1280, 720),
            "scale_qsv=w=1280:h=720:format=nv12"
        );
        assert_eq!(Encoder::Nvenc(VideoCodec::H264).gpu_upload(), Some(""));
        assert_eq!(
            Encoder::Nvenc(VideoCodec::H264).gpu_scale(640, 360),
            "scale_d3d11=width=640:height=360"
        );
        assert_eq!(Encoder::Amf(VideoCodec::H264).gpu_upload(), Some(""));
        assert_eq!(Encoder::Libx264.gpu_upload(), None);
        assert_eq!(Encoder::VideoToolbox(VideoCodec::H264).gpu_upload(), None);
    }

    #[test]
    fn codecs() {
        assert_eq!(Encoder::Libx264.codec(), VideoCodec::H264);
        assert_eq!(Encoder::Libx265.codec(), VideoCodec::Hevc);
        assert_eq!(Encoder::Amf(VideoCodec::Av1).codec(), VideoCodec::Av1);
        assert_eq!(VideoCodec::Hevc.label(), "HEVC");
    }
}
