//! The on-site watermark: when, where, who and for which record a photo was taken, burned
//! into the picture on the device, as field staff show that work was done on the spot.
//!
//! A dark, half-transparent panel in the bottom-left corner holds the lines in white, the
//! first (the time) larger: legible on sky and on paper alike. The text is drawn from the
//! glyph outlines of the bundled font (Noto Serif CJK SC bold) with anti-aliasing; its size
//! follows the picture's short side, so the stamp covers about the same share of any photo,
//! and shrinks if a long line would not fit across.

use image::RgbImage;
use tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, Rect, Transform};
use ttf_parser::{Face, GlyphId, OutlineBuilder};
use xuncha_domain::GeoPoint;

/// What the stamp says.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    /// When the photo was taken, milliseconds since the epoch, shown at UTC+8.
    pub taken_at_ms: i64,
    /// The place's name (township and village), empty if the record names none.
    pub place: String,
    /// Where the photo was taken, if known.
    pub gps: Option<GeoPoint>,
    /// Who took it (display name).
    pub inspector: String,
    /// The record's 编号.
    pub number: String,
}

impl Stamp {
    /// The lines drawn, first the time.
    pub fn lines(&self) -> Vec<String> {
        use chrono::{FixedOffset, TimeZone};
        let china = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
        let time = china
            .timestamp_millis_opt(self.taken_at_ms)
            .single()
            .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M").to_string());
        let mut lines = vec![time];
        if !self.place.trim().is_empty() {
            lines.push(format!("地点：{}", self.place.trim()));
        }
        if let Some(gps) = self.gps {
            let (ns, ew) = (if gps.lat < 0.0 { "南纬" } else { "北纬" }, if gps.lon < 0.0 { "西经" } else { "东经" });
            lines.push(format!("{ns} {:.5}° {ew} {:.5}°", gps.lat.abs(), gps.lon.abs()));
        }
        if !self.inspector.trim().is_empty() {
            lines.push(format!("巡察人：{}", self.inspector.trim()));
        }
        if !self.number.trim().is_empty() {
            lines.push(format!("编号：{}", self.number.trim()));
        }
        lines
    }
}

/// How much larger the first line (the time) is than the others.
const FIRST_LINE_SCALE: f32 = 1.5;

/// Draws `lines` onto `image` in its bottom-left corner, the first line larger. Returns the
/// panel's box (x, y, width, height) in the picture, or `None` if the picture is too small
/// to hold a legible stamp (under 64 pixels high) or nothing was given.
pub fn draw(image: &mut RgbImage, face: &Face<'_>, lines: &[String]) -> Option<(u32, u32, u32, u32)> {
    let (width, height) = image.dimensions();
    if lines.is_empty() || height < 64 || width < 64 {
        return None;
    }
    let units = f32::from(face.units_per_em());
    let advance = |line: &str| -> f32 {
        line.chars()
            .map(|c| {
                let glyph = face.glyph_index(c).unwrap_or(GlyphId(0));
                f32::from(face.glyph_hor_advance(glyph).unwrap_or(0)) / units
            })
            .sum()
    };
    let em = |i: usize| if i == 0 { FIRST_LINE_SCALE } else { 1.0 };
    // Widths in ems of each line at its scale.
    let widest = lines.iter().enumerate().map(|(i, l)| advance(l) * em(i)).fold(0.0f32, f32::max);
    let short = width.min(height) as f32;
    let mut size = (short / 34.0).max(12.0);
    let margin = (short / 40.0).max(4.0);
    let pad = size * 0.6;
    if widest * size + 2.0 * pad + 2.0 * margin > width as f32 {
        size = ((width as f32 - 2.0 * margin) / (widest + 1.2)).max(6.0);
    }
    let pad = size * 0.6;
    let gap = size * 0.35;
    let ascent = f32::from(face.ascender()) / units;
    let descent = -f32::from(face.descender()) / units;
    let line_height = |i: usize| (ascent + descent) * size * em(i);
    let text_height: f32 = (0..lines.len()).map(line_height).sum::<f32>() + gap * (lines.len() - 1) as f32;
    let panel_w = (widest * size + 2.0 * pad).ceil().min(width as f32 - margin) as u32;
    let panel_h = (text_height + 2.0 * pad).ceil().min(height as f32 - margin) as u32;
    let mut pixmap = Pixmap::new(panel_w.max(1), panel_h.max(1))?;

    let mut paint = Paint::default();
    paint.set_color_rgba8(0, 0, 0, 160);
    let panel = Rect::from_xywh(0.0, 0.0, panel_w as f32, panel_h as f32)?;
    pixmap.fill_rect(panel, &paint, Transform::identity(), None);
    // An amber rule down the left edge marks the stamp as one.
    paint.set_color_rgba8(255, 176, 32, 255);
    if let Some(rule) = Rect::from_xywh(0.0, 0.0, (size * 0.15).max(2.0), panel_h as f32) {
        pixmap.fill_rect(rule, &paint, Transform::identity(), None);
    }

    paint.set_color_rgba8(255, 255, 255, 255);
    paint.anti_alias = true;
    let mut top = pad;
    for (i, line) in lines.iter().enumerate() {
        let scale = size * em(i) / units;
        let baseline = top + ascent * size * em(i);
        let mut path = PathBuilder::new();
        let mut x = pad;
        for c in line.chars() {
            let glyph = face.glyph_index(c).unwrap_or(GlyphId(0));
            let mut pen = Pen { path: &mut path, x, y: baseline, scale };
            face.outline_glyph(glyph, &mut pen);
            x += f32::from(face.glyph_hor_advance(glyph).unwrap_or(0)) * scale;
        }
        if let Some(path) = path.finish() {
            pixmap.fill_path(&path, &paint, FillRule::Winding, Transform::identity(), None);
        }
        top += line_height(i) + gap;
    }

    let x0 = margin as u32;
    let y0 = height.saturating_sub(margin as u32 + panel_h);
    composite(image, &pixmap, x0, y0);
    Some((x0, y0, panel_w, panel_h))
}

/// Lays the premultiplied `over` onto `image` at (x0, y0).
fn composite(image: &mut RgbImage, over: &Pixmap, x0: u32, y0: u32) {
    let (width, height) = image.dimensions();
    for (i, pixel) in over.pixels().iter().enumerate() {
        let (x, y) = (x0 + i as u32 % over.width(), y0 + i as u32 / over.width());
        if x >= width || y >= height || pixel.alpha() == 0 {
            continue;
        }
        let keep = 255 - u16::from(pixel.alpha());
        let dst = image.get_pixel_mut(x, y);
        for (channel, src) in dst.0.iter_mut().zip([pixel.red(), pixel.green(), pixel.blue()]) {
            *channel = (u16::from(src) + (u16::from(*channel) * keep + 127) / 255).min(255) as u8;
        }
    }
}

/// Turns a glyph's outline (font units, y up) into picture coordinates (pixels, y down).
struct Pen<'a> {
    path: &'a mut PathBuilder,
    x: f32,
    y: f32,
    scale: f32,
}

impl Pen<'_> {
    fn at(&self, x: f32, y: f32) -> (f32, f32) {
        (self.x + x * self.scale, self.y - y * self.scale)
    }
}

impl OutlineBuilder for Pen<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.at(x, y);
        self.path.move_to(x, y);
    }

    fn line_to(&mut self, x: f32, y: f32) {
        let (x, y) = self.at(x, y);
        self.path.line_to(x, y);
    }

    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let ((x1, y1), (x, y)) = (self.at(x1, y1), self.at(x, y));
        self.path.quad_to(x1, y1, x, y);
    }

    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let ((x1, y1), (x2, y2), (x, y)) = (self.at(x1, y1), self.at(x2, y2), self.at(x, y));
        self.path.cubic_to(x1, y1, x2, y2, x, y);
    }

    fn close(&mut self) {
        self.path.close();
    }
}

#[cfg(test)]
mod tests {
    //! The stamp on pictures made here, drawn with the bundled font (`make setup` installs
    //! it; these tests need it, as the documents' do).

    use super::*;

    fn stamp() -> Stamp {
        Stamp {
            // 2026-11-30 14:05 at UTC+8.
            taken_at_ms: 1_796_018_709_000,
            place: "城关镇 东村".into(),
            gps: Some(GeoPoint { lat: 29.8683, lon: 121.544, accuracy_m: None }),
            inspector: "王巡察".into(),
            number: "XC-2026-0007".into(),
        }
    }

    #[test]
    fn the_stamp_names_time_place_point_inspector_and_number() {
        assert_eq!(
            stamp().lines(),
            [
                "2026-11-30 14:05",
                "地点：城关镇 东村",
                "北纬 29.86830° 东经 121.54400°",
                "巡察人：王巡察",
                "编号：XC-2026-0007"
            ]
        );
        let bare = Stamp { place: String::new(), gps: None, number: String::new(), ..stamp() };
        assert_eq!(bare.lines(), ["2026-11-30 14:05", "巡察人：王巡察"]);
    }

    #[test]
    fn the_panel_sits_bottom_left_with_white_text_on_a_darkened_picture() {
        let fonts = xuncha_report::Fonts::load().expect("the bundled fonts (make setup)");
        let face = fonts.face(true).expect("the bold SC face");
        let grey = image::Rgb([200, 200, 200]);
        let mut picture = RgbImage::from_pixel(2560, 1707, grey);
        let (x, y, w, h) = draw(&mut picture, face, &stamp().lines()).expect("a stamp");
        assert!(x > 0 && x < 100 && y + h < 1707 && y + h > 1607, "bottom-left: {x},{y} {w}×{h}");
        assert!(w > 500 && w < 1600 && h > 250 && h < 700, "about a fifth of the picture: {w}×{h}");
        // Outside the panel the picture is untouched; inside, darkened, with white strokes.
        assert_eq!(*picture.get_pixel(2000, 200), grey);
        let inside: Vec<_> = (y..y + h).flat_map(|py| (x..x + w).map(move |px| (px, py))).collect();
        let white = inside.iter().filter(|&&(px, py)| picture.get_pixel(px, py).0[0] > 240).count();
        let dark = inside.iter().filter(|&&(px, py)| picture.get_pixel(px, py).0[0] < 100).count();
        assert!(white > inside.len() / 50, "text drawn: {white} of {}", inside.len());
        assert!(dark > inside.len() / 2, "background darkened: {dark} of {}", inside.len());
    }

    #[test]
    fn a_narrow_picture_gets_a_smaller_stamp_that_fits_and_a_tiny_one_none() {
        let fonts = xuncha_report::Fonts::load().expect("the bundled fonts (make setup)");
        let face = fonts.face(true).expect("the bold SC face");
        let mut narrow = RgbImage::from_pixel(300, 2000, image::Rgb([0, 90, 0]));
        let (x, _, w, _) = draw(&mut narrow, face, &stamp().lines()).expect("a stamp");
        assert!(x + w <= 300, "fits across: {x}+{w}");
        let mut tiny = RgbImage::new(40, 40);
        assert_eq!(draw(&mut tiny, face, &stamp().lines()), None);
    }
}
