//! Enrollment QR codes: the server's address and a one-time code, shown in the terminal and
//! written as a PNG for the app's first-run screen to scan.

use anyhow::{Context, Result};
use qrcode::{Color, EcLevel};

/// A QR code's modules.
#[derive(Debug)]
pub struct QrCode {
    width: usize,
    dark: Vec<bool>,
}

/// Light modules around the code, as the standard asks.
const QUIET: usize = 4;

impl QrCode {
    /// The QR code of `text` (error correction M: survives a smudged screen or print).
    pub fn of(text: &str) -> Result<QrCode> {
        let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
            .context("the text does not fit in a QR code")?;
        Ok(QrCode { width: code.width(), dark: code.to_colors().into_iter().map(|c| c == Color::Dark).collect() })
    }

    fn is_dark(&self, x: usize, y: usize) -> bool {
        let inside = |v: usize| (QUIET..QUIET + self.width).contains(&v);
        inside(x) && inside(y) && self.dark[(y - QUIET) * self.width + (x - QUIET)]
    }

    /// The code drawn with half-block characters, two rows per line, dark on light.
    pub fn terminal(&self) -> String {
        let size = self.width + 2 * QUIET;
        let mut out = String::new();
        for y in (0..size).step_by(2) {
            for x in 0..size {
                out.push(match (self.is_dark(x, y), y + 1 < size && self.is_dark(x, y + 1)) {
                    (false, false) => '█',
                    (false, true) => '▀',
                    (true, false) => '▄',
                    (true, true) => ' ',
                });
            }
            out.push('\n');
        }
        out
    }

    /// A grayscale PNG, `scale` pixels per module.
    pub fn png(&self, scale: usize) -> Result<Vec<u8>> {
        let size = (self.width + 2 * QUIET) * scale;
        let mut pixels = Vec::with_capacity(size * size);
        for y in 0..size {
            for x in 0..size {
                pixels.push(if self.is_dark(x / scale, y / scale) { 0u8 } else { 255 });
            }
        }
        let side = u32::try_from(size).context("QR code too large")?;
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().context("writing the PNG")?;
        writer.write_image_data(&pixels).context("writing the PNG")?;
        writer.finish().context("writing the PNG")?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_a_quiet_zone_and_finder_patterns() {
        let qr = QrCode::of("xuncha:enroll?server=http%3A%2F%2F127.0.0.1%3A8470&code=7KQM-4XPA-2R").unwrap();
        // The top-left finder pattern: a dark 7×7 ring right after the quiet zone.
        assert!(!qr.is_dark(QUIET - 1, QUIET));
        assert!((0..7).all(|i| qr.is_dark(QUIET + i, QUIET) && qr.is_dark(QUIET, QUIET + i)));
        assert!(!qr.is_dark(QUIET + 1, QUIET + 1));
        let png = qr.png(4).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let lines = qr.terminal().lines().count();
        assert_eq!(lines, (qr.width + 2 * QUIET).div_ceil(2));
    }
}
