//! A/V sync measured from the media itself, for tests and benchmarks: the publisher's test
//! source flashes a square white (picture) and beeps (sound) at every whole second of capture
//! time. The viewer, when asked, notes the Unix time each flash is painted and each beep onset
//! is heard; the difference is the skew a person would perceive, whatever the timestamps say.
//!
//! The square is laid out as [`test_signal::sync`] says, in pixels of the captured picture; a
//! lighter rendition is the same picture scaled down, so there the inset scales too.

use test_signal::sync::FLASH_CENTRE_INSET;

/// The flash square's centre inset in a frame `frame_width` wide of a broadcast whose largest
/// rendition (the captured size) is `captured_width` wide (`None`: the frame's own).
pub fn flash_inset(frame_width: u32, captured_width: Option<u32>) -> f64 {
    let scale = match captured_width {
        Some(captured) if captured > 0 => f64::from(frame_width) / f64::from(captured),
        _ => 1.0,
    };
    f64::from(FLASH_CENTRE_INSET) * scale
}
/// Onsets kept of each kind: two minutes at one per second.
const KEEP: usize = 120;
/// Mean luma above which the square is lit, below which it is dark (0–255).
const LIT: f64 = 160.0;
const DARK: f64 = 96.0;

/// Recent flash and beep onsets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncProbe {
    /// Unix ms at which each flash was painted.
    pub flashes: Vec<f64>,
    /// For each flash, the Unix ms its first lit frame was captured (NaN when the broadcast has
    /// no clock). A frame samples the picture: the flash starts on the whole second, its first
    /// lit frame is captured up to a frame interval after it, and is painted that much later
    /// than the pipeline's latency alone makes it.
    pub flash_captures: Vec<f64>,
    /// Unix ms at which each beep onset was heard.
    pub beeps: Vec<f64>,
    lit: bool,
}

impl SyncProbe {
    /// The square's mean luma in a frame captured at `captured_unix_ms` and painted at
    /// `painted_unix_ms`.
    pub fn painted(&mut self, luma: f64, captured_unix_ms: Option<f64>, painted_unix_ms: f64) {
        if !self.lit && luma >= LIT {
            self.lit = true;
            push(&mut self.flashes, painted_unix_ms);
            push(
                &mut self.flash_captures,
                captured_unix_ms.unwrap_or(f64::NAN),
            );
        } else if self.lit && luma <= DARK {
            self.lit = false;
        }
    }

    /// A beep onset will be heard at `heard_unix_ms`.
    pub fn heard(&mut self, heard_unix_ms: f64) {
        push(&mut self.beeps, heard_unix_ms);
    }
}

fn push(onsets: &mut Vec<f64>, at: f64) {
    if onsets.len() == KEEP {
        onsets.remove(0);
    }
    onsets.push(at);
}

/// Mean luma (BT.601) of RGBA pixels.
pub fn mean_luma(rgba: &[u8]) -> f64 {
    let pixels = rgba.len() / 4;
    if pixels == 0 {
        return 0.0;
    }
    let sum: f64 = rgba
        .chunks_exact(4)
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .sum();
    sum / pixels as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inset_scales_with_the_rendition() {
        assert_eq!(flash_inset(1280, Some(1280)), 128.0);
        assert_eq!(flash_inset(640, Some(1280)), 64.0);
        assert_eq!(flash_inset(1920, None), 128.0);
    }

    #[test]
    fn a_flash_counts_once_at_its_first_lit_frame() {
        let mut probe = SyncProbe::default();
        for (luma, at) in [
            (10.0, 0.0),
            (250.0, 16.0),
            (240.0, 33.0),
            (120.0, 50.0),
            (20.0, 66.0),
            (250.0, 1016.0),
        ] {
            probe.painted(luma, Some(at - 40.0), at);
        }
        assert_eq!(probe.flashes, [16.0, 1016.0]);
        assert_eq!(probe.flash_captures, [-24.0, 976.0]);
    }

    #[test]
    fn a_half_lit_frame_neither_starts_nor_ends_a_flash() {
        let mut probe = SyncProbe::default();
        probe.painted(130.0, None, 0.0);
        assert!(probe.flashes.is_empty());
        probe.painted(200.0, None, 10.0);
        probe.painted(130.0, None, 20.0);
        probe.painted(200.0, None, 30.0);
        assert_eq!(probe.flashes, [10.0]);
        assert!(
            probe.flash_captures[0].is_nan(),
            "no clock, no capture time"
        );
    }

    #[test]
    fn only_the_newest_onsets_are_kept() {
        let mut probe = SyncProbe::default();
        for n in 0..200 {
            probe.heard(f64::from(n));
        }
        assert_eq!(probe.beeps.len(), KEEP);
        assert_eq!(probe.beeps[0], 80.0);
    }

    #[test]
    fn luma_of_white_black_and_nothing() {
        assert_eq!(
            mean_luma(&[255, 255, 255, 255, 0, 0, 0, 255]).round(),
            128.0
        );
        assert_eq!(mean_luma(&[]), 0.0);
    }
}
