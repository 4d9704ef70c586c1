//! Portrait intake: JPEG, PNG or WebP, EXIF orientation honoured, limits checked.

use crate::error::{EngineError, Result};
use image::{DynamicImage, ImageDecoder, ImageReader, Limits, RgbImage};
use std::io::Cursor;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct PortraitLimits {
    pub min_side: u32,
    /// Longest side divided by shortest side, at most.
    pub max_aspect: f32,
    /// Guards against decompression bombs: a small file claiming huge dimensions.
    pub max_pixels: u64,
    /// The decoded buffer at most: 16-bit and alpha channels multiply a
    /// picture's memory, and a flat one compresses to a few KB.
    pub max_decoded_bytes: u64,
}

impl Default for PortraitLimits {
    fn default() -> Self {
        Self {
            min_side: 300,
            max_aspect: 2.5,
            max_pixels: 64_000_000,
            max_decoded_bytes: 256 * 1024 * 1024,
        }
    }
}

pub fn load_portrait_file(path: &Path, limits: &PortraitLimits) -> Result<RgbImage> {
    let bytes = std::fs::read(path)
        .map_err(|e| EngineError::InvalidImage(format!("cannot read {}: {e}", path.display())))?;
    decode_portrait(&bytes, limits)
}

/// Decodes by content (not by file name), applies EXIF orientation and checks
/// the size rules before any pixel work is done.
pub fn decode_portrait(bytes: &[u8], limits: &PortraitLimits) -> Result<RgbImage> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| EngineError::InvalidImage(e.to_string()))?;
    match reader.format() {
        Some(image::ImageFormat::Jpeg | image::ImageFormat::Png | image::ImageFormat::WebP) => {}
        Some(other) => {
            return Err(EngineError::InvalidImage(format!(
                "{other:?} images are not supported; use JPEG, PNG or WebP"
            )))
        }
        None => {
            return Err(EngineError::InvalidImage(
                "unrecognised image format; use JPEG, PNG or WebP".into(),
            ))
        }
    }
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| EngineError::InvalidImage(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(EngineError::InvalidImage(format!(
            "image is {w}x{h} px, more than the {} megapixel limit",
            limits.max_pixels / 1_000_000
        )));
    }
    let per_pixel = u64::from(decoder.color_type().bytes_per_pixel());
    let decoded = u64::from(w) * u64::from(h) * per_pixel;
    if decoded > limits.max_decoded_bytes {
        return Err(EngineError::InvalidImage(format!(
            "image is {w}x{h} px at {per_pixel} bytes a pixel, {} MB decoded, more than the {} MB limit",
            decoded / (1024 * 1024),
            limits.max_decoded_bytes / (1024 * 1024)
        )));
    }
    let mut decode_limits = Limits::default();
    decode_limits.max_alloc = Some(limits.max_decoded_bytes.saturating_add(64 * 1024 * 1024));
    decoder
        .set_limits(decode_limits)
        .map_err(|e| EngineError::InvalidImage(e.to_string()))?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder)
        .map_err(|e| EngineError::InvalidImage(e.to_string()))?;
    img.apply_orientation(orientation);
    let rgb = img.to_rgb8();
    check_geometry(rgb.width(), rgb.height(), limits)?;
    Ok(rgb)
}

fn check_geometry(w: u32, h: u32, limits: &PortraitLimits) -> Result<()> {
    if w < limits.min_side || h < limits.min_side {
        return Err(EngineError::ImageTooSmall {
            width: w,
            height: h,
            min: limits.min_side,
        });
    }
    let ratio = w as f32 / h as f32;
    if ratio > limits.max_aspect || ratio < 1.0 / limits.max_aspect {
        return Err(EngineError::ImageAspectRatio { ratio });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Vec<u8> {
        let p = format!("{}/../../assets/samples/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&p).unwrap_or_else(|e| panic!("sample {p} missing: {e}"))
    }

    #[test]
    fn decodes_all_three_formats() {
        for name in ["astronaut.png", "astronaut.webp", "obama.jpg"] {
            let img = decode_portrait(&sample(name), &PortraitLimits::default());
            assert!(img.is_ok(), "{name}: {:?}", img.err());
        }
    }

    #[test]
    fn exif_orientation_is_applied() {
        let upright = decode_portrait(&sample("obama.jpg"), &PortraitLimits::default()).unwrap();
        let rotated = decode_portrait(
            &sample("obama-exif-rotated.jpg"),
            &PortraitLimits::default(),
        )
        .unwrap();
        assert_eq!(upright.dimensions(), rotated.dimensions());
        // Same picture, so the mean brightness of the top halves agrees closely.
        let top_mean = |im: &RgbImage| {
            let (w, h) = im.dimensions();
            let mut s = 0u64;
            for y in 0..h / 2 {
                for x in 0..w {
                    s += u64::from(im.get_pixel(x, y).0[1]);
                }
            }
            s as f64 / f64::from(w * h / 2)
        };
        assert!((top_mean(&upright) - top_mean(&rotated)).abs() < 3.0);
    }

    #[test]
    fn rejects_garbage_small_and_skewed_images() {
        let lim = PortraitLimits::default();
        assert!(matches!(
            decode_portrait(b"not an image at all", &lim),
            Err(EngineError::InvalidImage(_))
        ));
        let mut truncated = sample("obama.jpg");
        truncated.truncate(2000);
        assert!(decode_portrait(&truncated, &lim).is_err());
        let small = RgbImage::new(200, 400);
        let mut png = Vec::new();
        small
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert!(matches!(
            decode_portrait(&png, &lim),
            Err(EngineError::ImageTooSmall { .. })
        ));
        let skewed = RgbImage::new(1000, 301);
        let mut png = Vec::new();
        skewed
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert!(matches!(
            decode_portrait(&png, &lim),
            Err(EngineError::ImageAspectRatio { .. })
        ));
    }
}
