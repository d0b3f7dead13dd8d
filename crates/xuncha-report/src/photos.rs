//! Pictures for a document: photos downscaled and re-encoded (a 12-megapixel photo
//! becomes a few hundred kilobytes at print resolution), signatures kept as drawn.

use image::ImageReader;
use xuncha_domain::AttachmentRef;

use crate::Attachments;

/// A picture the template shows, as the file path it reads and the bytes.
pub(crate) struct Picture {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// What a picture is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// A photo of the supporting materials: at most this many pixels on its long side
    /// (a full text width at about 200 dpi).
    Photo,
    /// A signature: small, kept as it is.
    Signature,
}

const PHOTO_LONG_SIDE: u32 = 1400;
const JPEG_QUALITY: u8 = 80;

/// Adds the attachment to `pictures` (once) and returns the path the template shows it
/// by; `None` when the device does not hold it or it is not a picture Typst can show.
pub(crate) fn prepare(
    attachment: &AttachmentRef,
    attachments: &Attachments,
    pictures: &mut Vec<Picture>,
    usage: Use,
) -> Option<String> {
    let bytes = attachments.get(&attachment.sha256)?;
    if !AttachmentRef::is_valid_hash(&attachment.sha256) {
        return None;
    }
    let (prepared, extension) = match usage {
        Use::Signature => (bytes.clone(), extension_of(bytes)?),
        Use::Photo => downscale(bytes)?,
    };
    let path = format!("img/{}-{}.{extension}", attachment.sha256, if usage == Use::Photo { "p" } else { "s" });
    if !pictures.iter().any(|p| p.path == path) {
        pictures.push(Picture { path: path.clone(), bytes: prepared });
    }
    Some(format!("/{path}"))
}

fn extension_of(bytes: &[u8]) -> Option<&'static str> {
    match image::guess_format(bytes).ok()? {
        image::ImageFormat::Png => Some("png"),
        image::ImageFormat::Jpeg => Some("jpg"),
        _ => None,
    }
}

/// The photo at most [`PHOTO_LONG_SIDE`] pixels on its long side, as a JPEG; one already
/// that small is kept as it is. `None` when it cannot be decoded.
///
/// What a picture costs in the PDF is its pixels (the PDF stores them deflated or as
/// JPEG), not the size of its file: a 12-megapixel PNG of a plain page is small on disk
/// and tens of megabytes in a PDF. So every large picture is scaled down, whatever its
/// file size.
fn downscale(bytes: &[u8]) -> Option<(Vec<u8>, &'static str)> {
    let extension = extension_of(bytes)?;
    let reader = ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().ok()?;
    let (width, height) = reader.into_dimensions().ok()?;
    if width.max(height) <= PHOTO_LONG_SIDE {
        return Some((bytes.to_vec(), extension));
    }
    let picture = image::load_from_memory(bytes).ok()?;
    let smaller = picture.resize(PHOTO_LONG_SIDE, PHOTO_LONG_SIDE, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
    smaller.to_rgb8().write_with_encoder(encoder).ok()?;
    Some((out, "jpg"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A photo's worth of detail: pixels from a linear congruential generator.
    fn photo(width: u32, height: u32) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        let picture = image::RgbImage::from_fn(width, height, |x, y| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            image::Rgb([(x % 256) as u8, (y % 256) as u8, (state >> 24) as u8])
        });
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(picture)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    fn reference(bytes: &[u8]) -> AttachmentRef {
        use sha2::{Digest, Sha256};
        AttachmentRef {
            sha256: hex::encode(Sha256::digest(bytes)),
            mime: "image/png".into(),
            size: bytes.len() as u64,
            caption: String::new(),
            taken_at_ms: None,
            gps: None,
        }
    }

    #[test]
    fn a_large_photo_is_downscaled_and_a_signature_kept() {
        let big = photo(4000, 3000);
        let small = photo(300, 120);
        let mut attachments = Attachments::new();
        let (big_ref, small_ref) = (reference(&big), reference(&small));
        attachments.insert(big_ref.sha256.clone(), big.clone());
        attachments.insert(small_ref.sha256.clone(), small.clone());
        let mut pictures = Vec::new();
        let path = prepare(&big_ref, &attachments, &mut pictures, Use::Photo).unwrap();
        assert!(path.ends_with("-p.jpg"), "{path}");
        let shrunk = image::load_from_memory(&pictures[0].bytes).unwrap();
        assert_eq!((shrunk.width(), shrunk.height()), (1400, 1050));
        assert!(pictures[0].bytes.len() < big.len());
        prepare(&small_ref, &attachments, &mut pictures, Use::Signature).unwrap();
        assert_eq!(pictures[1].bytes, small, "a signature is kept as drawn");
        // Asked twice, added once.
        prepare(&big_ref, &attachments, &mut pictures, Use::Photo).unwrap();
        assert_eq!(pictures.len(), 2);
        // A large picture that is small on disk is scaled down all the same: its pixels
        // are what the PDF stores.
        let plain = image::RgbImage::from_pixel(3000, 4000, image::Rgb([250, 250, 250]));
        let mut plain_png = Vec::new();
        image::DynamicImage::ImageRgb8(plain)
            .write_to(&mut std::io::Cursor::new(&mut plain_png), image::ImageFormat::Png)
            .unwrap();
        let plain_ref = reference(&plain_png);
        attachments.insert(plain_ref.sha256.clone(), plain_png);
        prepare(&plain_ref, &attachments, &mut pictures, Use::Photo).unwrap();
        let plain = image::load_from_memory(&pictures.last().unwrap().bytes).unwrap();
        assert_eq!((plain.width(), plain.height()), (1050, 1400));
    }

    #[test]
    fn missing_or_unreadable_attachments_are_not_shown() {
        let mut attachments = Attachments::new();
        let pdf = b"%PDF-1.7 not a picture".to_vec();
        let pdf_ref = reference(&pdf);
        attachments.insert(pdf_ref.sha256.clone(), pdf);
        let mut pictures = Vec::new();
        assert_eq!(prepare(&pdf_ref, &attachments, &mut pictures, Use::Photo), None);
        assert_eq!(prepare(&reference(b"absent"), &attachments, &mut pictures, Use::Photo), None);
        assert!(pictures.is_empty());
    }
}
