//! The rendition ladder: the main picture as asked for, and a lighter one in the same broadcast
//! for viewers whose CPU cannot decode the main one (they rank renditions by picture area and
//! step down under load).
//!
//! The light rendition is the main picture made smaller — same capture timestamps, same keyframe
//! instants, the test signals (pixel clock, flash) scaled with it so that a viewer showing it at
//! the main's size shows them where the main has them — fitted into half the main's box (640x360
//! for 1280x720) at about 30 fps: it keeps one source frame in every [`Light::every`], and its
//! GOP is the main's divided by that, so its keyframes fall on the very source frames where the
//! main's do.
//!
//! Measured on the 2-core development machine (ffmpeg 5.1, 720p60 test source, one ffmpeg
//! encoding both): the main alone takes 70–80 % of a core; adding 640x360 at 30 fps +9–15 points
//! (13.3 → 14.8 ms of CPU a frame), 960x540 at 30 fps +22. The main rendition's ingest latency
//! stayed at its median (13 ms on a busy machine, either way). Half the box it is.

use std::fmt;

use crate::ffmpeg_args::Video;

/// The frame rate the light rendition aims at.
pub const TARGET_FPS: u32 = 30;

/// The light rendition's shape, derived from the main one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Light {
    /// The box the picture is fitted into, aspect kept: half the main's in each dimension (even).
    pub width: u32,
    pub height: u32,
    /// Keep one source frame in this many.
    pub every: u32,
    /// The source's frame rate, when known: the light one is this / `every`.
    pub source_fps: Option<u32>,
    /// Frames per GOP: the main's GOP divided by `every`.
    pub gop_frames: u32,
    pub bitrate_kbps: u32,
}

impl Light {
    /// The light rendition of `main`. `rate_known`: the source runs at `main.fps` (the test
    /// source, screen capture); other sources run at their own rate, which the light rendition
    /// then keeps.
    pub fn of(main: &Video, rate_known: bool) -> Self {
        let gop = main.gop_frames();
        let every = match rate_known {
            // The decimation that divides the GOP and comes nearest the target rate (the lower
            // rate on a tie): 2 for 60 or 50 fps, 6 for 144, 1 up to 30.
            true => {
                let off =
                    |k: u32| (f64::from(main.fps) / f64::from(k) - f64::from(TARGET_FPS)).abs();
                (1..=gop)
                    .filter(|k| gop.is_multiple_of(*k))
                    .min_by(|a, b| off(*a).total_cmp(&off(*b)).then(b.cmp(a)))
                    .unwrap_or(1)
            }
            false => 1,
        };
        let half = |n: u32| (n / 2 / 2 * 2).max(16);
        Self {
            width: half(main.width),
            height: half(main.height),
            every,
            source_fps: rate_known.then_some(main.fps),
            gop_frames: gop / every,
            // A quarter of the pixels gets a third of the bits per frame (small pictures need
            // more bits per pixel): 750 kb/s at 30 fps for the default 4500 kb/s 720p60.
            bitrate_kbps: (main.bitrate_kbps / 3 / every).max(100),
        }
    }
}

impl fmt::Display for Light {
    /// `640x360 30 fps, 750 kb/s` (no rate when it is the source's).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)?;
        if let Some(fps) = self.source_fps {
            write!(f, " {} fps", f64::from(fps) / f64::from(self.every))?;
        }
        write!(f, ", {} kb/s", self.bitrate_kbps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(width: u32, height: u32, fps: u32) -> Video {
        Video {
            width,
            height,
            fps,
            ..Video::default()
        }
    }

    #[test]
    fn the_default_720p60_steps_down_to_360p30_with_keyframes_on_the_same_frames() {
        let light = Light::of(&Video::default(), true);
        assert_eq!((light.width, light.height), (640, 360));
        assert_eq!((light.every, light.source_fps), (2, Some(60)));
        assert_eq!(
            light.gop_frames * light.every,
            Video::default().gop_frames()
        );
        assert_eq!(light.bitrate_kbps, 750);
        assert_eq!(light.to_string(), "640x360 30 fps, 750 kb/s");
    }

    #[test]
    fn decimation_comes_near_30_fps_and_always_divides_the_gop() {
        for fps in 1..=240 {
            let main = video(1280, 720, fps);
            let light = Light::of(&main, true);
            assert!(
                main.gop_frames().is_multiple_of(light.every),
                "{fps} fps: {light:?}"
            );
        }
        let every = |fps| Light::of(&video(1280, 720, fps), true).every;
        assert_eq!(
            [24, 30, 50, 60, 120, 144, 240].map(every),
            [1, 1, 2, 2, 4, 6, 8]
        );
    }

    #[test]
    fn sources_of_unknown_rate_keep_every_frame() {
        let light = Light::of(&Video::default(), false);
        assert_eq!((light.every, light.source_fps), (1, None));
        assert_eq!(light.gop_frames, Video::default().gop_frames());
        assert_eq!(light.to_string(), "640x360, 1500 kb/s");
    }

    #[test]
    fn the_box_is_half_the_main_one_and_even() {
        let light = Light::of(&video(1918, 1078, 60), true);
        assert_eq!((light.width, light.height), (958, 538));
        let tiny = Light::of(&video(16, 16, 60), true);
        assert_eq!((tiny.width, tiny.height), (16, 16));
    }
}
