//! Reading the publisher's pixel clock (laid out as [`test_signal::pixel_clock`] says) back out
//! of a screenshot. The video may be scaled on the page, so block centres are found from where
//! the video is drawn.

use test_signal::pixel_clock::PERIOD_MS as PERIOD;

/// Blocks in the strip, and their edge in video pixels.
const BLOCKS: usize = test_signal::pixel_clock::BLOCKS as usize;
const BLOCK: f64 = test_signal::pixel_clock::BLOCK as f64;

/// Where the video is drawn in the image, in image pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VideoRect {
    pub x: f64,
    pub y: f64,
    /// Image pixels per video pixel.
    pub scale: f64,
}

impl VideoRect {
    /// The last image row the strip touches.
    pub fn last_row(&self) -> usize {
        (self.y + BLOCK * self.scale).ceil() as usize
    }
}

/// Decode the clock from `luma(x, y)` of the image. `None` when any block is not clearly black
/// or white (no video there yet, a frame mid-transition).
pub fn read(rect: VideoRect, luma: impl Fn(usize, usize) -> Option<u8>) -> Option<u64> {
    let y = (rect.y + BLOCK / 2.0 * rect.scale).round() as usize;
    (0..BLOCKS).try_fold(0u64, |value, i| {
        let x = (rect.x + (i as f64 * BLOCK + BLOCK / 2.0) * rect.scale).round() as usize;
        let bit = match luma(x, y)? {
            0..=63 => 0,
            192..=255 => 1,
            _ => return None,
        };
        Some((value << 1) | bit)
    })
}

/// The full Unix time (ms) of a clock `value` read at around `now_ms`: the latest time not after
/// `now_ms` (plus a little slack for clocks a few ms apart) with those low 40 bits.
pub fn unwrap(value: u64, now_ms: u64) -> u64 {
    let slack = 60_000;
    let reference = now_ms + slack;
    reference - (reference.wrapping_sub(value) % PERIOD)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gray image with the clock for `value` drawn at `rect` (block interiors only).
    fn draw(value: u64, rect: VideoRect, width: usize, height: usize) -> Vec<u8> {
        let mut image = vec![128u8; width * height];
        for i in 0..BLOCKS {
            let bit = (value >> (BLOCKS - 1 - i)) & 1;
            let x0 = rect.x + i as f64 * BLOCK * rect.scale;
            for y in (rect.y.ceil() as usize)..((rect.y + BLOCK * rect.scale).floor() as usize) {
                for x in (x0.ceil() as usize)..((x0 + BLOCK * rect.scale).floor() as usize) {
                    image[y * width + x] = if bit == 1 { 250 } else { 5 };
                }
            }
        }
        image
    }

    #[test]
    fn reads_the_clock_at_full_size_and_scaled_down() {
        let value = 0x00AB_CDEF_0123 & (PERIOD - 1);
        for rect in [
            VideoRect {
                x: 0.0,
                y: 0.0,
                scale: 1.0,
            },
            VideoRect {
                x: 40.0,
                y: 57.0,
                scale: 0.75,
            },
            VideoRect {
                x: 3.5,
                y: 10.25,
                scale: 0.5,
            },
        ] {
            let (width, height) = (800, 100);
            let image = draw(value, rect, width, height);
            let luma = |x: usize, y: usize| image.get(y * width + x).copied();
            assert_eq!(read(rect, luma), Some(value), "{rect:?}");
        }
    }

    #[test]
    fn gray_or_missing_pixels_read_as_nothing() {
        let image = vec![128u8; 800 * 40];
        let rect = VideoRect {
            x: 0.0,
            y: 0.0,
            scale: 1.0,
        };
        assert_eq!(read(rect, |x, y| image.get(y * 800 + x).copied()), None);
        assert_eq!(read(rect, |_, _| None), None);
    }

    #[test]
    fn unwraps_to_the_time_just_before_now() {
        let now = 1_764_000_000_123u64;
        let value = (now - 42) % PERIOD;
        assert_eq!(unwrap(value, now), now - 42);
        // A clock slightly ahead of ours still reads as the near time, not 35 years back.
        assert_eq!(unwrap((now + 5) % PERIOD, now), now + 5);
    }
}
