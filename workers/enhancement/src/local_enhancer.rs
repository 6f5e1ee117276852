//! The local enhancer: deterministic classical enhancement with the `image` crate, no network.
//!
//! In order: a light Gaussian denoise (so the stretch does not amplify sensor noise), a
//! per-channel contrast stretch between two percentiles (auto-levels, which also neutralises a
//! colour cast), an optional Lanczos3 resize to the target size, and an unsharp mask at the
//! final resolution. Alpha is carried through untouched (resized with the colour).

use contracts::enhancement::{Dimensions, LocalParams};
use image::imageops::{self, FilterType};
use image::{DynamicImage, GrayImage, RgbImage};

/// Enhances `image` and returns it at `output` dimensions. Grayscale stays grayscale.
pub fn enhance(image: &DynamicImage, params: &LocalParams, output: Dimensions) -> DynamicImage {
    let color = image.color();
    let alpha = color.has_alpha().then(|| alpha_channel(image));
    let mut rgb = image.to_rgb8();

    if params.denoise_sigma > 0.0 {
        rgb = imageops::blur(&rgb, params.denoise_sigma);
    }
    stretch_channels(&mut rgb, params.low_percentile, params.high_percentile);
    if (rgb.width(), rgb.height()) != (output.width, output.height) {
        rgb = imageops::resize(&rgb, output.width, output.height, FilterType::Lanczos3);
    }
    if params.sharpen_sigma > 0.0 && params.sharpen_amount > 0.0 {
        unsharp_mask(&mut rgb, params.sharpen_sigma, params.sharpen_amount, params.sharpen_threshold);
    }

    let alpha = alpha.map(|a| {
        if (a.width(), a.height()) == (output.width, output.height) {
            a
        } else {
            imageops::resize(&a, output.width, output.height, FilterType::Lanczos3)
        }
    });
    match (color.has_color(), alpha) {
        (true, None) => DynamicImage::ImageRgb8(rgb),
        (true, Some(alpha)) => {
            let mut rgba = DynamicImage::ImageRgb8(rgb).to_rgba8();
            for (pixel, a) in rgba.pixels_mut().zip(alpha.as_raw()) {
                pixel.0[3] = *a;
            }
            DynamicImage::ImageRgba8(rgba)
        }
        (false, None) => DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(rgb).to_luma8()),
        (false, Some(alpha)) => {
            let mut la = DynamicImage::ImageRgb8(rgb).to_luma_alpha8();
            for (pixel, a) in la.pixels_mut().zip(alpha.as_raw()) {
                pixel.0[1] = *a;
            }
            DynamicImage::ImageLumaA8(la)
        }
    }
}

fn alpha_channel(image: &DynamicImage) -> GrayImage {
    let rgba = image.to_rgba8();
    GrayImage::from_raw(rgba.width(), rgba.height(), rgba.as_raw().chunks_exact(4).map(|p| p[3]).collect()).expect("one alpha sample per pixel")
}

/// Maps each channel's `low`..`high` percentile range onto 0..255. A channel with no range
/// (a flat image) is left alone rather than blown up.
pub fn stretch_channels(image: &mut RgbImage, low: f32, high: f32) {
    let mut histograms = [[0u64; 256]; 3];
    for pixel in image.pixels() {
        for (channel, value) in pixel.0.iter().enumerate() {
            histograms[channel][*value as usize] += 1;
        }
    }
    let total = image.width() as u64 * image.height() as u64;
    let tables = histograms.map(|histogram| {
        let lo = lower_cut(&histogram, total, low) as f32;
        let hi = crate::imaging::percentile(&histogram, total, high) as f32;
        let mut table = [0u8; 256];
        for (value, entry) in table.iter_mut().enumerate() {
            *entry = if hi - lo < 1.0 { value as u8 } else { (((value as f32 - lo) * 255.0 / (hi - lo)).round()).clamp(0.0, 255.0) as u8 };
        }
        table
    });
    for pixel in image.pixels_mut() {
        for (channel, value) in pixel.0.iter_mut().enumerate() {
            *value = tables[channel][*value as usize];
        }
    }
}

/// The largest value below which at most `pct` percent of the samples lie (so a 0.5 % cut
/// clips at most 0.5 % of the shadows).
fn lower_cut(histogram: &[u64; 256], total: u64, pct: f32) -> u8 {
    let allowed = ((pct as f64 / 100.0) * total as f64).floor() as u64;
    let mut below = 0;
    for (value, count) in histogram.iter().enumerate() {
        if below + count > allowed {
            return value as u8;
        }
        below += count;
    }
    255
}

/// `out = in + amount * (in - blur(in))` where the difference exceeds `threshold`.
pub fn unsharp_mask(image: &mut RgbImage, sigma: f32, amount: f32, threshold: u8) {
    let blurred = imageops::blur(image, sigma);
    for (value, smooth) in image.iter_mut().zip(blurred.as_raw()) {
        let diff = *value as f32 - *smooth as f32;
        if diff.abs() > threshold as f32 {
            *value = (*value as f32 + amount * diff).round().clamp(0.0, 255.0) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::contrast_spread;
    use image::{Rgb, Rgba, RgbaImage};

    fn washed_out(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            let v = 100 + ((x * 37 + y * 11) % 41) as u8;
            Rgb([v, v.saturating_add(8), v.saturating_sub(6)])
        })
    }

    #[test]
    fn stretch_widens_every_channel() {
        let mut image = washed_out(64, 48);
        stretch_channels(&mut image, 0.5, 99.5);
        for channel in 0..3 {
            let values: Vec<u8> = image.pixels().map(|p| p.0[channel]).collect();
            assert!(*values.iter().min().unwrap() <= 5, "channel {channel}");
            assert!(*values.iter().max().unwrap() >= 250, "channel {channel}");
        }
    }

    #[test]
    fn flat_channels_are_left_alone() {
        let mut image = RgbImage::from_pixel(8, 8, Rgb([90, 90, 90]));
        stretch_channels(&mut image, 0.5, 99.5);
        assert!(image.pixels().all(|p| p.0 == [90, 90, 90]));
    }

    #[test]
    fn enhance_resizes_widens_and_is_deterministic() {
        let source = DynamicImage::ImageRgb8(washed_out(120, 80));
        let target = Dimensions { width: 240, height: 160 };
        let out = enhance(&source, &LocalParams::default(), target);
        assert_eq!((out.width(), out.height()), (240, 160));
        assert!(contrast_spread(&out) > contrast_spread(&source) + 100, "{} vs {}", contrast_spread(&out), contrast_spread(&source));
        let again = enhance(&source, &LocalParams::default(), target);
        assert_eq!(out.as_bytes(), again.as_bytes());
    }

    #[test]
    fn alpha_and_grayscale_survive() {
        let rgba = RgbaImage::from_fn(20, 20, |x, _| Rgba([120, 130, 110, (x * 12) as u8]));
        let out = enhance(&DynamicImage::ImageRgba8(rgba.clone()), &LocalParams::default(), Dimensions { width: 20, height: 20 });
        let out = out.as_rgba8().expect("alpha kept");
        assert!(out.pixels().zip(rgba.pixels()).all(|(a, b)| a.0[3] == b.0[3]));
        let gray = DynamicImage::ImageLuma8(GrayImage::from_fn(16, 16, |x, y| image::Luma([100 + ((x + y) % 20) as u8])));
        assert!(enhance(&gray, &LocalParams::default(), Dimensions { width: 16, height: 16 }).as_luma8().is_some());
    }

    #[test]
    fn unsharp_mask_raises_edge_contrast() {
        let mut edge = RgbImage::from_fn(20, 4, |x, _| if x < 10 { Rgb([80; 3]) } else { Rgb([160; 3]) });
        unsharp_mask(&mut edge, 1.0, 1.0, 0);
        assert!(edge.get_pixel(9, 0).0[0] < 80, "the dark side of the edge darkens");
        assert!(edge.get_pixel(10, 0).0[0] > 160, "the bright side brightens");
    }
}
