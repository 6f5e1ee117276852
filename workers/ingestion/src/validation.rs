//! Validation of one image file on local disk, in the order that keeps hostile input cheap:
//! size, then the format from magic bytes, then the dimensions from the header alone (checked
//! against [`ImageLimits`] before a single pixel buffer is allocated: decompression bombs), then
//! one full decode under allocation limits to prove the data is complete, then SHA-256 and
//! EXIF. Headers and pixels are read through [`rasters`], the fleet's one decoding path (TIFF
//! through GDAL, JPEG and PNG through `image`), except that JPEGs are decoded strictly here.
//! Pure and synchronous: the activity runs it in `spawn_blocking`, and tests call it on files
//! directly.

use contracts::automation::{CaptureTimeSource, ExifSummary, ImageLimits};
use image::{ImageError, ImageFormat, Limits};
use rasters::RasterError;
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
    /// A known format encoded in a way this pipeline cannot decode: a TIFF compression without
    /// a codec, floating-point or signed TIFF samples.
    #[error("unsupported {format} encoding: {reason}")]
    UnsupportedEncoding {
        /// Detected format.
        format: &'static str,
        /// What is not supported.
        reason: String,
    },
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
    /// The pixel data does not decode: truncated or corrupt (for a TIFF, the message names the
    /// tile or strip and the codec's complaint).
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

    let (image_format, format) = accepted_format(rasters::guess_format(path)?, path)?;

    // Header only: `image`'s decoders parse the header in their constructor and stop there;
    // GDAL reads the TIFF's first directory.
    let (width, height) = rasters::dimensions(path, image_format).map_err(|e| header_error(format, e))?;
    check_dimensions(width, height, limits)?;

    decode_fully(path, format, width, height)?;

    Ok(Inspection { format, width, height, size_bytes, sha256: sha256_file(path)?, exif: read_exif(path) })
}

fn accepted_format(format: Option<ImageFormat>, path: &Path) -> Result<(ImageFormat, &'static str), ValidationError> {
    match format {
        Some(ImageFormat::Jpeg) => Ok((ImageFormat::Jpeg, "jpeg")),
        Some(ImageFormat::Png) => Ok((ImageFormat::Png, "png")),
        Some(ImageFormat::Tiff) => Ok((ImageFormat::Tiff, "tiff")),
        Some(other) => Err(ValidationError::UnsupportedFormat(other.to_mime_type().to_owned())),
        None => {
            let mut head = [0u8; 8];
            let n = File::open(path)?.read(&mut head)?;
            Err(ValidationError::UnrecognisedFormat(hex::encode(&head[..n])))
        }
    }
}

/// A failure to read the header: unreadable header (or TIFF directory), or a TIFF encoding
/// without decoder.
fn header_error(format: &'static str, error: RasterError) -> ValidationError {
    match error {
        RasterError::Io(e) => ValidationError::Io(e),
        RasterError::Header(reason) => ValidationError::BadHeader { format, reason },
        e @ (RasterError::Codec(_) | RasterError::Unsupported(_)) => ValidationError::UnsupportedEncoding { format, reason: e.to_string() },
        e => ValidationError::BadHeader { format, reason: e.to_string() },
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
    let mut image_limits = Limits::default();
    image_limits.max_image_width = Some(width);
    image_limits.max_image_height = Some(height);
    image_limits.max_alloc = Some(decode_budget(width, height));
    match rasters::decode(path, &image_limits) {
        Ok(decoded) if (decoded.width(), decoded.height()) == (width, height) => Ok(()),
        Ok(decoded) => Err(corrupt(format!("decoded {}x{} pixels where the header says {width}x{height}", decoded.width(), decoded.height()))),
        Err(RasterError::Image(ImageError::Limits(e))) => Err(ValidationError::OverLimits { width, height, reason: e.to_string() }),
        Err(RasterError::Limits { reason, .. }) => Err(ValidationError::OverLimits { width, height, reason }),
        Err(RasterError::Image(ImageError::IoError(e))) if e.kind() != std::io::ErrorKind::UnexpectedEof => Err(ValidationError::Io(e)),
        Err(RasterError::Io(e)) => Err(ValidationError::Io(e)),
        Err(e @ (RasterError::Header(_) | RasterError::Codec(_) | RasterError::Unsupported(_))) => Err(header_error(format, e)),
        Err(RasterError::Image(e)) => Err(corrupt(e.to_string())),
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
    let (captured_at, capture_time_source) = capture_time(exif).unzip();
    ExifSummary {
        capture_time: text(Tag::DateTimeOriginal),
        captured_at,
        capture_time_source,
        camera_make: text(Tag::Make),
        camera_model: text(Tag::Model),
        gps_latitude: coordinate(Tag::GPSLatitude, Tag::GPSLatitudeRef, "S"),
        gps_longitude: coordinate(Tag::GPSLongitude, Tag::GPSLongitudeRef, "W"),
        gps_altitude: altitude,
    }
}

/// The capture time of an EXIF block in RFC 3339 form (see
/// [`ExifSummary::captured_at`]) and the tags it was read from: `DateTimeOriginal` with
/// `SubSecTimeOriginal` and `OffsetTimeOriginal`; when that is absent or not a valid date-time
/// (cameras write `0000:00:00 00:00:00` or blanks for "unknown"), IFD0 `DateTime` with
/// `SubSecTime` and `OffsetTime`. Tags of one triple are never mixed with the other's.
pub fn capture_time(exif: &exif::Exif) -> Option<(String, CaptureTimeSource)> {
    use exif::{In, Tag, Value};
    let ascii = |tag| match exif.get_field(tag, In::PRIMARY).map(|f| &f.value) {
        Some(Value::Ascii(parts)) => parts.first().map(Vec::as_slice),
        _ => None,
    };
    [
        (Tag::DateTimeOriginal, Tag::SubSecTimeOriginal, Tag::OffsetTimeOriginal, CaptureTimeSource::DateTimeOriginal),
        (Tag::DateTime, Tag::SubSecTime, Tag::OffsetTime, CaptureTimeSource::DateTime),
    ]
    .into_iter()
    .find_map(|(time, subsec, offset, source)| Some((rfc3339(ascii(time)?, ascii(subsec), ascii(offset))?, source)))
}

/// `YYYY:MM:DD HH:MM:SS` (kamadak-exif parses it; the ranges are checked here) with the
/// sub-second digits as written and a `+HH:MM` offset, as RFC 3339. An invalid date-time gives
/// `None`; invalid sub-seconds or offset are left out (the date-time stands without them).
fn rfc3339(date_time: &[u8], subsec: Option<&[u8]>, offset: Option<&[u8]>) -> Option<String> {
    let trim = |bytes: &[u8]| -> Vec<u8> {
        let end = bytes.iter().rposition(|b| !matches!(b, b'\0' | b' ')).map_or(0, |i| i + 1);
        bytes[..end].to_vec()
    };
    let mut parsed = exif::DateTime::from_ascii(&trim(date_time)).ok()?;
    let month = time::Month::try_from(parsed.month).ok()?;
    time::Date::from_calendar_date(i32::from(parsed.year), month, parsed.day).ok()?;
    // A leap second (:60) is valid in both EXIF and RFC 3339.
    if parsed.hour > 23 || parsed.minute > 59 || parsed.second > 60 {
        return None;
    }
    let mut text = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", parsed.year, parsed.month, parsed.day, parsed.hour, parsed.minute, parsed.second);
    if let Some(digits) = subsec.map(trim).filter(|d| !d.is_empty()) {
        if digits.iter().all(u8::is_ascii_digit) {
            text.push('.');
            text.push_str(&String::from_utf8_lossy(&digits));
        } else {
            tracing::debug!(subsec = %String::from_utf8_lossy(&digits), "sub-second tag is not digits: left out");
        }
    }
    if let Some(offset) = offset.map(trim) {
        // `+HH:MM` or `-HH:MM` (blanks mean unknown); RFC 3339 wants hours 00-23.
        let number = |at: usize| std::str::from_utf8(offset.get(at..at + 2)?).ok()?.parse::<u8>().ok();
        let valid = offset.len() == 6
            && parsed.parse_offset(&offset).is_ok()
            && number(1).is_some_and(|hours| hours <= 23)
            && number(4).is_some_and(|minutes| minutes <= 59);
        if valid {
            text.push_str(&String::from_utf8_lossy(&offset));
        } else {
            tracing::debug!(offset = %String::from_utf8_lossy(&offset), "offset tag is not +HH:MM: left out");
        }
    }
    Some(text)
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
        assert_eq!(inspection.exif.captured_at.as_deref(), Some("2024-06-01T10:15:30"), "no sub-seconds, no offset in the sample");
        assert_eq!(inspection.exif.capture_time_source, Some(CaptureTimeSource::DateTimeOriginal));
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

    #[test]
    fn tiffs_written_by_gdal_are_valid() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        for (variant, path) in samples::navad_tiff::write_variants(dir.path(), &navad::sharp_scene(150, 100))? {
            let inspection = inspect(&path, &ImageLimits::default()).map_err(|e| anyhow::anyhow!("{}: {e}", variant.name))?;
            assert_eq!((inspection.format, inspection.width, inspection.height), ("tiff", 150, 100), "{}", variant.name);
        }
        Ok(())
    }

    #[test]
    fn tiff_failures_name_the_part_that_failed() -> anyhow::Result<()> {
        use samples::navad_tiff::{self as tiffs, variant};
        let dir = tempfile::tempdir()?;
        let source = tiffs::write_source(dir.path(), &navad::sharp_scene(150, 100))?;
        let tiled = std::fs::read(tiffs::write_variant(&source, variant("ycbcr-jpeg-tiles"), dir.path())?)?;
        let striped = std::fs::read(tiffs::write_variant(&source, variant("lzw-strips"), dir.path())?)?;

        // 64x64 tiles on 150x100: 3 tiles a row; tile 4 is the second of the second row.
        let garbled = write(&dir, "garbled.tif", &tiffs::with_garbled_block(&tiled, 4)?);
        let err = inspect(&garbled, &ImageLimits::default()).unwrap_err();
        assert!(matches!(err, ValidationError::Corrupt { format: "tiff", .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("corrupt or truncated tiff data: cannot decode tile 4 (columns 64..128, rows 64..100), compression YCbCr JPEG: "),
            "{text}"
        );
        assert!(text.contains("JPEG"), "the codec's words: {text}");

        let unknown = write(&dir, "unknown.tif", &tiffs::with_compression_code(&striped, 60_001)?);
        let err = inspect(&unknown, &ImageLimits::default()).unwrap_err();
        assert!(matches!(err, ValidationError::UnsupportedEncoding { format: "tiff", .. }), "{err}");
        assert!(err.to_string().contains("no TIFF codec for this file's compression"), "{err}");

        let broken = write(&dir, "broken.tif", b"II*\0\x08\0\0\0\xff");
        let err = inspect(&broken, &ImageLimits::default()).unwrap_err();
        assert!(matches!(err, ValidationError::BadHeader { format: "tiff", .. }), "{err}");

        let narrow = ImageLimits { max_width: 149, ..ImageLimits::default() };
        let err = inspect(&write(&dir, "wide.tif", &striped), &narrow).unwrap_err();
        assert!(err.to_string().contains("150x100 pixels: width above the limit of 149"), "refused from GDAL's header: {err}");
        assert!(err.is_input_fault());
        Ok(())
    }

    /// `(file, exiftool assignments)`: every combination of the capture-time tags.
    const EXIF_CASES: &[(&str, &[&str])] = &[
        ("full.jpg", &["-DateTimeOriginal=2024:06:01 10:15:30", "-SubSecTimeOriginal=123", "-OffsetTimeOriginal=+02:00"]),
        ("leading-zero.jpg", &["-DateTimeOriginal=2023:12:31 23:59:59", "-SubSecTimeOriginal=050", "-OffsetTimeOriginal=-05:30"]),
        ("no-offset.jpg", &["-DateTimeOriginal=2024:02:29 08:00:01", "-SubSecTimeOriginal=7"]),
        ("offset-only.jpg", &["-DateTimeOriginal=2024:06:01 10:15:30", "-OffsetTimeOriginal=+00:00"]),
        ("seconds-only.jpg", &["-DateTimeOriginal=2024:06:01 10:15:30"]),
        (
            "original-wins.jpg",
            &["-DateTimeOriginal=2024:06:01 10:15:30", "-SubSecTimeOriginal=5", "-ModifyDate=2025:01:01 00:00:00", "-SubSecTime=999"],
        ),
        ("fallback.jpg", &["-ModifyDate=2023:01:02 03:04:05", "-SubSecTime=45", "-OffsetTime=+09:00"]),
        ("fallback-plain.tif", &["-ModifyDate=2022:07:14 12:00:00"]),
        ("no-time.jpg", &["-Make=Navad"]),
    ];

    #[test]
    fn capture_times_match_exiftools_reading_of_the_same_files() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let scene = navad::sharp_scene(64, 48);
        let mut sources = std::collections::BTreeSet::new();
        for (name, assignments) in EXIF_CASES {
            let bytes = if name.ends_with(".tif") { navad::encode_tiff(&scene)? } else { navad::encode_jpeg(&scene, None)? };
            let path = write(&dir, name, &bytes);
            samples::exiftool::write_tags(&path, assignments)?;
            let expected = samples::exiftool::capture_time(&path)?;
            let exif = read_exif(&path);
            assert_eq!(exif.capture_time, expected.date_time_original, "{name}: DateTimeOriginal as written");
            assert_eq!(exif.captured_at, expected.rfc3339, "{name}: the capture time");
            let source = exif.capture_time_source.map(|s| serde_json::to_value(s).unwrap());
            assert_eq!(source, expected.source.map(serde_json::Value::from), "{name}: where it came from");
            sources.insert(expected.source);
            // And through the whole validation.
            assert_eq!(inspect(&path, &ImageLimits::default())?.exif, exif, "{name}");
        }
        // The cases cover both sources and a file without any time.
        assert_eq!(sources.into_iter().collect::<Vec<_>>(), [None, Some("DateTime"), Some("DateTimeOriginal")]);
        Ok(())
    }

    #[test]
    fn invalid_capture_times_are_skipped_or_trimmed() {
        let at = |time: &[u8], subsec: Option<&[u8]>, offset: Option<&[u8]>| rfc3339(time, subsec, offset);
        // "Unknown" as cameras write it, and impossible dates: no capture time.
        assert_eq!(at(b"0000:00:00 00:00:00", None, None), None);
        assert_eq!(at(b"    :  :     :  :  ", None, None), None);
        assert_eq!(at(b"2023:02:29 10:00:00", None, None), None);
        assert_eq!(at(b"2024:06:01 24:00:00", None, None), None);
        // Trailing NULs and spaces, a leap second, sub-seconds of any length.
        assert_eq!(at(b"2016:12:31 23:59:60\0", Some(b"000001 "), None).as_deref(), Some("2016-12-31T23:59:60.000001"));
        // A malformed offset or sub-second is left out, the date-time stands.
        assert_eq!(at(b"2024:06:01 10:15:30", Some(b"12a"), Some(b"+25:00")).as_deref(), Some("2024-06-01T10:15:30"));
        assert_eq!(at(b"2024:06:01 10:15:30", None, Some(b"   :  ")).as_deref(), Some("2024-06-01T10:15:30"));
        assert_eq!(at(b"2024:06:01 10:15:30", None, Some(b"-03:30")).as_deref(), Some("2024-06-01T10:15:30-03:30"));
    }

    #[test]
    fn a_zero_date_time_original_falls_back_to_ifd0() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = write(&dir, "zero.jpg", &navad::encode_jpeg(&navad::sharp_scene(32, 32), None)?);
        // `#=` writes the value as is: ExifTool refuses month 00 otherwise.
        samples::exiftool::write_tags(&path, &["-DateTimeOriginal#=0000:00:00 00:00:00", "-ModifyDate=2021:05:06 07:08:09"])?;
        let exif = read_exif(&path);
        assert_eq!(exif.capture_time.as_deref(), Some("0000:00:00 00:00:00"), "kept as written");
        assert_eq!(exif.captured_at.as_deref(), Some("2021-05-06T07:08:09"));
        assert_eq!(exif.capture_time_source, Some(CaptureTimeSource::DateTime));
        Ok(())
    }
}
