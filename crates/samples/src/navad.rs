//! Navad flight samples with known properties: a sharp aerial-like scene (fields, roads, fine
//! crop texture, mid exposure, no clipping) encoded as JPEG with EXIF, the same scene blurred,
//! a truncated JPEG, and a PNG whose header claims absurd dimensions (a decompression bomb as
//! far as any header-trusting reader is concerned).
//!
//! Everything is deterministic (a hash of the pixel position, no RNG), so a test can state what
//! it expects and a benchmark measures the same bytes every run.

use anyhow::Context;
use exif::experimental::Writer as ExifWriter;
use exif::{Field, In, Rational, Tag, Value};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::tiff::TiffEncoder;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};
use std::io::Cursor;

/// JPEG quality of the samples: high enough that the fine texture survives compression.
pub const JPEG_QUALITY: u8 = 92;

/// Gaussian sigma (pixels) of [`blurred_jpeg`]: wipes out the texture (period 6-10 px) and
/// softens every edge, like a camera out of focus or moving.
pub const BLUR_SIGMA: f32 = 3.0;

/// The EXIF fields written into [`sharp_jpeg`] and [`blurred_jpeg`], so tests can compare what
/// ingestion reads back.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleExif {
    /// `DateTimeOriginal`, in EXIF's own format.
    pub capture_time: &'static str,
    /// Camera make.
    pub camera_make: &'static str,
    /// Camera model.
    pub camera_model: &'static str,
    /// Latitude, decimal degrees (north positive).
    pub latitude: f64,
    /// Longitude, decimal degrees (east positive).
    pub longitude: f64,
    /// Altitude above sea level, metres.
    pub altitude_m: f64,
}

/// EXIF of the samples: a survey flight over Quebec City, west of Greenwich, so the `W`
/// reference must turn into a negative longitude.
pub const SAMPLE_EXIF: SampleExif = SampleExif {
    capture_time: "2024:06:01 10:15:30",
    camera_make: "Navad",
    camera_model: "NV-Survey 24",
    latitude: 46.8125,
    longitude: -71.2075,
    altitude_m: 1250.5,
};

/// Deterministic per-pixel hash in 0..=255 (integer mixing, no RNG).
fn hash(x: u32, y: u32, salt: u32) -> u8 {
    let mut h = x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77) ^ salt.wrapping_mul(0xC2B2_AE3D);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297A_4D39);
    h ^= h >> 15;
    (h & 0xFF) as u8
}

/// The sharp scene: a patchwork of fields (each its own colour and row texture), two roads
/// with hard edges, and a little sensor-like grain. Every channel stays within 35..=215, so
/// nothing clips and the mean luminance sits mid-range.
pub fn sharp_scene(width: u32, height: u32) -> RgbImage {
    let field_size = 48u32;
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x / field_size, y / field_size);
        let field = hash(fx, fy, 1);
        // Base colour of the field: greens, browns and ochres of farmland.
        let base = [90 + (field % 50) as i32, 105 + (hash(fx, fy, 2) % 45) as i32, 60 + (hash(fx, fy, 3) % 40) as i32];
        // Crop rows: a period of 6 to 10 px, horizontal or vertical by field.
        let period = 6 + (field % 5) as u32;
        let along = if field.is_multiple_of(2) { x } else { y };
        let phase = (along % period) as f32 / period as f32;
        let rows = ((phase * std::f32::consts::TAU).sin() * 28.0) as i32;
        let grain = hash(x, y, 7) as i32 / 32 - 4; // -4..=3
        let mut px = [0i32; 3];
        for (c, value) in px.iter_mut().enumerate() {
            *value = base[c] + rows + grain;
        }
        // Roads: a bright diagonal and a dark straight one, 5 px wide, with hard edges.
        let on_diagonal = (x as i64 - y as i64 - (width as i64 / 5)).abs() < 3;
        let on_straight = (y as i64 - (2 * height as i64 / 3)).abs() < 3;
        if on_diagonal {
            px = [200, 196, 188];
        } else if on_straight {
            px = [45, 45, 48];
        }
        Rgb(px.map(|v| v.clamp(35, 215) as u8))
    })
}

/// EXIF block (TIFF structure, without the `Exif\0\0` JPEG prefix the encoder adds) holding
/// [`SAMPLE_EXIF`], written with kamadak-exif's writer.
pub fn sample_exif_block() -> anyhow::Result<Vec<u8>> {
    let e = &SAMPLE_EXIF;
    let ascii = |s: &str| Value::Ascii(vec![s.as_bytes().to_vec()]);
    let dms = |degrees: f64| {
        let d = degrees.abs();
        let whole = d.trunc();
        let minutes = ((d - whole) * 60.0).trunc();
        let seconds_centi = (((d - whole) * 60.0 - minutes) * 60.0 * 100.0).round() as u32;
        Value::Rational(vec![
            Rational { num: whole as u32, denom: 1 },
            Rational { num: minutes as u32, denom: 1 },
            Rational { num: seconds_centi, denom: 100 },
        ])
    };
    let field = |tag, value| Field { tag, ifd_num: In::PRIMARY, value };
    let fields = [
        field(Tag::Make, ascii(e.camera_make)),
        field(Tag::Model, ascii(e.camera_model)),
        field(Tag::DateTimeOriginal, ascii(e.capture_time)),
        field(Tag::GPSLatitudeRef, ascii(if e.latitude >= 0.0 { "N" } else { "S" })),
        field(Tag::GPSLatitude, dms(e.latitude)),
        field(Tag::GPSLongitudeRef, ascii(if e.longitude >= 0.0 { "E" } else { "W" })),
        field(Tag::GPSLongitude, dms(e.longitude)),
        field(Tag::GPSAltitudeRef, Value::Byte(vec![u8::from(e.altitude_m < 0.0)])),
        field(Tag::GPSAltitude, Value::Rational(vec![Rational { num: (e.altitude_m.abs() * 10.0).round() as u32, denom: 10 }])),
    ];
    let mut writer = ExifWriter::new();
    for f in &fields {
        writer.push_field(f);
    }
    let mut out = Cursor::new(Vec::new());
    writer.write(&mut out, false).context("writing the sample EXIF block")?;
    Ok(out.into_inner())
}

/// Encodes an RGB image as JPEG, with an EXIF block when given.
pub fn encode_jpeg(image: &RgbImage, exif: Option<Vec<u8>>) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY);
    if let Some(exif) = exif {
        encoder.set_exif_metadata(exif).map_err(|e| anyhow::anyhow!("JPEG encoder refused EXIF: {e}"))?;
    }
    encoder.write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgb8)?;
    Ok(out)
}

/// Encodes an RGB image as PNG.
pub fn encode_png(image: &RgbImage) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out).write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgb8)?;
    Ok(out)
}

/// Encodes an RGB image as (uncompressed) TIFF.
pub fn encode_tiff(image: &RgbImage) -> anyhow::Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    TiffEncoder::new(&mut out).write_image(image.as_raw(), image.width(), image.height(), ExtendedColorType::Rgb8)?;
    Ok(out.into_inner())
}

/// A sharp navad flight image: [`sharp_scene`] as JPEG with [`SAMPLE_EXIF`].
pub fn sharp_jpeg(width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    encode_jpeg(&sharp_scene(width, height), Some(sample_exif_block()?))
}

/// The same scene out of focus: [`sharp_scene`] through a Gaussian blur of [`BLUR_SIGMA`],
/// as JPEG with the same EXIF.
pub fn blurred_jpeg(width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let blurred = image::imageops::blur(&sharp_scene(width, height), BLUR_SIGMA);
    encode_jpeg(&blurred, Some(sample_exif_block()?))
}

/// A JPEG cut off after 60 % of its bytes (an interrupted upload): the header is intact, the
/// entropy-coded data and the end-of-image marker are missing.
pub fn truncated_jpeg(width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    let mut bytes = sharp_jpeg(width, height)?;
    bytes.truncate(bytes.len() * 6 / 10);
    Ok(bytes)
}

/// A tiny valid PNG whose IHDR is rewritten (CRC included, so the chunk still checks out) to
/// claim `claimed_width` x `claimed_height` pixels. A reader trusting the header would
/// allocate `claimed_width * claimed_height * 3` bytes before finding out the data is tiny.
pub fn huge_header_png(claimed_width: u32, claimed_height: u32) -> anyhow::Result<Vec<u8>> {
    let mut bytes = encode_png(&sharp_scene(16, 16))?;
    // PNG layout: 8-byte signature, then IHDR: length (4) "IHDR" (4) width (4) height (4)
    // depth, colour, compression, filter, interlace (5) and CRC (4) over type + data.
    anyhow::ensure!(&bytes[12..16] == b"IHDR", "the encoder did not put IHDR first");
    bytes[16..20].copy_from_slice(&claimed_width.to_be_bytes());
    bytes[20..24].copy_from_slice(&claimed_height.to_be_bytes());
    let crc = crc32fast::hash(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    Ok(bytes)
}

/// Plain text, for "a text file named `.jpg`".
pub fn text_file() -> Vec<u8> {
    b"flight log 2024-06-01: this is not an image\n".to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GenericImageView, ImageReader};

    #[test]
    fn sharp_scene_is_mid_exposed_and_unclipped() {
        let scene = sharp_scene(200, 150);
        let luma = image::DynamicImage::ImageRgb8(scene).to_luma8();
        let mean = luma.pixels().map(|p| p.0[0] as f64).sum::<f64>() / luma.len() as f64;
        assert!((70.0..170.0).contains(&mean), "mean luminance {mean}");
        assert!(luma.pixels().all(|p| p.0[0] > 0 && p.0[0] < 255));
    }

    #[test]
    fn jpeg_round_trips_with_exif() -> anyhow::Result<()> {
        let bytes = sharp_jpeg(320, 240)?;
        let decoded = image::load_from_memory(&bytes)?;
        assert_eq!(decoded.dimensions(), (320, 240));
        let exif = exif::Reader::new().read_from_container(&mut Cursor::new(&bytes))?;
        let make = exif.get_field(Tag::Make, In::PRIMARY).expect("Make").display_value().to_string();
        assert!(make.contains("Navad"), "{make}");
        Ok(())
    }

    #[test]
    fn huge_header_png_claims_the_given_size_with_a_valid_crc() -> anyhow::Result<()> {
        let bytes = huge_header_png(100_000, 90_000)?;
        let mut reader = ImageReader::new(Cursor::new(&bytes)).with_guessed_format()?;
        reader.no_limits();
        assert_eq!(reader.into_dimensions()?, (100_000, 90_000));
        Ok(())
    }

    #[test]
    fn truncated_jpeg_keeps_its_header() -> anyhow::Result<()> {
        let bytes = truncated_jpeg(320, 240)?;
        assert_eq!(&bytes[..2], &[0xFF, 0xD8]);
        assert_ne!(&bytes[bytes.len() - 2..], &[0xFF, 0xD9]);
        Ok(())
    }
}
