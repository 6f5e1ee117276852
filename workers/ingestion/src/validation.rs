//! Validation of one image file on local disk, in the order that keeps hostile input cheap:
//! size, then the format from magic bytes, then the dimensions from the header alone (checked
//! against [`ImageLimits`] before a single pixel buffer is allocated: decompression bombs), then
//! one full decode under allocation limits to prove the data is complete, then SHA-256 and
//! EXIF. Pure and synchronous: the activity runs it in `spawn_blocking`, and tests call it on
//! files directly.

use contracts::automation::{ExifSummary, ImageLimits};
use image::{ImageError, ImageFormat, ImageReader, Limits};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// What validation learned about a valid image.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// `jpeg`, `png` or `tiff`.
    pub format: &'static str,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// File size in bytes.
    pub size_bytes: u64,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// EXIF fields, when the file has them.
    pub exif: ExifSummary,
}

/// Why an image was refused (every variant but [`ValidationError::Io`] is a fault of the input,
/// and its text is the reason reported with the object's name).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// Zero bytes.
    #[error("the file is empty (0 bytes)")]
    Empty,
    /// Larger than `max_bytes`.
    #[error("the file is {size} bytes, above the limit of {max} bytes")]
    TooLarge {
        /// Actual size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The first bytes match no known image signature.
    #[error("not a JPEG, PNG or TIFF image (unrecognised signature, first bytes {0})")]
    UnrecognisedFormat(String),
    /// A known image format, but not one the pipeline accepts.
    #[error("{0} images are not accepted (JPEG, PNG or TIFF only)")]
    UnsupportedFormat(String),
    /// The header could not be parsed.
    #[error("unreadable {format} header: {reason}")]
    BadHeader {
        /// Detected format.
        format: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// The header's dimensions break a limit (checked before decoding).
    #[error("header claims {width}x{height} pixels: {reason}")]
    OverLimits {
        /// Claimed width.
        width: u32,
        /// Claimed height.
        height: u32,
        /// Which limit, and its value.
        reason: String,
    },
    /// The pixel data does not decode: truncated or corrupt.
    #[error("corrupt or truncated {format} data: {reason}")]
    Corrupt {
        /// Detected format.
        format: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// The local copy could not be read (not the input's fault: retried).
    #[error("cannot read the downloaded copy: {0}")]
    Io(#[from] std::io::Error),
}

impl ValidationError {
    /// True when the input itself is bad (retrying cannot help).
    pub fn is_input_fault(&self) -> bool {
        !matches!(self, ValidationError::Io(_))
    }
}

/// Checks a size against `max_bytes`; also used on the object's size before downloading it.
pub fn check_size(size: u64, limits: &ImageLimits) -> Result<(), ValidationError> {
    if size == 0 {
        return Err(ValidationError::Empty);
    }
    if size > limits.max_bytes {
        return Err(ValidationError::TooLarge { size, max: limits.max_bytes });
    }
    Ok(())
}

/// Checks header dimensions against the width, height and pixel-count limits.
pub fn check_dimensions(width: u32, height: u32, limits: &ImageLimits) -> Result<(), ValidationError> {
    let over = |reason: String| Err(ValidationError::OverLimits { width, height, reason });
    if width == 0 || height == 0 {
        return over("an image needs at least one pixel each way".to_owned());
    }
    if width > limits.max_width {
        return over(format!("width above the limit of {} pixels", limits.max_width));
    }
    if height > limits.max_height {
        return over(format!("height above the limit of {} pixels", limits.max_height));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return over(format!("{pixels} pixels, above the limit of {} pixels", limits.max_pixels));
    }
    Ok(())
}

/// Validates the image file at `path` (see the module docs for the order of the checks).
pub fn inspect(path: &Path, limits: &ImageLimits) -> Result<Inspection, ValidationError> {
    let size_bytes = std::fs::metadata(path)?.len();
    check_size(size_bytes, limits)?;

    let reader = ImageReader::new(BufReader::new(File::open(path)?)).with_guessed_format()?;
    let format = accepted_format(reader.format(), path)?;

    // Header only: the decoders parse the header in their constructor and stop there.
    let (width, height) = match reader.into_dimensions() {
        Ok(dimensions) => dimensions,
        Err(e) => return Err(ValidationError::BadHeader { format, reason: e.to_string() }),
    };
    check_dimensions(width, height, limits)?;

    decode_fully(path, format, width, height)?;

    Ok(Inspection { format, width, height, size_bytes, sha256: sha256_file(path)?, exif: read_exif(path) })
}

fn accepted_format(format: Option<ImageFormat>, path: &Path) -> Result<&'static str, ValidationError> {
    match format {
        Some(ImageFormat::Jpeg) => Ok("jpeg"),
        Some(ImageFormat::Png) => Ok("png"),
        Some(ImageFormat::Tiff) => Ok("tiff"),
        Some(other) => Err(ValidationError::UnsupportedFormat(other.to_mime_type().to_owned())),
        None => {
            let mut head = [0u8; 8];
            let n = File::open(path)?.read(&mut head)?;
            Err(ValidationError::UnrecognisedFormat(hex::encode(&head[..n])))
        }
    }
}

/// Bytes one decode may allocate: the largest pixel layout the decoders produce (4 channels of
/// 16 bits) for the header's size, plus room for the decoders' working buffers. The header was
/// already checked against the limits, so this is bounded by `max_pixels`.
fn decode_budget(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height) * 8 + 64 * 1024 * 1024
}

/// Decodes every pixel once, under limits, to prove the data is complete.
fn decode_fully(path: &Path, format: &'static str, width: u32, height: u32) -> Result<(), ValidationError> {
    let corrupt = |reason: String| ValidationError::Corrupt { format, reason };
    if format == "jpeg" {
        // `image` decodes JPEG leniently: a truncated file comes back complete, its missing
        // part painted grey. zune-jpeg (the same decoder) in strict mode refuses it instead.
        let bytes = std::fs::read(path)?;
        let options =
            zune_core::options::DecoderOptions::default().set_strict_mode(true).set_max_width(width as usize).set_max_height(height as usize);
        let mut decoder = zune_jpeg::JpegDecoder::new_with_options(zune_core::bytestream::ZCursor::new(&bytes), options);
        decoder.decode().map_err(|e| corrupt(format!("{e:?}")))?;
        return Ok(());
    }
    let mut reader = ImageReader::new(BufReader::new(File::open(path)?)).with_guessed_format()?;
    let mut image_limits = Limits::default();
    image_limits.max_image_width = Some(width);
    image_limits.max_image_height = Some(height);
    image_limits.max_alloc = Some(decode_budget(width, height));
    reader.limits(image_limits);
    match reader.decode() {
        Ok(decoded) if (decoded.width(), decoded.height()) == (width, height) => Ok(()),
        Ok(decoded) => Err(corrupt(format!("decoded {}x{} pixels where the header says {width}x{height}", decoded.width(), decoded.height()))),
        Err(ImageError::Limits(e)) => Err(ValidationError::OverLimits { width, height, reason: e.to_string() }),
        Err(ImageError::IoError(e)) if e.kind() != std::io::ErrorKind::UnexpectedEof => Err(ValidationError::Io(e)),
        Err(e) => Err(corrupt(e.to_string())),
    }
}

/// Streams the file through SHA-256.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// EXIF capture time, camera and GPS position, when present. A file without EXIF, or with an
/// EXIF block that does not parse, yields empty fields: EXIF is informative, not required.
pub fn read_exif(path: &Path) -> ExifSummary {
    let Ok(file) = File::open(path) else { return ExifSummary::default() };
    match exif::Reader::new().read_from_container(&mut BufReader::new(file)) {
        Ok(exif) => exif_summary(&exif),
        Err(e) => {
            tracing::debug!(path = %path.display(), error = %e, "no usable EXIF");
            ExifSummary::default()
        }
    }
}

/// The fields of interest of a parsed EXIF block.
pub fn exif_summary(exif: &exif::Exif) -> ExifSummary {
    use exif::{In, Tag, Value};
    let field = |tag| exif.get_field(tag, In::PRIMARY);
    let text = |tag| match field(tag).map(|f| &f.value) {
        Some(Value::Ascii(parts)) => parts.first().map(|bytes| String::from_utf8_lossy(bytes).trim_end_matches(['\0', ' ']).to_owned()),
        _ => None,
    };
    let rationals = |tag| match field(tag).map(|f| &f.value) {
        Some(Value::Rational(values)) => Some(values.iter().map(|r| r.to_f64()).collect::<Vec<_>>()),
        _ => None,
    };
    // Degrees, minutes, seconds; the reference letter gives the hemisphere.
    let coordinate = |value: Tag, reference: Tag, negative: &str| {
        let dms = rationals(value)?;
        if dms.len() != 3 || dms.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let degrees = dms[0] + dms[1] / 60.0 + dms[2] / 3600.0;
        let is_negative = text(reference).is_some_and(|r| r.eq_ignore_ascii_case(negative));
        Some(if is_negative { -degrees } else { degrees })
    };
    let altitude = rationals(Tag::GPSAltitude).and_then(|v| v.first().copied()).filter(|v| v.is_finite()).map(|metres| {
        // GPSAltitudeRef 1 means below sea level.
        let below = matches!(field(Tag::GPSAltitudeRef).map(|f| &f.value), Some(Value::Byte(b)) if b.first() == Some(&1));
        if below { -metres } else { metres }
    });
    ExifSummary {
        capture_time: text(Tag::DateTimeOriginal),
        camera_make: text(Tag::Make),
        camera_model: text(Tag::Model),
        gps_latitude: coordinate(Tag::GPSLatitude, Tag::GPSLatitudeRef, "S"),
        gps_longitude: coordinate(Tag::GPSLongitude, Tag::GPSLongitudeRef, "W"),
        gps_altitude: altitude,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samples::navad;

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn sharp_jpeg_is_valid_with_its_exif() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let bytes = navad::sharp_jpeg(400, 300)?;
        let path = write(&dir, "a.jpg", &bytes);
        let inspection = inspect(&path, &ImageLimits::default())?;
        assert_eq!((inspection.format, inspection.width, inspection.height), ("jpeg", 400, 300));
        assert_eq!(inspection.size_bytes, bytes.len() as u64);
        assert_eq!(inspection.sha256, hex::encode(Sha256::digest(&bytes)));
        let e = navad::SAMPLE_EXIF;
        assert_eq!(inspection.exif.capture_time.as_deref(), Some(e.capture_time));
        assert_eq!(inspection.exif.camera_make.as_deref(), Some(e.camera_make));
        assert_eq!(inspection.exif.camera_model.as_deref(), Some(e.camera_model));
        // Seconds are written to 1/100 s of arc: about 3e-6 degrees.
        assert!((inspection.exif.gps_latitude.unwrap() - e.latitude).abs() < 1e-5);
        assert!((inspection.exif.gps_longitude.unwrap() - e.longitude).abs() < 1e-5);
        assert!(inspection.exif.gps_longitude.unwrap() < 0.0, "W must be negative");
        assert!((inspection.exif.gps_altitude.unwrap() - e.altitude_m).abs() < 0.05);
        Ok(())
    }

    #[test]
    fn png_and_tiff_are_accepted_without_exif() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let scene = navad::sharp_scene(120, 80);
        for (name, bytes, format) in [("a.png", navad::encode_png(&scene)?, "png"), ("a.tif", navad::encode_tiff(&scene)?, "tiff")] {
            let inspection = inspect(&write(&dir, name, &bytes), &ImageLimits::default())?;
            assert_eq!((inspection.format, inspection.width, inspection.height), (format, 120, 80));
            assert_eq!(inspection.exif, ExifSummary::default());
        }
        Ok(())
    }

    #[test]
    fn truncated_files_are_corrupt() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let scene = navad::sharp_scene(120, 80);
        let truncate = |mut bytes: Vec<u8>| {
            bytes.truncate(bytes.len() * 6 / 10);
            bytes
        };
        // Headers intact, pixel data cut: only a full decode notices.
        for (name, bytes, format) in [("a.jpg", navad::truncated_jpeg(320, 240)?, "jpeg"), ("a.png", truncate(navad::encode_png(&scene)?), "png")] {
            let err = inspect(&write(&dir, name, &bytes), &ImageLimits::default()).unwrap_err();
            assert!(matches!(err, ValidationError::Corrupt { format: f, .. } if f == format), "{name}: {err}");
            assert!(err.is_input_fault());
        }
        // The TIFF encoder writes its directory after the pixels, so the cut takes the header.
        let err = inspect(&write(&dir, "a.tif", &truncate(navad::encode_tiff(&scene)?)), &ImageLimits::default()).unwrap_err();
        assert!(matches!(err, ValidationError::BadHeader { format: "tiff", .. }), "{err}");
        Ok(())
    }

    #[test]
    fn huge_header_is_refused_before_decoding() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = write(&dir, "bomb.png", &navad::huge_header_png(100_000, 100_000)?);
        let err = inspect(&path, &ImageLimits::default()).unwrap_err();
        assert!(matches!(err, ValidationError::OverLimits { width: 100_000, height: 100_000, .. }), "{err}");
        assert!(err.to_string().contains("width above the limit of 30000"), "{err}");
        // Within width/height limits but over the pixel budget.
        let path = write(&dir, "wide.png", &navad::huge_header_png(20_000, 20_000)?);
        let err = inspect(&path, &ImageLimits::default()).unwrap_err().to_string();
        assert!(err.contains("400000000 pixels, above the limit of 250000000"), "{err}");
        Ok(())
    }

    #[test]
    fn limits_and_formats() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let text = inspect(&write(&dir, "log.jpg", &navad::text_file()), &ImageLimits::default()).unwrap_err();
        assert!(matches!(text, ValidationError::UnrecognisedFormat(_)), "{text}");
        let empty = inspect(&write(&dir, "empty.jpg", b""), &ImageLimits::default()).unwrap_err();
        assert!(matches!(empty, ValidationError::Empty), "{empty}");
        // GIF is a real image format, recognised and refused by name.
        let gif = inspect(&write(&dir, "a.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"), &ImageLimits::default()).unwrap_err();
        assert!(gif.to_string().contains("image/gif images are not accepted"), "{gif}");
        let small = ImageLimits { max_bytes: 100, ..ImageLimits::default() };
        let big = inspect(&write(&dir, "big.jpg", &navad::sharp_jpeg(64, 64)?), &small).unwrap_err();
        assert!(matches!(big, ValidationError::TooLarge { max: 100, .. }), "{big}");
        let narrow = ImageLimits { max_width: 100, ..ImageLimits::default() };
        let wide = inspect(&write(&dir, "wide.jpg", &navad::sharp_jpeg(101, 10)?), &narrow).unwrap_err();
        assert!(wide.to_string().contains("101x10 pixels: width above the limit of 100"), "{wide}");
        Ok(())
    }
}
