//! Looking at screenshots: is there a picture, or just a flat colour?

use anyhow::Context;

/// Decode a PNG into 8-bit RGB(A) pixels: (width, height, channels, bytes).
pub fn decode_png(png: &[u8]) -> anyhow::Result<(u32, u32, usize, Vec<u8>)> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().context("not a PNG")?;
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).context("decoding PNG")?;
    pixels.truncate(info.buffer_size());
    Ok((info.width, info.height, info.color_type.samples(), pixels))
}

/// The top rows of a PNG, as 8-bit pixels: `rows(width)` says how many rows are needed for an
/// image that wide. Stops decoding there, so reading a strip from a large frame stays cheap.
pub fn decode_png_top(png: &[u8], rows: impl FnOnce(u32) -> usize) -> anyhow::Result<Rows> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().context("not a PNG")?;
    let width = reader.info().width;
    let wanted = rows(width).min(reader.info().height as usize);
    let channels = reader.output_color_type().0.samples();
    let mut pixels = Vec::with_capacity(wanted * width as usize * channels);
    while pixels.len() < wanted * width as usize * channels {
        match reader.next_row().context("decoding PNG")? {
            Some(row) => pixels.extend_from_slice(row.data()),
            None => break,
        }
    }
    Ok(Rows {
        width: width as usize,
        channels,
        pixels,
    })
}

/// The top rows of an image.
pub struct Rows {
    pub width: usize,
    pub channels: usize,
    pub pixels: Vec<u8>,
}

impl Rows {
    /// Luma of the pixel at (x, y), if it was decoded.
    pub fn luma(&self, x: usize, y: usize) -> Option<u8> {
        if x >= self.width {
            return None;
        }
        let at = (y * self.width + x) * self.channels;
        let p = self.pixels.get(at..at + self.channels.min(3))?;
        Some(match p {
            [r, g, b] => (0.299 * *r as f64 + 0.587 * *g as f64 + 0.114 * *b as f64).round() as u8,
            [gray, ..] => *gray,
            [] => return None,
        })
    }
}

/// The standard deviation of luma over the picture: near 0 for a flat colour, tens for any
/// real content.
pub fn luma_spread(channels: usize, pixels: &[u8]) -> f64 {
    if channels < 3 {
        return spread(pixels.iter().step_by(channels.max(1)).map(|&v| v as f64));
    }
    spread(
        pixels
            .chunks_exact(channels)
            .map(|p| 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64),
    )
}

fn spread(values: impl Iterator<Item = f64>) -> f64 {
    let (mut n, mut sum, mut sum_sq) = (0.0, 0.0, 0.0);
    for v in values {
        n += 1.0;
        sum += v;
        sum_sq += v * v;
    }
    if n == 0.0 {
        return 0.0;
    }
    let mean = sum / n;
    (sum_sq / n - mean * mean).max(0.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_colour_has_no_spread_and_stripes_have_plenty() {
        let flat = [10u8, 200, 30, 255].repeat(64);
        assert!(luma_spread(4, &flat) < 0.001);
        let stripes: Vec<u8> = (0..64)
            .flat_map(|i| {
                if i % 2 == 0 {
                    [0, 0, 0]
                } else {
                    [255, 255, 255]
                }
            })
            .collect();
        assert!((luma_spread(3, &stripes) - 127.5).abs() < 0.01);
    }

    #[test]
    fn decodes_a_png_it_encoded() {
        let mut png = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut png, 2, 1);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(&[0, 0, 0, 255, 255, 255]).unwrap();
        }
        let (w, h, channels, pixels) = decode_png(&png).unwrap();
        assert_eq!((w, h, channels), (2, 1, 3));
        assert_eq!(pixels, [0, 0, 0, 255, 255, 255]);
        let top = decode_png_top(&png, |width| width as usize).unwrap();
        assert_eq!((top.width, top.channels), (2, 3));
        assert_eq!(
            (
                top.luma(0, 0),
                top.luma(1, 0),
                top.luma(2, 0),
                top.luma(0, 1)
            ),
            (Some(0), Some(255), None, None)
        );
    }
}
