//! Quality metrics of one 8-bit luminance image (a tile), pure and synchronous so the activity,
//! the tests and the benchmark harness call the same code:
//!
//! - sharpness: the variance of the 3x3 Laplacian (kernel `0 1 0 / 1 -4 1 / 0 1 0`) over the
//!   interior pixels (those with all 8 neighbours). Blur removes high frequencies, so the
//!   Laplacian flattens and its variance drops (Pech-Pacheco et al., 2000).
//! - exposure: the mean luminance and the shares of pixels clipped to 0 (shadows) and 255
//!   (highlights).
//! - noise: Immerkaer's fast noise variance estimation (1996): the image convolved with
//!   `1 -2 1 / -2 4 -2 / 1 -2 1`, the difference of two Laplacians, which cancels image
//!   structure up to second order (flat areas, gradients, straight 1-D texture) and leaves the
//!   noise; `sigma = sqrt(pi/2) / (6 (W-2) (H-2)) * sum |conv|` over the interior.

/// Smallest side a luminance image must have: the kernels need one interior pixel.
pub const MIN_SIDE: u32 = 3;

/// Why a buffer cannot be measured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The buffer's length is not `width * height`.
    #[error("luminance buffer holds {len} bytes, expected {width}x{height} = {expected}")]
    LengthMismatch {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// `width * height`.
        expected: u64,
        /// Actual length.
        len: usize,
    },
    /// A side is below [`MIN_SIDE`]: there is no interior pixel.
    #[error("{width}x{height} is too small: both sides need at least {MIN_SIDE} pixels")]
    TooSmall {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
}

/// A borrowed row-major 8-bit luminance image of at least [`MIN_SIDE`] x [`MIN_SIDE`] pixels.
#[derive(Debug, Clone, Copy)]
pub struct Luma<'a> {
    width: usize,
    height: usize,
    pixels: &'a [u8],
}

impl<'a> Luma<'a> {
    /// Checks the buffer's length and size.
    pub fn new(width: u32, height: u32, pixels: &'a [u8]) -> Result<Self, MetricsError> {
        let expected = u64::from(width) * u64::from(height);
        if pixels.len() as u64 != expected {
            return Err(MetricsError::LengthMismatch { width, height, expected, len: pixels.len() });
        }
        if width < MIN_SIDE || height < MIN_SIDE {
            return Err(MetricsError::TooSmall { width, height });
        }
        Ok(Self { width: width as usize, height: height as usize, pixels })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width as u32
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height as u32
    }

    fn at(&self, x: usize, y: usize) -> i32 {
        i32::from(self.pixels[y * self.width + x])
    }

    /// Coordinates of the interior pixels (all 8 neighbours inside the image), row by row.
    fn interior(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (1..self.height - 1).flat_map(move |y| (1..self.width - 1).map(move |x| (x, y)))
    }

    fn interior_count(&self) -> u64 {
        ((self.width - 2) * (self.height - 2)) as u64
    }
}

/// Every metric of one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// Variance of the 3x3 Laplacian over the interior.
    pub laplacian_variance: f64,
    /// Mean luminance, 0..255.
    pub mean_luminance: f64,
    /// Share of pixels equal to 0.
    pub shadow_clipped_fraction: f64,
    /// Share of pixels equal to 255.
    pub highlight_clipped_fraction: f64,
    /// Immerkaer noise standard deviation.
    pub noise_sigma: f64,
}

/// All metrics at once.
pub fn measure(image: Luma<'_>) -> Metrics {
    let (shadow_clipped_fraction, highlight_clipped_fraction) = clipped_fractions(image);
    Metrics {
        laplacian_variance: laplacian_variance(image),
        mean_luminance: mean_luminance(image),
        shadow_clipped_fraction,
        highlight_clipped_fraction,
        noise_sigma: noise_sigma(image),
    }
}

/// Population variance of the 3x3 Laplacian `0 1 0 / 1 -4 1 / 0 1 0` over interior pixels.
pub fn laplacian_variance(image: Luma<'_>) -> f64 {
    let (mut sum, mut sum_squares) = (0i128, 0i128);
    for (x, y) in image.interior() {
        let l = image.at(x, y - 1) + image.at(x - 1, y) + image.at(x + 1, y) + image.at(x, y + 1) - 4 * image.at(x, y);
        sum += i128::from(l);
        sum_squares += i128::from(l) * i128::from(l);
    }
    // Integer sums, so the variance is exact up to the final division: var = (n*sum(l^2) -
    // sum(l)^2) / n^2, with no cancellation error on large flat tiles.
    let n = i128::from(image.interior_count());
    ((n * sum_squares - sum * sum) as f64) / ((n * n) as f64)
}

/// Mean luminance over all pixels, 0..255.
pub fn mean_luminance(image: Luma<'_>) -> f64 {
    let sum: u64 = image.pixels.iter().map(|&p| u64::from(p)).sum();
    sum as f64 / image.pixels.len() as f64
}

/// Shares of pixels at 0 (shadows) and at 255 (highlights).
pub fn clipped_fractions(image: Luma<'_>) -> (f64, f64) {
    let (mut shadows, mut highlights) = (0u64, 0u64);
    for &p in image.pixels {
        shadows += u64::from(p == 0);
        highlights += u64::from(p == 255);
    }
    let n = image.pixels.len() as f64;
    (shadows as f64 / n, highlights as f64 / n)
}

/// Immerkaer's noise standard deviation (see the module docs).
pub fn noise_sigma(image: Luma<'_>) -> f64 {
    let mut sum_abs = 0u64;
    for (x, y) in image.interior() {
        let corners = image.at(x - 1, y - 1) + image.at(x + 1, y - 1) + image.at(x - 1, y + 1) + image.at(x + 1, y + 1);
        let edges = image.at(x, y - 1) + image.at(x - 1, y) + image.at(x + 1, y) + image.at(x, y + 1);
        let conv = corners - 2 * edges + 4 * image.at(x, y);
        sum_abs += u64::from(conv.unsigned_abs());
    }
    (std::f64::consts::FRAC_PI_2).sqrt() * sum_abs as f64 / (6.0 * image.interior_count() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(width: u32, height: u32, f: impl Fn(u32, u32) -> u8) -> Vec<u8> {
        (0..height).flat_map(|y| (0..width).map(move |x| (x, y))).map(|(x, y)| f(x, y)).collect()
    }

    #[test]
    fn flat_image_has_no_laplacian_and_no_noise() {
        let pixels = image(16, 12, |_, _| 117);
        let m = measure(Luma::new(16, 12, &pixels).unwrap());
        assert_eq!(m.laplacian_variance, 0.0);
        assert_eq!(m.noise_sigma, 0.0);
        assert_eq!(m.mean_luminance, 117.0);
        assert_eq!((m.shadow_clipped_fraction, m.highlight_clipped_fraction), (0.0, 0.0));
    }

    #[test]
    fn all_white_is_fully_highlight_clipped() {
        let pixels = image(10, 10, |_, _| 255);
        let m = measure(Luma::new(10, 10, &pixels).unwrap());
        assert_eq!(m.highlight_clipped_fraction, 1.0);
        assert_eq!(m.shadow_clipped_fraction, 0.0);
        assert_eq!(m.mean_luminance, 255.0);
    }

    #[test]
    fn all_black_is_fully_shadow_clipped() {
        let pixels = image(10, 7, |_, _| 0);
        let m = measure(Luma::new(10, 7, &pixels).unwrap());
        assert_eq!(m.shadow_clipped_fraction, 1.0);
        assert_eq!(m.highlight_clipped_fraction, 0.0);
        assert_eq!(m.mean_luminance, 0.0);
    }

    #[test]
    fn checkerboard_by_hand() {
        // One-pixel checkerboard of a = 50 and b = 150 on 8x8: the interior is 6x6 = 36 pixels,
        // 18 of each value (any even-sized rectangle of a checkerboard is balanced).
        // Laplacian: the 4 edge neighbours of an `a` are all `b`, so L = 4b - 4a = +400; of a
        // `b`, L = 4a - 4b = -400. Mean 0, so the variance is 400^2 = 160000.
        // Immerkaer: the 4 corners have the pixel's own value, the 4 edges the other one:
        // conv = 4a + 4a - 2*4b = 8(a - b) = -800 (and +800 for `b`), |conv| = 800 everywhere,
        // sigma = sqrt(pi/2) * 36 * 800 / (6 * 36) = sqrt(pi/2) * 400 / 3 = 167.1...
        // Mean luminance (50 + 150) / 2 = 100; nothing clipped.
        let pixels = image(8, 8, |x, y| if (x + y) % 2 == 0 { 50 } else { 150 });
        let m = measure(Luma::new(8, 8, &pixels).unwrap());
        assert_eq!(m.laplacian_variance, 160_000.0);
        assert!((m.noise_sigma - std::f64::consts::FRAC_PI_2.sqrt() * 400.0 / 3.0).abs() < 1e-9, "{}", m.noise_sigma);
        assert_eq!(m.mean_luminance, 100.0);
        assert_eq!((m.shadow_clipped_fraction, m.highlight_clipped_fraction), (0.0, 0.0));
    }

    #[test]
    fn linear_gradient_is_neither_sharp_nor_noisy() {
        // Both kernels are second differences: they vanish on a plane.
        let pixels = image(40, 30, |x, y| (10 + 3 * x + 2 * y) as u8);
        let m = measure(Luma::new(40, 30, &pixels).unwrap());
        assert_eq!(m.laplacian_variance, 0.0);
        assert_eq!(m.noise_sigma, 0.0);
    }

    #[test]
    fn immerkaer_recovers_known_gaussian_noise() {
        // Flat grey plus Gaussian noise of sigma 6 (Box-Muller over a fixed LCG, so the test is
        // deterministic). Rounding to integers adds 1/12 of variance: expected ~6.007.
        let (width, height) = (256u32, 256u32);
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut uniform = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let pixels: Vec<u8> = (0..width * height)
            .map(|_| {
                let gaussian = (-2.0 * uniform().ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos();
                (128.0 + 6.0 * gaussian).round() as u8
            })
            .collect();
        let sigma = noise_sigma(Luma::new(width, height, &pixels).unwrap());
        assert!((sigma - 6.0).abs() < 0.3, "estimated sigma {sigma}");
    }

    #[test]
    fn refuses_bad_buffers() {
        assert_eq!(Luma::new(2, 10, &[0; 20]).unwrap_err(), MetricsError::TooSmall { width: 2, height: 10 });
        assert!(matches!(Luma::new(4, 4, &[0; 15]), Err(MetricsError::LengthMismatch { len: 15, .. })));
    }
}
