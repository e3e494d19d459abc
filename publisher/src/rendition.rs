//! The renditions the publisher sends, as data: the main picture as asked for, maybe the same
//! picture in a second codec (`--codec hevc,h264`), and a lighter one in the same broadcast for
//! viewers whose CPU cannot decode the main one (they rank renditions by picture area and step
//! down under load). Each is a [`Rendition`] — size, rate, GOP, bitrate, encoder — and the
//! ffmpeg arguments ([`crate::ffmpeg_args`]), the imports ([`crate::video`]) and the startup and
//! status lines are all derived from the list [`ladder`] makes.
//!
//! The light rendition is the main picture made smaller — same capture timestamps, same keyframe
//! instants, the test signals (pixel clock, flash) scaled with it so that a viewer showing it at
//! the main's size shows them where the main has them — fitted into half the main's box (640x360
//! for 1280x720) at about 30 fps: it keeps one source frame in every [`Rendition::every`], and
//! its GOP is the main's divided by that, so its keyframes fall on the very source frames where
//! the main's do.
//!
//! Measured on the 2-core development machine (ffmpeg 5.1, 720p60 test source, one ffmpeg
//! encoding both): the main alone takes 70–80 % of a core; adding 640x360 at 30 fps +9–15 points
//! (13.3 → 14.8 ms of CPU a frame), 960x540 at 30 fps +22. The main rendition's ingest latency
//! stayed at its median (13 ms on a busy machine, either way). Half the box it is.

use std::fmt;

use crate::encoder::Encoder;

/// The frame rate the light rendition aims at.
pub const TARGET_FPS: u32 = 30;
/// The light rendition's keyframe interval, s (at most the main one's): it is what a viewer
/// whose link or decoder cannot keep up steps down to, and the switch happens at its next
/// keyframe — so a step down waits a second at most, not a main GOP.
pub const LIGHT_GOP_SECONDS: u32 = 1;

/// How to capture and encode the main picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Video {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    pub gop_seconds: u32,
    /// Draw the pixel clock (always on for the test source).
    pub pixel_clock: bool,
    pub encoder: Encoder,
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
            encoder: Encoder::Libx264,
        }
    }
}

impl Video {
    /// Frames per GOP.
    pub fn gop_frames(&self) -> u32 {
        self.fps * self.gop_seconds
    }
}

/// What a rendition is of the captured picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The picture as asked for, written to ffmpeg's stdout.
    Main,
    /// The main picture in a second codec.
    Also,
    /// The main picture made smaller (and slower).
    Light,
}

/// One rendition: what ffmpeg encodes, and what the lines say about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rendition {
    pub role: Role,
    /// The box the picture is fitted into (aspect kept, even).
    pub width: u32,
    pub height: u32,
    /// Keep one source frame in this many.
    pub every: u32,
    /// The source's frame rate, when known: this rendition's is this / `every`.
    pub source_fps: Option<u32>,
    /// Frames per GOP: the main's GOP divided by `every`; the light one's a second's worth
    /// ([`LIGHT_GOP_SECONDS`]).
    pub gop_frames: u32,
    pub bitrate_kbps: u32,
    pub encoder: Encoder,
}

/// The renditions of `main`: the main one, then the second codec's (`also`, an encoder of the
/// main one's family), then the light one if asked for (`light`), encoded with `also`'s encoder
/// when there is one (the codec more browsers decode) and the main one's otherwise.
/// `rate_known`: the source runs at `main.fps` (the test source, screen capture); other sources
/// run at their own rate, which every rendition then keeps.
pub fn ladder(
    main: &Video,
    also: Option<Encoder>,
    light: bool,
    rate_known: bool,
) -> Vec<Rendition> {
    let first = Rendition {
        role: Role::Main,
        width: main.width,
        height: main.height,
        every: 1,
        source_fps: Some(main.fps),
        gop_frames: main.gop_frames(),
        bitrate_kbps: main.bitrate_kbps,
        encoder: main.encoder,
    };
    let mut ladder = vec![first];
    if let Some(encoder) = also {
        ladder.push(Rendition {
            role: Role::Also,
            encoder,
            ..first
        });
    }
    if light {
        ladder.push(light_of(main, also.unwrap_or(main.encoder), rate_known));
    }
    ladder
}

/// The light rendition of `main`, encoded with `encoder`.
fn light_of(main: &Video, encoder: Encoder, rate_known: bool) -> Rendition {
    let gop = main.gop_frames();
    let every = match rate_known {
        // The decimation that divides the GOP and comes nearest the target rate (the lower rate
        // on a tie): 2 for 60 or 50 fps, 6 for 144, 1 up to 30.
        true => {
            let off = |k: u32| (f64::from(main.fps) / f64::from(k) - f64::from(TARGET_FPS)).abs();
            (1..=gop)
                .filter(|k| gop.is_multiple_of(*k))
                .min_by(|a, b| off(*a).total_cmp(&off(*b)).then(b.cmp(a)))
                .unwrap_or(1)
        }
        false => 1,
    };
    let half = |n: u32| (n / 2 / 2 * 2).max(16);
    Rendition {
        role: Role::Light,
        width: half(main.width),
        height: half(main.height),
        every,
        source_fps: rate_known.then_some(main.fps),
        gop_frames: (main.fps * LIGHT_GOP_SECONDS / every).clamp(1, gop / every),
        // A quarter of the pixels gets a third of the bits per frame (small pictures need more
        // bits per pixel): 750 kb/s at 30 fps for the default 4500 kb/s 720p60.
        bitrate_kbps: (main.bitrate_kbps / 3 / every).max(100),
        encoder,
    }
}

impl Rendition {
    /// Its name in the status line, after the main one's figures: the second codec's label,
    /// or `light`.
    pub fn label(&self) -> &'static str {
        match self.role {
            Role::Main | Role::Also => self.encoder.codec().label(),
            Role::Light => "light",
        }
    }
}

impl fmt::Display for Rendition {
    /// The main one `1280x720 60 fps, 4500 kb/s H.264`, the second codec `HEVC`, the light one
    /// `640x360 30 fps, 750 kb/s` (no rate when it is the source's).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.role == Role::Also {
            return f.write_str(self.label());
        }
        write!(f, "{}x{}", self.width, self.height)?;
        match (self.role, self.source_fps) {
            (Role::Main, Some(fps)) => write!(f, " {fps} fps")?,
            (_, Some(fps)) => write!(f, " {} fps", f64::from(fps) / f64::from(self.every))?,
            (_, None) => {}
        }
        write!(f, ", {} kb/s", self.bitrate_kbps)?;
        if self.role == Role::Main {
            write!(f, " {}", self.label())?;
        }
        Ok(())
    }
}

/// The renditions as the startup line says them:
/// `1280x720 60 fps, 4500 kb/s H.264 + HEVC + 640x360 30 fps, 750 kb/s`.
pub fn describe(ladder: &[Rendition]) -> String {
    ladder
        .iter()
        .map(Rendition::to_string)
        .collect::<Vec<_>>()
        .join(" + ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The light rendition of `main` (libx264).
    fn light_of_x264(main: &Video, rate_known: bool) -> Rendition {
        *ladder(main, None, true, rate_known).last().unwrap()
    }

    fn video(width: u32, height: u32, fps: u32) -> Video {
        Video {
            width,
            height,
            fps,
            ..Video::default()
        }
    }

    #[test]
    fn the_default_720p60_steps_down_to_360p30_with_a_keyframe_each_second() {
        let light = light_of_x264(&Video::default(), true);
        assert_eq!((light.width, light.height), (640, 360));
        assert_eq!((light.every, light.source_fps), (2, Some(60)));
        assert_eq!(light.gop_frames, 30);
        assert!(
            Video::default()
                .gop_frames()
                .is_multiple_of(light.gop_frames * light.every),
            "its keyframes fall on the main one's frames, and on every main keyframe"
        );
        assert_eq!(light.bitrate_kbps, 750);
        assert_eq!(light.to_string(), "640x360 30 fps, 750 kb/s");
    }

    #[test]
    fn decimation_comes_near_30_fps_and_always_divides_the_gop() {
        for fps in 1..=240 {
            let main = video(1280, 720, fps);
            let light = light_of_x264(&main, true);
            assert!(
                main.gop_frames().is_multiple_of(light.every),
                "{fps} fps: {light:?}"
            );
        }
        let every = |fps| light_of_x264(&video(1280, 720, fps), true).every;
        assert_eq!(
            [24, 30, 50, 60, 120, 144, 240].map(every),
            [1, 1, 2, 2, 4, 6, 8]
        );
    }

    #[test]
    fn sources_of_unknown_rate_keep_every_frame() {
        let light = light_of_x264(&Video::default(), false);
        assert_eq!((light.every, light.source_fps), (1, None));
        assert_eq!(light.gop_frames, Video::default().fps);
        let one_second_gop = Video {
            gop_seconds: 1,
            ..Video::default()
        };
        let light = light_of_x264(&one_second_gop, false);
        assert_eq!(
            light.gop_frames,
            one_second_gop.gop_frames(),
            "at most the main one's"
        );
        assert_eq!(light.to_string(), "640x360, 1500 kb/s");
    }

    #[test]
    fn the_box_is_half_the_main_one_and_even() {
        let light = light_of_x264(&video(1918, 1078, 60), true);
        assert_eq!((light.width, light.height), (958, 538));
        let tiny = light_of_x264(&video(16, 16, 60), true);
        assert_eq!((tiny.width, tiny.height), (16, 16));
    }

    #[test]
    fn the_ladder_is_main_then_second_codec_then_light_encoded_like_the_second() {
        let main = Video::default();
        let hevc = Encoder::Libx265;
        let renditions = ladder(
            &Video {
                encoder: hevc,
                ..main.clone()
            },
            Some(Encoder::Libx264),
            true,
            true,
        );
        let roles: Vec<Role> = renditions.iter().map(|r| r.role).collect();
        assert_eq!(roles, [Role::Main, Role::Also, Role::Light]);
        assert_eq!(renditions[0].encoder, hevc);
        assert_eq!(
            renditions[2].encoder,
            Encoder::Libx264,
            "the light one as the second"
        );
        assert_eq!(
            (
                renditions[1].width,
                renditions[1].gop_frames,
                renditions[1].bitrate_kbps
            ),
            (1280, 120, 4500),
            "the second codec's picture is the main one's"
        );
        assert_eq!(
            describe(&renditions),
            "1280x720 60 fps, 4500 kb/s HEVC + H.264 + 640x360 30 fps, 750 kb/s"
        );
        assert_eq!(
            renditions.iter().map(Rendition::label).collect::<Vec<_>>(),
            ["HEVC", "H.264", "light"]
        );
        assert_eq!(ladder(&main, None, false, true).len(), 1);
    }
}
