//! The pixel clock: each frame's capture time, written into the picture so that anything that
//! sees the pixels — a screencast of the viewer page, a camera pointed at a monitor — can read it
//! back and measure glass-to-glass latency.
//!
//! Layout (fixed, so any tool can read it): one row of [`BLOCKS`] square blocks of
//! [`BLOCK`]×[`BLOCK`] pixels in the top-left corner, block `i` at x = 16·i, y = 0. Block `i` is
//! white (luma 255) when bit (39 − i) of the capture wall-clock time in Unix milliseconds, modulo
//! 2^40, is 1, and black (luma 0) otherwise.

/// Blocks in the strip: 40 bits of milliseconds (≈ 35 years before it wraps).
pub const BLOCKS: u32 = 40;
/// Block edge in pixels.
pub const BLOCK: u32 = 16;

/// ffmpeg filter graph fragment that draws the clock over its input.
///
/// The input's timestamps must already be capture times: microseconds after `base_unix_micros`
/// in a 1/1000000 time base (see `setpts=RTCTIME-…` in [`crate::ffmpeg_args`]). `geq` computes the
/// blocks from the frame time `T` on a 640×16 crop, which is overlaid back in place. `tag` names
/// the fragment's internal pads, so one graph can draw the clock into several renditions. A
/// picture narrower than 640 pixels gets the strip cut at its right edge.
pub fn filter(base_unix_micros: u64, tag: &str) -> String {
    let width = BLOCKS * BLOCK;
    let top = BLOCKS - 1;
    format!(
        "split[{tag}_clock_main][{tag}_clock_strip];\
         [{tag}_clock_strip]crop=w=min({width}\\,iw):h={BLOCK}:x=0:y=0,\
         geq=lum='255*mod(floor(({base_unix_micros}+T*1000000)/1000/pow(2\\,{top}-floor(X/{BLOCK})))\\,2)'\
         :cb=128:cr=128[{tag}_clock_bits];\
         [{tag}_clock_main][{tag}_clock_bits]overlay=0:0"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::{SystemTime, UNIX_EPOCH};

    /// Read the clock back from a gray (one byte per pixel) frame `width` wide.
    fn read_gray(frame: &[u8], width: usize) -> u64 {
        (0..BLOCKS as usize).fold(0, |value, i| {
            let centre =
                frame[(BLOCK as usize / 2) * width + i * BLOCK as usize + BLOCK as usize / 2];
            (value << 1) | u64::from(centre > 127)
        })
    }

    #[test]
    fn survives_x264_at_the_default_bitrate_and_reads_back_as_now() {
        let dir = std::env::temp_dir().join(format!("pixel-clock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let h264 = dir.join("clock.h264");
        let base = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        let graph = format!("settb=AVTB,setpts=RTCTIME-{base},{}", filter(base, "v"));
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
                "4500k",
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
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            % (1 << 40);
        let values: Vec<u64> = decoded
            .stdout
            .chunks_exact(1280 * 720)
            .map(|f| read_gray(f, 1280))
            .collect();
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
    fn strip_covers_forty_sixteen_pixel_blocks_from_the_corner() {
        let filter = filter(1_700_000_000_000_000, "v");
        assert!(
            filter.contains("crop=w=min(640\\,iw):h=16:x=0:y=0"),
            "{filter}"
        );
        assert!(filter.contains("overlay=0:0"), "{filter}");
        assert!(filter.contains("1700000000000000+T*1000000"), "{filter}");
        assert!(filter.contains("pow(2\\,39-floor(X/16))"), "{filter}");
    }
}
