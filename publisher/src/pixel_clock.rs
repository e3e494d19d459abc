//! The pixel clock: each frame's capture time, written into the picture so that anything that
//! sees the pixels — a screencast of the viewer page, a camera pointed at a monitor — can read it
//! back and measure glass-to-glass latency.
//!
//! The layout is [`test_signal::pixel_clock`]'s (fixed, so any tool can read it).

use test_signal::pixel_clock::{BLOCK, BLOCKS};

/// ffmpeg filter graph fragment that draws the clock over its input.
///
/// The input's timestamps must already be capture times: microseconds after `base_unix_micros`
/// in a 1/1000000 time base (see `setpts=RTCTIME-…` in [`crate::ffmpeg_args`]). `geq` computes the
/// blocks from the frame time `T` on a 640×16 crop (narrower on a picture narrower than that,
/// whose clock is then cut short), which is overlaid back in place.
pub fn filter(base_unix_micros: u64) -> String {
    let width = BLOCKS * BLOCK;
    let top = BLOCKS - 1;
    format!(
        "split[clock_main][clock_strip];\
         [clock_strip]crop=w='min(iw\\,{width})':h='min(ih\\,{BLOCK})':x=0:y=0,\
         geq=lum='255*mod(floor(({base_unix_micros}+T*1000000)/1000/pow(2\\,{top}-floor(X/{BLOCK})))\\,2)'\
         :cb=128:cr=128[clock_bits];\
         [clock_main][clock_bits]overlay=0:0"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::{SystemTime, UNIX_EPOCH};

    /// Read the clock back from a gray (one byte per pixel) frame `width` wide, drawn at
    /// 1/`shrink` of its size.
    fn read_gray(frame: &[u8], width: usize, shrink: usize) -> u64 {
        let block = BLOCK as usize / shrink;
        (0..BLOCKS as usize).fold(0, |value, i| {
            let centre = frame[(block / 2) * width + i * block + block / 2];
            (value << 1) | u64::from(centre > 127)
        })
    }

    /// Draw the clock on 30 frames of 720p, shrink them by `shrink`, encode with x264 at
    /// `bitrate`, decode, and read the clock back from each frame.
    fn encode_and_read(shrink: u32, bitrate: &str) -> Vec<u64> {
        let dir = std::env::temp_dir().join(format!("pixel-clock-{}-{shrink}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let h264 = dir.join("clock.h264");
        let base = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        let (width, height) = (1280 / shrink, 720 / shrink);
        let graph = format!(
            "settb=AVTB,setpts=RTCTIME-{base},{},scale={width}:{height}:flags=area",
            filter(base)
        );
        let encoded = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg("testsrc2=size=1280x720:rate=60")
            .args([
                "-vf",
                &graph,
                "-frames:v",
                "30",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
            ])
            .args([
                "-tune",
                "zerolatency",
                "-b:v",
                bitrate,
                "-pix_fmt",
                "yuv420p",
            ])
            .arg(&h264)
            .status()
            .expect("ffmpeg runs");
        assert!(encoded.success());
        let decoded = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-i"])
            .arg(&h264)
            .args(["-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"])
            .output()
            .expect("ffmpeg runs");
        let _ = std::fs::remove_dir_all(&dir);
        decoded
            .stdout
            .chunks_exact((width * height) as usize)
            .map(|f| read_gray(f, width as usize, shrink as usize))
            .collect()
    }

    fn assert_reads_back_as_now(values: &[u64]) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            % (1 << 40);
        assert_eq!(values.len(), 30);
        for pair in values.windows(2) {
            assert!(
                pair[0] <= pair[1],
                "capture times never go back: {values:?}"
            );
        }
        let first = values[0];
        assert!(
            first + 10_000 > now_ms && first <= now_ms,
            "{first} is not within 10 s before {now_ms}"
        );
    }

    #[test]
    fn survives_x264_at_the_default_bitrate_and_reads_back_as_now() {
        assert_reads_back_as_now(&encode_and_read(1, "4500k"));
    }

    #[test]
    fn survives_the_light_renditions_half_size_and_bitrate() {
        // 8-pixel blocks at 750 kb/s: a viewer scaling the light rendition up to the main's size
        // shows the clock in its usual layout.
        assert_reads_back_as_now(&encode_and_read(2, "750k"));
    }

    #[test]
    fn a_picture_narrower_than_the_strip_gets_what_fits() {
        let graph = format!("settb=AVTB,setpts=RTCTIME-0,{}", filter(0));
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "fatal", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=320x8:rate=30")
            .args(["-vf", &graph, "-frames:v", "3", "-f", "null", "-"])
            .status()
            .expect("ffmpeg runs");
        assert!(status.success(), "ffmpeg refused the clock on 320x8");
    }

    #[test]
    fn strip_covers_forty_sixteen_pixel_blocks_from_the_corner() {
        let filter = filter(1_700_000_000_000_000);
        assert!(filter.contains("crop=w='min(iw\\,640)'"), "{filter}");
        assert!(filter.contains("overlay=0:0"), "{filter}");
        assert!(filter.contains("1700000000000000+T*1000000"), "{filter}");
        assert!(filter.contains("pow(2\\,39-floor(X/16))"), "{filter}");
    }
}
