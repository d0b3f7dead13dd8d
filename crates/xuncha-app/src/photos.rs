//! Photos made fit to sync over 2G before they are stored: downscaled to a long side,
//! turned upright, re-encoded as JPEG, with each photo's own capture time and place read
//! from its EXIF block, and, when asked, the on-site watermark burned in ([`crate::watermark`]).
//!
//! JPEG and PNG pictures whose long side exceeds the configured one are decoded, turned by
//! their EXIF orientation, resized (Catmull-Rom) and stored as JPEG; the EXIF block is not
//! carried over (the capture time and GPS point travel in the record instead). Smaller
//! pictures, PDFs and formats this build cannot decode (HEIC from iPhones, WebP, GIF) are
//! stored byte for byte as chosen: a HEIC photo keeps its full size, and its EXIF time and
//! place are still read. An EXIF capture time without an offset (`OffsetTimeOriginal`) is
//! taken as China Standard Time, UTC+8, the time the cameras in use are set to.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use xuncha_domain::GeoPoint;

use crate::error::BadInput;

/// The most pixels a picture may have to be decoded: 100 megapixels (400 MB as RGBA).
pub const MAX_PIXELS: u64 = 100_000_000;

/// The offset assumed for an EXIF time that names none: UTC+8, in seconds.
const ASSUMED_OFFSET_S: i32 = 8 * 3600;

/// How photos are stored (from [`crate::Config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoSettings {
    /// The longest side a stored photo may have, in pixels.
    pub long_side: u32,
    /// JPEG quality (1–100) of a downscaled photo.
    pub quality: u8,
}

impl Default for PhotoSettings {
    fn default() -> Self {
        PhotoSettings { long_side: 2560, quality: 85 }
    }
}

/// The bytes to store for a chosen file, and what its EXIF block says.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub bytes: Vec<u8>,
    /// The media type of `bytes` (`image/jpeg` when downscaled).
    pub mime: String,
    /// When the photo was taken (EXIF `DateTimeOriginal`), milliseconds since the epoch.
    pub taken_at_ms: Option<i64>,
    /// Where the photo was taken (EXIF GPS).
    pub gps: Option<GeoPoint>,
    /// Whether `bytes` are a downscaled copy rather than the file as chosen.
    pub downscaled: bool,
    /// Whether the watermark is drawn on `bytes`.
    pub watermarked: bool,
}

/// The watermark to burn into a photo: the font to draw with and what to say. The photo's
/// own EXIF time and GPS point, when it has them, replace the stamp's.
#[derive(Clone, Copy)]
pub struct Mark<'a> {
    pub face: &'a ttf_parser::Face<'a>,
    pub stamp: &'a crate::watermark::Stamp,
}

impl std::fmt::Debug for Mark<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mark").field("stamp", self.stamp).finish_non_exhaustive()
    }
}

/// What a file's EXIF block says about the photo.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhotoMeta {
    pub taken_at_ms: Option<i64>,
    pub gps: Option<GeoPoint>,
}

/// The bytes to store for a file of media type `mime`: a large JPEG or PNG downscaled,
/// anything else unchanged. Refuses a picture whose pixel count exceeds [`MAX_PIXELS`]
/// before decoding it.
pub fn prepare(bytes: Vec<u8>, mime: &str, settings: PhotoSettings) -> Result<Prepared, BadInput> {
    prepare_marked(bytes, mime, settings, None)
}

/// [`prepare`], with `mark` burned into a JPEG or PNG photo (decoded and re-encoded even
/// when it needs no downscaling). A photo this build cannot decode is kept as chosen,
/// unmarked (`watermarked` says which).
pub fn prepare_marked(
    bytes: Vec<u8>,
    mime: &str,
    settings: PhotoSettings,
    mark: Option<Mark<'_>>,
) -> Result<Prepared, BadInput> {
    let meta = if mime.starts_with("image/") { read_meta(&bytes) } else { PhotoMeta::default() };
    let unchanged = |bytes: Vec<u8>, mime: String| Prepared {
        bytes,
        mime,
        taken_at_ms: meta.taken_at_ms,
        gps: meta.gps,
        downscaled: false,
        watermarked: false,
    };
    let format = image::guess_format(&bytes).ok().filter(|f| matches!(f, ImageFormat::Jpeg | ImageFormat::Png));
    let Some(format) = format.filter(|_| mime.starts_with("image/")) else {
        return Ok(unchanged(bytes, mime.to_owned()));
    };
    // The stored mime is what the bytes are, whatever the picker said.
    let mime = format.to_mime_type().to_owned();
    let (width, height) = {
        let reader = ImageReader::with_format(Cursor::new(&bytes), format);
        match reader.into_dimensions() {
            Ok(dimensions) => dimensions,
            // Not a picture after all (a truncated file): keep what was chosen.
            Err(_) => return Ok(unchanged(bytes, mime)),
        }
    };
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(BadInput::ImageTooLarge {
            megapixels: pixels / 1_000_000,
            limit_megapixels: MAX_PIXELS / 1_000_000,
        });
    }
    let downscale = width.max(height) > settings.long_side;
    if !downscale && mark.is_none() {
        return Ok(unchanged(bytes, mime));
    }
    let Some(mut image) = decode_upright(&bytes, format) else {
        return Ok(unchanged(bytes, mime));
    };
    if downscale {
        image = image.resize(settings.long_side, settings.long_side, FilterType::CatmullRom);
    }
    let mut rgb = flatten(image);
    let watermarked = mark.is_some_and(|mark| {
        let stamp = crate::watermark::Stamp {
            taken_at_ms: meta.taken_at_ms.unwrap_or(mark.stamp.taken_at_ms),
            gps: meta.gps.or(mark.stamp.gps),
            ..mark.stamp.clone()
        };
        crate::watermark::draw(&mut rgb, mark.face, &stamp.lines()).is_some()
    });
    if !downscale && !watermarked {
        return Ok(unchanged(bytes, mime));
    }
    let mut out = Vec::new();
    let encoded = JpegEncoder::new_with_quality(&mut out, settings.quality.clamp(1, 100)).encode_image(&rgb);
    if encoded.is_err() {
        return Ok(unchanged(bytes, mime));
    }
    Ok(Prepared {
        bytes: out,
        mime: "image/jpeg".to_owned(),
        taken_at_ms: meta.taken_at_ms,
        gps: meta.gps,
        downscaled: downscale,
        watermarked,
    })
}

/// The long side of a thumbnail, in pixels: a tile of the record screen at twice its size.
pub const THUMBNAIL_SIDE: u32 = 400;

/// A small JPEG of a JPEG or PNG photo for a thumbnail tile, upright, at most `side` pixels
/// on its long side: what the record screen shows instead of the stored 2,560 px photo, so
/// opening a record with many photos decodes and holds a few kilobytes per photo, not
/// megabytes. `None` for a file that is not such a photo or does not decode.
pub fn thumbnail(bytes: &[u8], side: u32) -> Option<Vec<u8>> {
    let format = image::guess_format(bytes).ok().filter(|f| matches!(f, ImageFormat::Jpeg | ImageFormat::Png))?;
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format).into_dimensions().ok()?;
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return None;
    }
    let image = decode_upright(bytes, format)?;
    let small = if width.max(height) > side { image.thumbnail(side, side) } else { image };
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 80).encode_image(&flatten(small)).ok()?;
    Some(out)
}

/// The whole picture, turned by its EXIF orientation; `None` if it does not decode.
fn decode_upright(bytes: &[u8], format: ImageFormat) -> Option<DynamicImage> {
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4 + (64 << 20));
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().ok()?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).ok()?;
    image.apply_orientation(orientation);
    Some(image)
}

/// An RGB picture for JPEG: transparent parts laid on white.
fn flatten(image: DynamicImage) -> image::RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
        image::Rgb([over(r), over(g), over(b)])
    })
}

/// The capture time and GPS point in a file's EXIF block (JPEG, PNG, HEIF, WebP, TIFF);
/// nothing for a file with none or an unreadable one.
pub fn read_meta(bytes: &[u8]) -> PhotoMeta {
    use exif::{In, Tag};
    let Ok(exif) = exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) else {
        return PhotoMeta::default();
    };
    let ascii = |tag| match exif.get_field(tag, In::PRIMARY).map(|f| &f.value) {
        Some(exif::Value::Ascii(parts)) => parts.first().cloned(),
        _ => None,
    };
    let taken_at_ms = ascii(Tag::DateTimeOriginal).and_then(|text| {
        let mut time = exif::DateTime::from_ascii(&text).ok()?;
        if let Some(offset) = ascii(Tag::OffsetTimeOriginal) {
            // A malformed offset leaves the assumed one.
            let _ = time.parse_offset(&offset);
        }
        epoch_ms(&time)
    });
    let degrees = |tag| match exif.get_field(tag, In::PRIMARY).map(|f| &f.value) {
        Some(exif::Value::Rational(parts)) if parts.len() == 3 && parts.iter().all(|p| p.denom != 0) => {
            Some(parts[0].to_f64() + parts[1].to_f64() / 60.0 + parts[2].to_f64() / 3600.0)
        }
        _ => None,
    };
    let sign = |tag, negative: u8| match ascii(tag) {
        Some(text) if text.first().map(u8::to_ascii_uppercase) == Some(negative) => -1.0,
        _ => 1.0,
    };
    let gps = match (degrees(Tag::GPSLatitude), degrees(Tag::GPSLongitude)) {
        (Some(lat), Some(lon)) => Some(GeoPoint {
            lat: lat * sign(Tag::GPSLatitudeRef, b'S'),
            lon: lon * sign(Tag::GPSLongitudeRef, b'W'),
            accuracy_m: None,
        })
        .filter(GeoPoint::is_plausible),
        _ => None,
    };
    PhotoMeta { taken_at_ms, gps }
}

/// An EXIF date and time as milliseconds since the epoch (UTC+8 when it names no offset).
fn epoch_ms(time: &exif::DateTime) -> Option<i64> {
    use chrono::{FixedOffset, NaiveDate, TimeZone};
    let offset = time.offset.map_or(ASSUMED_OFFSET_S, |minutes| i32::from(minutes) * 60);
    let local = NaiveDate::from_ymd_opt(i32::from(time.year), u32::from(time.month), u32::from(time.day))?
        .and_hms_nano_opt(
            u32::from(time.hour),
            u32::from(time.minute),
            u32::from(time.second),
            time.nanosecond.unwrap_or(0),
        )?;
    let at = FixedOffset::east_opt(offset)?.from_local_datetime(&local).single()?;
    Some(at.timestamp_millis())
}

#[cfg(test)]
pub(crate) mod tests {
    //! Downscaling and EXIF reading on pictures made here: a camera-sized JPEG with an EXIF
    //! block written by [`exif_block`], small ones, a PDF.

    use image::{ImageEncoder, RgbImage};

    use super::*;

    /// What a test photo's EXIF block says.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Exif<'a> {
        pub orientation: u16,
        pub taken: &'a str,
        pub offset: Option<&'a str>,
        /// Latitude and longitude in degrees (negative: south, west).
        pub gps: Option<(f64, f64)>,
    }

    /// A little-endian TIFF block (what a JPEG's APP1 `Exif` segment holds): IFD0 with the
    /// orientation and pointers to an Exif IFD (time, offset) and a GPS IFD.
    pub(crate) fn exif_block(exif: &Exif<'_>) -> Vec<u8> {
        // An entry: tag, type, count, and the value (inline if ≤ 4 bytes, else data).
        struct Entry {
            tag: u16,
            ty: u16,
            count: u32,
            data: Vec<u8>,
        }
        fn ascii(tag: u16, text: &str) -> Entry {
            let mut data = text.as_bytes().to_vec();
            data.push(0);
            Entry { tag, ty: 2, count: data.len() as u32, data }
        }
        fn dms(tag: u16, degrees: f64) -> Entry {
            let d = degrees.abs();
            let whole = d.floor();
            let minutes = ((d - whole) * 60.0).floor();
            let seconds = ((d - whole) * 60.0 - minutes) * 60.0;
            let mut data = Vec::new();
            for (num, den) in [(whole as u32, 1u32), (minutes as u32, 1), ((seconds * 10_000.0).round() as u32, 10_000)]
            {
                data.extend_from_slice(&num.to_le_bytes());
                data.extend_from_slice(&den.to_le_bytes());
            }
            Entry { tag, ty: 5, count: 3, data }
        }
        fn long(tag: u16, value: u32) -> Entry {
            Entry { tag, ty: 4, count: 1, data: value.to_le_bytes().to_vec() }
        }
        // Writes an IFD at `at` (its entries, then the data that does not fit inline).
        fn ifd(out: &mut Vec<u8>, entries: &[Entry]) {
            let start = out.len();
            let data_at = start + 2 + entries.len() * 12 + 4;
            let mut data = Vec::new();
            out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
            for e in entries {
                out.extend_from_slice(&e.tag.to_le_bytes());
                out.extend_from_slice(&e.ty.to_le_bytes());
                out.extend_from_slice(&e.count.to_le_bytes());
                if e.data.len() <= 4 {
                    let mut inline = e.data.clone();
                    inline.resize(4, 0);
                    out.extend_from_slice(&inline);
                } else {
                    out.extend_from_slice(&((data_at + data.len()) as u32).to_le_bytes());
                    data.extend_from_slice(&e.data);
                    if data.len() % 2 == 1 {
                        data.push(0);
                    }
                }
            }
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&data);
        }
        let mut exif_entries = vec![ascii(0x9003, exif.taken)];
        if let Some(offset) = exif.offset {
            exif_entries.push(ascii(0x9011, offset));
        }
        let gps_entries = exif.gps.map(|(lat, lon)| {
            vec![
                ascii(0x1, if lat < 0.0 { "S" } else { "N" }),
                dms(0x2, lat),
                ascii(0x3, if lon < 0.0 { "W" } else { "E" }),
                dms(0x4, lon),
            ]
        });
        // IFD0 first, at offset 8; its size is known, so the sub-IFDs follow it.
        let ifd0_len = |n: usize| 2 + n * 12 + 4;
        let n0 = 2 + usize::from(gps_entries.is_some());
        let mut out = b"II*\0".to_vec();
        out.extend_from_slice(&8u32.to_le_bytes());
        let exif_at = 8 + ifd0_len(n0);
        // The sub-IFDs are written after room for IFD0, so their offsets come out absolute.
        let mut sub = vec![0u8; exif_at];
        ifd(&mut sub, &exif_entries);
        let gps_at = sub.len();
        if let Some(entries) = &gps_entries {
            ifd(&mut sub, entries);
        }
        let mut ifd0 = vec![Entry { tag: 0x112, ty: 3, count: 1, data: exif.orientation.to_le_bytes().to_vec() }];
        ifd0.push(long(0x8769, exif_at as u32));
        if gps_entries.is_some() {
            ifd0.push(long(0x8825, gps_at as u32));
        }
        ifd(&mut out, &ifd0);
        assert_eq!(out.len(), exif_at, "IFD0 holds no out-of-line data");
        out.extend_from_slice(&sub[exif_at..]);
        out
    }

    /// A JPEG of `width`×`height` with a gradient and some detail (so it compresses like a
    /// photo, not like a flat colour), and `exif` if given.
    pub(crate) fn jpeg(width: u32, height: u32, exif: Option<&Exif<'_>>) -> Vec<u8> {
        let picture = RgbImage::from_fn(width, height, |x, y| {
            let noise = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 27;
            image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, ((x / 7 + y / 5) % 64 + noise * 4) as u8])
        });
        let mut out = Vec::new();
        let mut encoder = JpegEncoder::new_with_quality(&mut out, 92);
        if let Some(exif) = exif {
            encoder.set_exif_metadata(exif_block(exif)).unwrap();
        }
        encoder.write_image(picture.as_raw(), width, height, image::ExtendedColorType::Rgb8).unwrap();
        out
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbaImage::from_pixel(width, height, image::Rgba([10, 20, 30, 128]));
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(picture.as_raw(), width, height, image::ExtendedColorType::Rgba8)
            .unwrap();
        out
    }

    const CAMERA: Exif<'static> =
        Exif { orientation: 6, taken: "2026:11:30 14:05:09", offset: None, gps: Some((29.8683, 121.5440)) };

    #[test]
    fn a_camera_photo_turned_sideways_is_stored_upright_at_the_long_side_as_a_small_jpeg() {
        let original = jpeg(6000, 4000, Some(&CAMERA));
        let start = std::time::Instant::now();
        let stored = prepare(original.clone(), "image/jpeg", PhotoSettings::default()).unwrap();
        eprintln!("6000×4000 JPEG ({} bytes) → {} bytes in {:?}", original.len(), stored.bytes.len(), start.elapsed());
        assert!(stored.downscaled);
        assert_eq!(stored.mime, "image/jpeg");
        assert!(stored.bytes.len() < 1_500_000, "{} bytes", stored.bytes.len());
        let picture = image::load_from_memory(&stored.bytes).unwrap();
        assert_eq!((picture.width(), picture.height()), (1707, 2560), "portrait after orientation 6");
        // 2026-11-30 14:05:09 at UTC+8 (no offset given) is 06:05:09 UTC.
        assert_eq!(stored.taken_at_ms, Some(1_796_018_709_000));
        let gps = stored.gps.unwrap();
        assert!((gps.lat - 29.8683).abs() < 1e-4 && (gps.lon - 121.5440).abs() < 1e-4, "{gps:?}");
    }

    #[test]
    fn exif_times_use_their_offset_and_southern_western_points_are_negative() {
        let exif =
            Exif { orientation: 1, taken: "2026:11:30 14:05:09", offset: Some("+01:00"), gps: Some((-33.5, -70.25)) };
        let meta = read_meta(&jpeg(16, 16, Some(&exif)));
        assert_eq!(meta.taken_at_ms, Some(1_796_018_709_000 + 7 * 3_600_000));
        let gps = meta.gps.unwrap();
        assert!((gps.lat + 33.5).abs() < 1e-6 && (gps.lon + 70.25).abs() < 1e-6, "{gps:?}");
    }

    #[test]
    fn files_with_nothing_to_shrink_are_stored_byte_for_byte() {
        let small = jpeg(1200, 900, Some(&CAMERA));
        let stored = prepare(small.clone(), "image/jpeg", PhotoSettings::default()).unwrap();
        assert_eq!(stored.bytes, small);
        assert!(!stored.downscaled);
        assert_eq!(stored.taken_at_ms, Some(1_796_018_709_000), "EXIF is read even when kept as is");

        let pdf = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n".to_vec();
        let stored = prepare(pdf.clone(), "application/pdf", PhotoSettings::default()).unwrap();
        assert_eq!((stored.bytes, stored.mime.as_str()), (pdf, "application/pdf"));

        // Not decodable here (HEIC, or anything unknown): kept as chosen.
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
        let stored = prepare(heic.clone(), "image/heic", PhotoSettings::default()).unwrap();
        assert_eq!((stored.bytes, stored.mime.as_str()), (heic, "image/heic"));
    }

    #[test]
    fn a_large_png_with_transparency_becomes_a_jpeg_on_white() {
        let settings = PhotoSettings { long_side: 100, quality: 85 };
        let stored = prepare(png(400, 200), "image/png", settings).unwrap();
        assert_eq!(stored.mime, "image/jpeg");
        let picture = image::load_from_memory(&stored.bytes).unwrap().into_rgb8();
        assert_eq!(picture.dimensions(), (100, 50));
        let [r, _, _] = picture.get_pixel(50, 25).0;
        assert!((125..=140).contains(&r), "half-transparent dark red over white: {r}");
    }

    #[test]
    fn a_thumbnail_is_small_upright_and_only_of_photos() {
        let stored = prepare(jpeg(6000, 4000, Some(&CAMERA)), "image/jpeg", PhotoSettings::default()).unwrap();
        let small = thumbnail(&stored.bytes, THUMBNAIL_SIDE).unwrap();
        let picture = image::load_from_memory(&small).unwrap();
        assert_eq!((picture.width(), picture.height()), (267, 400), "upright, long side 400");
        assert!(small.len() < 60_000, "{} bytes", small.len());
        assert_eq!(thumbnail(b"%PDF-1.4\n", THUMBNAIL_SIDE), None);
        assert_eq!(thumbnail(&png_header(20_000, 10_000), THUMBNAIL_SIDE), None, "too many pixels: not decoded");
    }

    #[test]
    fn a_picture_of_too_many_pixels_is_refused_before_decoding() {
        // A valid PNG header claiming 20000×10000 (200 MP): its IDAT is never read.
        let huge = png_header(20_000, 10_000);
        let refused = prepare(huge, "image/png", PhotoSettings::default()).unwrap_err();
        assert!(matches!(refused, BadInput::ImageTooLarge { megapixels: 200, limit_megapixels: 100 }), "{refused:?}");
    }

    /// The signature and IHDR chunk of a PNG of `width`×`height`, and an empty IDAT chunk:
    /// a header that decodes, with no pixels behind it.
    pub(crate) fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend_from_slice(&13u32.to_be_bytes());
        out.extend_from_slice(&ihdr);
        out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(b"IDAT");
        out.extend_from_slice(&crc32(b"IDAT").to_be_bytes());
        out
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
}
