//! Enhancement samples: the navad scene washed out (its range squeezed into a narrow band with
//! a warm cast, as a hazy, under-exposed shot looks) and a flat grey image with no contrast to
//! recover. Deterministic, like every sample.

use crate::navad::{encode_jpeg, encode_png, sharp_scene};
use image::{Rgb, RgbImage};

/// The band every channel of [`low_contrast_scene`] stays in.
pub const LOW_CONTRAST_RANGE: (u8, u8) = (96, 156);

/// [`sharp_scene`] with each channel mapped linearly into [`LOW_CONTRAST_RANGE`] and shifted a
/// little (red up, blue down): the 1st-99th percentile spread of its luminance is well under
/// a quarter of the full range.
pub fn low_contrast_scene(width: u32, height: u32) -> RgbImage {
    let (low, high) = (LOW_CONTRAST_RANGE.0 as u32, LOW_CONTRAST_RANGE.1 as u32);
    let cast = [6i32, 0, -6];
    let mut image = sharp_scene(width, height);
    for pixel in image.pixels_mut() {
        for (c, value) in pixel.0.iter_mut().enumerate() {
            // sharp_scene keeps channels within 35..=215.
            let squeezed = low + (*value as u32).saturating_sub(35) * (high - low - 12) / 180;
            *value = (squeezed as i32 + 6 + cast[c]).clamp(low as i32, high as i32) as u8;
        }
    }
    image
}

/// [`low_contrast_scene`] as PNG.
pub fn low_contrast_png(width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    encode_png(&low_contrast_scene(width, height))
}

/// [`low_contrast_scene`] as JPEG (no EXIF).
pub fn low_contrast_jpeg(width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    encode_jpeg(&low_contrast_scene(width, height), None)
}

/// A uniform grey PNG: nothing for an enhancer to stretch.
pub fn flat_png(width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    encode_png(&RgbImage::from_pixel(width, height, Rgb([128, 128, 128])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_in_its_band_and_keeps_the_scene() {
        let image = low_contrast_scene(160, 120);
        let (low, high) = LOW_CONTRAST_RANGE;
        assert!(image.pixels().all(|p| p.0.iter().all(|v| (low..=high).contains(v))));
        let distinct: std::collections::HashSet<u8> = image.pixels().map(|p| p.0[1]).collect();
        assert!(distinct.len() > 20, "the scene's detail survives the squeeze");
        assert_eq!(image, low_contrast_scene(160, 120), "deterministic");
    }
}
