//! Pixel work on extracted frames: encoding, luminance histograms, scene-change scores,
//! thumbnails and the contact-sheet grid.

use contracts::video::FrameFormat;
use image::{ImageEncoder, Rgb, RgbImage};

/// Encodes an RGB image as JPEG (at `jpeg_quality`) or PNG.
pub fn encode(image: &RgbImage, format: FrameFormat, jpeg_quality: u8) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::with_capacity(image.as_raw().len() / 8);
    match format {
        FrameFormat::Jpeg => image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, jpeg_quality.clamp(1, 100)).write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )?,
        FrameFormat::Png => image::codecs::png::PngEncoder::new(&mut out).write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )?,
    }
    Ok(out)
}

/// BT.601 luma of an sRGB pixel, 0..255 (the weights JPEG and most video use).
fn luma(pixel: &Rgb<u8>) -> u32 {
    let [r, g, b] = pixel.0;
    (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000
}

/// Mean luminance (0..255) and the luminance histogram over `bins` equal-width bins, as shares
/// of the pixels (summing to 1).
pub fn luminance_histogram(image: &RgbImage, bins: u32) -> (f64, Vec<f64>) {
    let bins = bins.clamp(1, 256) as usize;
    let mut counts = vec![0u64; bins];
    let mut sum = 0u64;
    for pixel in image.pixels() {
        let y = luma(pixel).min(255);
        sum += u64::from(y);
        counts[y as usize * bins / 256] += 1;
    }
    let total = (image.width() as u64 * image.height() as u64).max(1) as f64;
    (sum as f64 / total, counts.into_iter().map(|c| c as f64 / total).collect())
}

/// Scene-change score between two histograms: their total-variation distance, half the sum of
/// absolute differences, 0 (same distribution) .. 1 (no overlap). Robust to motion within a
/// scene, sensitive to the change of lighting and content a cut brings.
pub fn scene_score(previous: &[f64], current: &[f64]) -> f64 {
    let distance: f64 = previous.iter().zip(current).map(|(a, b)| (a - b).abs()).sum::<f64>() / 2.0;
    distance.clamp(0.0, 1.0)
}

/// Height of a thumbnail `thumb_width` wide for frames of `width` x `height`.
pub fn thumb_height(width: u32, height: u32, thumb_width: u32) -> u32 {
    ((f64::from(height) * f64::from(thumb_width) / f64::from(width.max(1))).round() as u32).max(1)
}

/// A thumbnail of exactly `width` x `height` (area-averaged).
pub fn thumbnail(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    image::imageops::thumbnail(image, width, height)
}

/// Which of `total` frames go on a sheet of at most `max` cells: all of them, or `max` spread
/// evenly from the first.
pub fn sheet_selection(total: u32, max: u32) -> Vec<u32> {
    if total <= max { (0..total).collect() } else { (0..max).map(|i| (u64::from(i) * u64::from(total) / u64::from(max)) as u32).collect() }
}

/// The contact sheet being filled cell by cell (row-major), its size fixed up front.
pub struct SheetCanvas {
    image: RgbImage,
    columns: u32,
    cell: (u32, u32),
}

impl SheetCanvas {
    /// A dark canvas of `columns` x `ceil(cells / columns)` cells.
    pub fn new(cells: u32, columns: u32, cell_width: u32, cell_height: u32) -> Self {
        let columns = columns.max(1);
        let rows = cells.div_ceil(columns).max(1);
        let image = RgbImage::from_pixel(columns * cell_width, rows * cell_height, Rgb([24, 24, 24]));
        Self { image, columns, cell: (cell_width, cell_height) }
    }

    /// Grid rows.
    pub fn rows(&self) -> u32 {
        self.image.height() / self.cell.1
    }

    /// Draws `thumb` into cell `position`.
    pub fn place(&mut self, position: u32, thumb: &RgbImage) {
        let x = (position % self.columns) * self.cell.0;
        let y = (position / self.columns) * self.cell.1;
        image::imageops::replace(&mut self.image, thumb, i64::from(x), i64::from(y));
    }

    /// The finished sheet.
    pub fn into_image(self) -> RgbImage {
        self.image
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_and_scores() {
        let red = RgbImage::from_pixel(8, 8, Rgb([255, 0, 0]));
        let green = RgbImage::from_pixel(8, 8, Rgb([0, 255, 0]));
        let (mean_red, hist_red) = luminance_histogram(&red, 32);
        let (mean_green, hist_green) = luminance_histogram(&green, 32);
        assert_eq!(mean_red, 76.0);
        assert_eq!(mean_green, 150.0);
        assert!((hist_red.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(hist_red[76 * 32 / 256], 1.0);
        assert_eq!(scene_score(&hist_red, &hist_red), 0.0);
        assert_eq!(scene_score(&hist_red, &hist_green), 1.0);

        let mut half = red.clone();
        for y in 0..4 {
            for x in 0..8 {
                half.put_pixel(x, y, Rgb([0, 255, 0]));
            }
        }
        let (_, hist_half) = luminance_histogram(&half, 32);
        assert!((scene_score(&hist_red, &hist_half) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn sheet_layout() {
        assert_eq!(thumb_height(320, 240, 160), 120);
        assert_eq!(thumb_height(240, 320, 90), 120);
        assert_eq!(sheet_selection(4, 10), vec![0, 1, 2, 3]);
        assert_eq!(sheet_selection(10, 4), vec![0, 2, 5, 7]);
        let mut sheet = SheetCanvas::new(7, 3, 10, 5);
        assert_eq!(sheet.rows(), 3);
        sheet.place(4, &RgbImage::from_pixel(10, 5, Rgb([255, 255, 255])));
        let image = sheet.into_image();
        assert_eq!(image.dimensions(), (30, 15));
        assert_eq!(image.get_pixel(10, 5).0, [255, 255, 255]);
        assert_eq!(image.get_pixel(9, 5).0, [24, 24, 24]);
        let encoded = encode(&image, FrameFormat::Png, 90).unwrap();
        assert_eq!(image::load_from_memory(&encoded).unwrap().to_rgb8(), image);
    }
}
