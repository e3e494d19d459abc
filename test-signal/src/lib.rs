//! The test source's signals, defined once: the publisher draws them (ffmpeg filters), the
//! viewer's sync probe and the harness read them back. The layouts are fixed so that any tool —
//! a screencast of the viewer page, a camera and a microphone in front of a screen — can read
//! them too.
//!
//! - [`pixel_clock`]: each frame's capture time, written into the picture (glass-to-glass
//!   latency).
//! - [`sync`]: a flash in the picture and a beep in the sound at every whole Unix second of
//!   stamped time (A/V sync as a person perceives it).

/// The pixel clock: one row of [`BLOCKS`](pixel_clock::BLOCKS) square blocks of
/// [`BLOCK`](pixel_clock::BLOCK)×`BLOCK` pixels in the picture's top-left corner, block `i` at
/// x = `BLOCK`·i, y = 0. Block `i` is white (luma 255) when bit (`BLOCKS` − 1 − i) of the
/// capture wall-clock time in Unix milliseconds, modulo [`PERIOD_MS`](pixel_clock::PERIOD_MS),
/// is 1, and black (luma 0) otherwise.
pub mod pixel_clock {
    /// Blocks in the strip: 40 bits of milliseconds (≈ 35 years before it wraps).
    pub const BLOCKS: u32 = 40;
    /// Block edge in pixels.
    pub const BLOCK: u32 = 16;
    /// The clock's period, ms.
    pub const PERIOD_MS: u64 = 1 << BLOCKS;
}

/// The A/V sync signal, both at every whole second of **Unix** time of the media's *stamped*
/// time, so that their onsets coincide by construction in timestamp terms:
///
/// - **Flash**: a [`FLASH_SIZE`](sync::FLASH_SIZE)² square whose top-left corner is
///   [`FLASH_INSET`](sync::FLASH_INSET) pixels in from the right and bottom edges, always drawn:
///   white while the frame's stamped time is in the first [`ON_MS`](sync::ON_MS) of a whole Unix
///   second, black otherwise. A lighter rendition is the same picture scaled down.
/// - **Beep**: a [`BEEP_HZ`](sync::BEEP_HZ) sine at [`BEEP_AMPLITUDE`](sync::BEEP_AMPLITUDE) of
///   full scale on every channel, starting at phase 0 on the second, for `ON_MS`; digital silence
///   otherwise.
pub mod sync {
    /// Edge of the flash square, pixels of the captured picture.
    pub const FLASH_SIZE: u32 = 128;
    /// Distance of the flash square's top-left corner from the right and bottom edges, pixels.
    pub const FLASH_INSET: u32 = 192;
    /// Distance of the flash square's centre from the right and bottom edges, pixels.
    pub const FLASH_CENTRE_INSET: u32 = FLASH_INSET - FLASH_SIZE / 2;
    /// How long the flash and the beep last after each whole Unix second, ms.
    pub const ON_MS: u32 = 100;
    /// Beep frequency, Hz.
    pub const BEEP_HZ: u32 = 1000;
    /// Beep amplitude (full scale = 1): −6 dBFS.
    pub const BEEP_AMPLITUDE: f64 = 0.5;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flash_centre_is_half_a_square_inside_its_corner() {
        assert_eq!(sync::FLASH_CENTRE_INSET, 128);
        assert_eq!(pixel_clock::PERIOD_MS, 1_099_511_627_776);
    }
}
