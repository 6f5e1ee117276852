//! Reading and writing image files for the enhancers: decoding with a size limit checked from
//! the header first (a decompression bomb is refused before any pixel is allocated), encoding
//! in the format the destination key's extension names, and the contrast measure the results
//! and the verification report.

use contracts::enhancement::{Dimensions, MAX_OUTPUT_SIDE, TargetSize};
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use std::io::{BufWriter, Cursor, Write};
use std::path::Path;

/// Why a file could not be read as an image; every variant is a problem of the input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageFileError {
    /// Zero bytes.
    #[error("empty file (0 bytes)")]
    Empty,
    /// Not JPEG, PNG or TIFF.
    #[error("not an image the enhancers read (JPEG, PNG or TIFF)")]
    UnknownFormat,
    /// The header claims more pixels than allowed.
    #[error("{dimensions} pixels is more than the {limit} allowed (ENHANCEMENT_MAX_INPUT_PIXELS)")]
    TooLarge {
        /// What the header claims.
        dimensions: Dimensions,
        /// The limit.
        limit: u64,
    },
    /// Header or pixel data corrupt or truncated.
    #[error("cannot decode the image: {0}")]
    Corrupt(String),
    /// The local file could not be read.
    #[error("cannot read the local copy: {0}")]
    Io(#[from] std::io::Error),
}

impl ImageFileError {
    /// True when the input itself is at fault (as opposed to the local disk).
    pub fn is_input_error(&self) -> bool {
        !matches!(self, ImageFileError::Io(_))
    }
}

/// Decodes a JPEG, PNG or TIFF held in memory, refusing more than `max_pixels`.
pub fn decode_bytes(bytes: &[u8], max_pixels: u64) -> Result<DynamicImage, ImageFileError> {
    if bytes.is_empty() {
        return Err(ImageFileError::Empty);
    }
    let reader = || ImageReader::new(Cursor::new(bytes)).with_guessed_format();
    let header = reader()?;
    if header.format() == Some(ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        return Err(ImageFileError::Corrupt("truncated JPEG: no end-of-image marker after the last scan".to_owned()));
    }
    decode_checked(header, reader()?, max_pixels)
}

/// Decodes a JPEG, PNG or TIFF file, refusing more than `max_pixels`.
pub fn decode_file(path: &Path, max_pixels: u64) -> Result<DynamicImage, ImageFileError> {
    decode_bytes(&std::fs::read(path)?, max_pixels)
}

/// The JPEG decoder fills a truncated scan with grey rather than failing, which would turn an
/// interrupted upload into a "successful" enhancement. Markers cannot occur inside
/// entropy-coded data (0xFF is always stuffed there), so a complete file has an end-of-image
/// marker (FF D9) after its last start-of-scan (FF DA).
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_scan {
        None => true, // no scan at all: the decoder reports that itself
        Some(at) => bytes[at + 2..].windows(2).any(|w| w == [0xFF, 0xD9]),
    }
}

fn decode_checked<R: std::io::BufRead + std::io::Seek>(
    header: ImageReader<R>,
    mut pixels: ImageReader<R>,
    max_pixels: u64,
) -> Result<DynamicImage, ImageFileError> {
    if !matches!(header.format(), Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Tiff)) {
        return Err(ImageFileError::UnknownFormat);
    }
    let (width, height) = header.into_dimensions().map_err(|e| ImageFileError::Corrupt(e.to_string()))?;
    if width == 0 || height == 0 {
        return Err(ImageFileError::Corrupt(format!("the header claims {width}x{height} pixels")));
    }
    if width as u64 * height as u64 > max_pixels {
        return Err(ImageFileError::TooLarge { dimensions: Dimensions { width, height }, limit: max_pixels });
    }
    // The header was checked; the limits still guard the decoder's own allocations.
    let mut limits = Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(16).max(64 << 20));
    pixels.limits(limits);
    pixels.decode().map_err(|e| ImageFileError::Corrupt(e.to_string()))
}

/// The formats results are written in, picked by the destination key's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// `.png`
    Png,
    /// `.jpg`, `.jpeg` (quality 92; alpha dropped)
    Jpeg,
    /// `.tif`, `.tiff`
    Tiff,
}

impl OutputFormat {
    /// The format for a key, or `None` for an extension the enhancers do not write.
    pub fn for_key(key: &str) -> Option<Self> {
        let ext = key.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "png" => Some(Self::Png),
            "jpg" | "jpeg" => Some(Self::Jpeg),
            "tif" | "tiff" => Some(Self::Tiff),
            _ => None,
        }
    }

    /// MIME type of the upload.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Tiff => "image/tiff",
        }
    }

    /// File extension of the local copy.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Tiff => "tiff",
        }
    }
}

/// Writes `image` to `path` in `format`; returns the file's size.
pub fn encode_file(image: &DynamicImage, format: OutputFormat, path: &Path) -> std::io::Result<u64> {
    let file = std::fs::File::create(path)?;
    let mut out = BufWriter::new(file);
    let result = match format {
        OutputFormat::Jpeg => {
            let rgb = if image.color().has_alpha() || image.color().bytes_per_pixel() > 3 {
                DynamicImage::ImageRgb8(image.to_rgb8())
            } else {
                image.clone()
            };
            rgb.write_with_encoder(JpegEncoder::new_with_quality(&mut out, 92))
        }
        OutputFormat::Png => image.write_to(&mut out, ImageFormat::Png),
        OutputFormat::Tiff => {
            // The TIFF encoder needs Seek; encode in memory, then write.
            let mut buffer = Cursor::new(Vec::new());
            image.write_to(&mut buffer, ImageFormat::Tiff).and_then(|()| out.write_all(buffer.get_ref()).map_err(image::ImageError::IoError))
        }
    };
    result.map_err(std::io::Error::other)?;
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// The output dimensions of `target` for a source of `source` dimensions: both sides given
/// means exactly that size; one side keeps the aspect ratio; none keeps the source size.
pub fn output_dimensions(target: TargetSize, source: Dimensions) -> Dimensions {
    let scaled =
        |side: u32, num: u32, den: u32| ((side as u64 * num as u64 + den as u64 / 2) / den.max(1) as u64).clamp(1, MAX_OUTPUT_SIDE as u64) as u32;
    match (target.width, target.height) {
        (Some(width), Some(height)) => Dimensions { width, height },
        (Some(width), None) => Dimensions { width, height: scaled(source.height, width, source.width) },
        (None, Some(height)) => Dimensions { width: scaled(source.width, height, source.height), height },
        (None, None) => source,
    }
}

/// Width and height of an image.
pub fn dimensions(image: &DynamicImage) -> Dimensions {
    Dimensions { width: image.width(), height: image.height() }
}

/// Spread between the 1st and 99th percentile of the luminance (0..255): a washed-out image
/// scores low, a full-range one near 255.
pub fn contrast_spread(image: &DynamicImage) -> u8 {
    let luma = image.to_luma8();
    let mut histogram = [0u64; 256];
    for p in luma.as_raw() {
        histogram[*p as usize] += 1;
    }
    let total = luma.as_raw().len() as u64;
    let low = percentile(&histogram, total, 1.0);
    let high = percentile(&histogram, total, 99.0);
    high.saturating_sub(low)
}

/// The smallest value at or below which `pct` percent of the `total` samples lie.
pub fn percentile(histogram: &[u64; 256], total: u64, pct: f32) -> u8 {
    let wanted = ((pct as f64 / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (value, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= wanted {
            return value as u8;
        }
    }
    255
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_sizes() {
        let src = Dimensions { width: 400, height: 300 };
        assert_eq!(output_dimensions(TargetSize::default(), src), src);
        assert_eq!(output_dimensions(TargetSize { width: Some(800), height: None }, src), Dimensions { width: 800, height: 600 });
        assert_eq!(output_dimensions(TargetSize { width: None, height: Some(150) }, src), Dimensions { width: 200, height: 150 });
        assert_eq!(output_dimensions(TargetSize { width: Some(64), height: Some(64) }, src), Dimensions { width: 64, height: 64 });
    }
    use image::{Rgb, RgbImage};

    fn gradient(low: u8, high: u8) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(100, 10, |x, _| {
            let v = low as u32 + (high - low) as u32 * x / 99;
            Rgb([v as u8; 3])
        }))
    }

    #[test]
    fn spread_measures_the_range() {
        assert!(contrast_spread(&gradient(100, 140)) <= 40);
        assert!(contrast_spread(&gradient(0, 255)) >= 245);
        assert_eq!(contrast_spread(&gradient(77, 77)), 0);
    }

    #[test]
    fn output_formats_follow_the_extension() {
        assert_eq!(OutputFormat::for_key("a/b.JPG"), Some(OutputFormat::Jpeg));
        assert_eq!(OutputFormat::for_key("a/b.tif"), Some(OutputFormat::Tiff));
        assert_eq!(OutputFormat::for_key("a/b.png"), Some(OutputFormat::Png));
        assert_eq!(OutputFormat::for_key("a/b.gif"), None);
        assert_eq!(OutputFormat::for_key("a/b"), None);
    }

    #[test]
    fn round_trips_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let image = gradient(10, 200);
        for format in [OutputFormat::Png, OutputFormat::Jpeg, OutputFormat::Tiff] {
            let path = dir.path().join(format!("x.{}", format.extension()));
            let size = encode_file(&image, format, &path).unwrap();
            assert!(size > 0);
            let back = decode_file(&path, 1_000_000).unwrap();
            assert_eq!(dimensions(&back), Dimensions { width: 100, height: 10 });
        }
        let png = dir.path().join("x.png");
        assert!(matches!(decode_file(&png, 999), Err(ImageFileError::TooLarge { .. })));
        let empty = dir.path().join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(decode_file(&empty, 1_000_000), Err(ImageFileError::Empty)));
        assert!(matches!(decode_bytes(b"hello, not an image", 1_000_000), Err(ImageFileError::UnknownFormat)));
        let bytes = std::fs::read(&png).unwrap();
        assert!(matches!(decode_bytes(&bytes[..bytes.len() / 2], 1_000_000), Err(ImageFileError::Corrupt(_))));
        let textured = DynamicImage::ImageRgb8(RgbImage::from_fn(256, 256, |x, y| Rgb([(x ^ y) as u8, (x * 3) as u8, (y * 5) as u8])));
        encode_file(&textured, OutputFormat::Jpeg, &dir.path().join("t.jpg")).unwrap();
        let jpeg = std::fs::read(dir.path().join("t.jpg")).unwrap();
        assert!(jpeg_is_complete(&jpeg));
        let cut = &jpeg[..jpeg.len() * 6 / 10];
        assert!(!jpeg_is_complete(cut));
        assert!(matches!(decode_bytes(cut, 1_000_000), Err(ImageFileError::Corrupt(m)) if m.contains("truncated JPEG")));
    }
}
