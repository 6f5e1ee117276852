//! TIFF through GDAL: the header (first IFD) alone, and every pixel as 8-bit RGB or luma.
//!
//! What a decoded TIFF becomes:
//! - **bands**: a single band with an RGB colour table (palette) becomes RGB; one or two bands
//!   become luma (band 1; a second band is alpha, dropped); three or more become RGB from the
//!   bands GDAL interprets as red, green and blue, or bands 1-3 when it names none of them (as
//!   `gdal_translate -of PNG -b 1 -b 2 -b 3` would). Alpha and extra bands are dropped: the
//!   workers measure the picture, and `image` dropped alpha the same way when it turned RGBA
//!   into luma. YCbCr is converted to RGB by GDAL (libjpeg's conversion).
//! - **sample depth**: 8-bit samples are kept as they are. Deeper samples are scaled linearly
//!   from their nominal range to 0..=255 and rounded to nearest: `0..=65535` for 16-bit, or
//!   `0..=2^n-1` when the file declares `n` bits per sample (GDAL's `NBITS`, e.g. 12-bit
//!   sensors), exactly what `gdal_translate -ot Byte -scale 0 65535 0 255` (`-scale 0 4095 0
//!   255` for 12 bits) writes. The nominal range, not the band's actual minimum and maximum:
//!   a stretch to the actual range would hide an under- or over-exposed frame from the
//!   exposure metrics. Samples of fewer than 8 bits (`NBITS` 1 to 7, no palette) are scaled up
//!   the same way.
//! - **not decoded** ([`RasterError::Unsupported`]): signed, 32-bit and floating-point samples
//!   (no nominal range to scale from), palettes that are not RGB, and bands GDAL presents as
//!   another colour model (cyan, magenta, yellow, black, hue, Y of YCbCr) rather than
//!   converting them: shown as RGB they would be wrong colours. (GDAL itself converts YCbCr and
//!   CMYK TIFFs to RGB, as libtiff's RGBA interface does.)
//!
//! Only the first image of a multi-page TIFF is read (the full-resolution one of a COG).
//! Pixels are read block by block (GDAL's tiles or strips), so an error names the block that
//! failed, and memory is the 8-bit output plus one block per band.

use crate::{BlockKind, BlockRef, RasterError, cpl};
use gdal::raster::{ColorInterpretation, GdalDataType, PaletteInterpretation, RasterBand};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags, Metadata};
use image::{DynamicImage, GrayImage, Limits, RgbImage};
use std::path::Path;

/// What the header (first IFD) of a TIFF says, read by GDAL without decoding a pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiffHeader {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Number of bands (samples per pixel, as GDAL presents them: YCbCr as three RGB bands).
    pub bands: usize,
    /// GDAL's name of the sample type of band 1 (`Byte`, `UInt16`, `Float32`, ...).
    pub sample_type: String,
    /// Significant bits per sample (GDAL's `NBITS` when the file declares it, else the
    /// type's size).
    pub bits_per_sample: u32,
    /// GDAL's name of the compression (`LZW`, `DEFLATE`, `JPEG`, `YCbCr JPEG`, ...), `none`
    /// when uncompressed.
    pub compression: String,
    /// Width and height of one block (a tile, or a strip the full width of the image).
    pub block_size: (u32, u32),
}

fn open(path: &Path) -> Result<Dataset, RasterError> {
    // A file that cannot be opened at all is a local fault (retried), not a bad header.
    std::fs::File::open(path)?;
    let options = DatasetOptions {
        open_flags: GdalOpenFlags::GDAL_OF_RASTER | GdalOpenFlags::GDAL_OF_READONLY | GdalOpenFlags::GDAL_OF_VERBOSE_ERROR,
        allowed_drivers: Some(&["GTiff"]),
        ..DatasetOptions::default()
    };
    let (opened, messages) = cpl::catch(|| Dataset::open_ex(path, options));
    opened.map_err(|e| {
        let reason = cpl::reason(&messages, Some(&e), &path.to_string_lossy());
        if messages.iter().any(|m| m.contains("missing codec")) { RasterError::Codec(reason) } else { RasterError::Header(reason) }
    })
}

fn band<'d>(dataset: &'d Dataset, index: usize, path: &Path) -> Result<RasterBand<'d>, RasterError> {
    let (band, messages) = cpl::catch(|| dataset.rasterband(index));
    band.map_err(|e| RasterError::Header(cpl::reason(&messages, Some(&e), &path.to_string_lossy())))
}

fn describe(dataset: &Dataset, path: &Path) -> Result<TiffHeader, RasterError> {
    let (width, height) = dataset.raster_size();
    let to_u32 = |v: usize, what: &str| u32::try_from(v).map_err(|_| RasterError::Header(format!("a {what} of {v} pixels")));
    let (width, height) = (to_u32(width, "width")?, to_u32(height, "height")?);
    let bands = dataset.raster_count();
    if bands == 0 {
        return Err(RasterError::Unsupported("no raster band".to_owned()));
    }
    let first = band(dataset, 1, path)?;
    let (block_width, block_height) = first.block_size();
    Ok(TiffHeader {
        width,
        height,
        bands,
        sample_type: first.band_type().name(),
        bits_per_sample: bits_per_sample(&first),
        compression: dataset.metadata_item("COMPRESSION", "IMAGE_STRUCTURE").unwrap_or_else(|| "none".to_owned()),
        block_size: (to_u32(block_width, "block width")?, to_u32(block_height, "block height")?),
    })
}

fn bits_per_sample(band: &RasterBand<'_>) -> u32 {
    let size = u32::from(band.band_type().bits());
    band.metadata_item("NBITS", "IMAGE_STRUCTURE").and_then(|n| n.parse::<u32>().ok()).filter(|&n| n >= 1 && n <= size).unwrap_or(size)
}

/// Reads the header (first IFD) of the TIFF at `path` without decoding a pixel.
pub fn header(path: &Path) -> Result<TiffHeader, RasterError> {
    let dataset = open(path)?;
    describe(&dataset, path)
}

/// How one output channel is made from one band's samples.
enum Samples {
    /// 8-bit samples as they are.
    Byte,
    /// Samples of fewer than 8 bits, nominal range `0..=max`, scaled to `0..=255`.
    ScaledByte { max: u32 },
    /// 9- to 16-bit samples, nominal range `0..=max`, scaled to `0..=255`.
    Scaled16 { max: u32 },
}

impl Samples {
    fn of(band: &RasterBand<'_>, index: usize) -> Result<Self, RasterError> {
        let bits = bits_per_sample(band);
        // `bits` is at most the type's size (8 or 16 in the arms that use it).
        let max = || (1u32 << bits) - 1;
        match band.band_type() {
            GdalDataType::UInt8 if bits == 8 => Ok(Samples::Byte),
            GdalDataType::UInt8 => Ok(Samples::ScaledByte { max: max() }),
            GdalDataType::UInt16 => Ok(Samples::Scaled16 { max: max() }),
            other => Err(RasterError::Unsupported(format!("band {index} has {} samples (8- and 16-bit unsigned integers only)", other.name()))),
        }
    }
}

/// `value` of `0..=max` on `0..=255`, rounded to nearest (no exact halves exist for the
/// ranges used: `2^n - 1` is odd).
fn scale(value: u32, max: u32) -> u8 {
    let value = u64::from(value.min(max));
    let max = u64::from(max);
    ((value * 2 * 255 + max) / (2 * max)) as u8
}

/// Which bands make the output, and how.
enum Plan {
    /// Luma from one band.
    Gray(usize),
    /// RGB from three bands.
    Rgb([usize; 3]),
    /// RGB through the colour table of band 1.
    Palette(Vec<[u8; 3]>),
}

impl Plan {
    fn of(dataset: &Dataset, bands: usize, path: &Path) -> Result<Self, RasterError> {
        let first = band(dataset, 1, path)?;
        if first.color_interpretation() == ColorInterpretation::PaletteIndex
            && let Some(table) = first.color_table()
        {
            if table.palette_interpretation() != PaletteInterpretation::Rgba {
                return Err(RasterError::Unsupported(format!("a {:?} colour table (RGB palettes only)", table.palette_interpretation())));
            }
            let entries = (0..table.entry_count())
                .map(|i| table.entry_as_rgb(i).map(|e| [e.r, e.g, e.b].map(|c| c.clamp(0, 255) as u8)).unwrap_or([0, 0, 0]))
                .collect();
            return Ok(Plan::Palette(entries));
        }
        if bands < 3 {
            return Ok(Plan::Gray(1));
        }
        let mut interps = Vec::with_capacity(bands);
        for index in 1..=bands {
            interps.push(band(dataset, index, path)?.color_interpretation());
        }
        let find = |wanted: ColorInterpretation| interps.iter().position(|c| *c == wanted).map(|i| i + 1);
        Ok(match (find(ColorInterpretation::RedBand), find(ColorInterpretation::GreenBand), find(ColorInterpretation::BlueBand)) {
            (Some(r), Some(g), Some(b)) => Plan::Rgb([r, g, b]),
            // Bands of another colour model that GDAL left unconverted: bands 1-3 are not red,
            // green and blue.
            _ if interps.iter().any(|c| {
                matches!(
                    c,
                    ColorInterpretation::CyanBand
                        | ColorInterpretation::MagentaBand
                        | ColorInterpretation::YellowBand
                        | ColorInterpretation::BlackBand
                        | ColorInterpretation::HueBand
                        | ColorInterpretation::YCbCrSpaceYBand
                )
            }) =>
            {
                let names: Vec<String> = interps.iter().map(|c| c.name()).collect();
                return Err(RasterError::Unsupported(format!("bands interpreted as {} (RGB, gray or an RGB palette only)", names.join(", "))));
            }
            _ => Plan::Rgb([1, 2, 3]),
        })
    }

    fn bands(&self) -> Vec<usize> {
        match self {
            Plan::Gray(band) => vec![*band],
            Plan::Rgb(bands) => bands.to_vec(),
            Plan::Palette(_) => vec![1],
        }
    }

    fn channels(&self) -> usize {
        if matches!(self, Plan::Gray(_)) { 1 } else { 3 }
    }
}

/// Decodes every pixel of the TIFF at `path` into 8-bit RGB or luma (see the module docs),
/// refusing before allocating when the size breaks `limits` (width, height, and the bytes of
/// the output plus one block per band against `max_alloc`).
pub fn decode(path: &Path, limits: &Limits) -> Result<DynamicImage, RasterError> {
    let dataset = open(path)?;
    let header = describe(&dataset, path)?;
    let (width, height) = (header.width, header.height);
    let over = |reason: String| Err(RasterError::Limits { width, height, reason });
    if width == 0 || height == 0 {
        return over("an image needs at least one pixel each way".to_owned());
    }
    if let Some(max) = limits.max_image_width.filter(|&max| width > max) {
        return over(format!("width above the limit of {max} pixels"));
    }
    if let Some(max) = limits.max_image_height.filter(|&max| height > max) {
        return over(format!("height above the limit of {max} pixels"));
    }

    let plan = Plan::of(&dataset, header.bands, path)?;
    let sources = plan.bands();
    let mut bands = Vec::with_capacity(sources.len());
    for &index in &sources {
        let band = band(&dataset, index, path)?;
        if band.block_size() != (header.block_size.0 as usize, header.block_size.1 as usize) {
            return Err(RasterError::Unsupported(format!("band {index} has blocks of another size than band 1")));
        }
        let samples = Samples::of(&band, index)?;
        bands.push((index, band, samples));
    }

    let channels = plan.channels();
    let (block_width, block_height) = (header.block_size.0 as usize, header.block_size.1 as usize);
    let output = width as u64 * height as u64 * channels as u64;
    let needed = output + (block_width * block_height * 2 * bands.len()) as u64;
    if let Some(max) = limits.max_alloc.filter(|&max| needed > max) {
        return over(format!("decoding needs {needed} bytes, above the limit of {max} bytes"));
    }
    let mut pixels = vec![0u8; output as usize];

    let (width, height) = (width as usize, height as usize);
    let (blocks_x, blocks_y) = (width.div_ceil(block_width), height.div_ceil(block_height));
    let separate = dataset.metadata_item("INTERLEAVE", "IMAGE_STRUCTURE").is_some_and(|i| i.eq_ignore_ascii_case("BAND"));
    let path_text = path.to_string_lossy();
    for by in 0..blocks_y {
        for bx in 0..blocks_x {
            let (x0, y0) = (bx * block_width, by * block_height);
            let (w, h) = (block_width.min(width - x0), block_height.min(height - y0));
            for (channel, (index, band, samples)) in bands.iter().enumerate() {
                let fail = |error: gdal::errors::GdalError, messages: Vec<String>| {
                    let tiled = blocks_x > 1 || messages.iter().any(|m| m.contains("Tile"));
                    RasterError::Block {
                        block: BlockRef {
                            kind: if tiled { BlockKind::Tile } else { BlockKind::Strip },
                            index: (by * blocks_x + bx) as u64,
                            columns: (x0 as u32, (x0 + w) as u32),
                            rows: (y0 as u32, (y0 + h) as u32),
                        },
                        band: separate.then_some(*index),
                        compression: header.compression.clone(),
                        reason: cpl::reason(&messages, Some(&error), &path_text),
                    }
                };
                // Rows of the block, then the channel's byte for each pixel of a row.
                let mut put = |row: usize, values: &mut dyn Iterator<Item = u8>| {
                    let start = ((y0 + row) * width + x0) * channels;
                    for (pixel, value) in pixels[start..start + w * channels].chunks_exact_mut(channels).zip(values) {
                        match &plan {
                            Plan::Palette(table) => pixel.copy_from_slice(&table.get(usize::from(value)).copied().unwrap_or([0, 0, 0])),
                            _ => pixel[channel] = value,
                        }
                    }
                };
                let read = |band: &RasterBand<'_>| {
                    let (block, messages) = cpl::catch(|| band.read_block::<u8>((bx, by)));
                    block.map_err(|e| fail(e, messages))
                };
                match *samples {
                    Samples::Byte => {
                        let block = read(band)?;
                        for (row, data) in block.data().chunks_exact(block_width).take(h).enumerate() {
                            put(row, &mut data[..w].iter().copied());
                        }
                    }
                    Samples::ScaledByte { max } => {
                        let block = read(band)?;
                        for (row, data) in block.data().chunks_exact(block_width).take(h).enumerate() {
                            put(row, &mut data[..w].iter().map(|&v| scale(u32::from(v), max)));
                        }
                    }
                    Samples::Scaled16 { max } => {
                        let (block, messages) = cpl::catch(|| band.read_block::<u16>((bx, by)));
                        let block = block.map_err(|e| fail(e, messages))?;
                        for (row, data) in block.data().chunks_exact(block_width).take(h).enumerate() {
                            put(row, &mut data[..w].iter().map(|&v| scale(u32::from(v), max)));
                        }
                    }
                }
            }
        }
    }

    let (width, height) = (header.width, header.height);
    let image = if channels == 1 {
        GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
    } else {
        RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
    };
    image.ok_or_else(|| RasterError::Unsupported("the decoded buffer does not match the header's size".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_rounds_to_nearest_over_the_nominal_range() {
        assert_eq!(scale(0, 65_535), 0);
        assert_eq!(scale(65_535, 65_535), 255);
        // 128.5 * 257 is not an integer: the nearest 16-bit values either side round apart.
        assert_eq!(scale(128 * 257, 65_535), 128);
        assert_eq!(scale(128 * 257 + 128, 65_535), 128);
        assert_eq!(scale(128 * 257 + 129, 65_535), 129);
        assert_eq!(scale(4_095, 4_095), 255);
        assert_eq!(scale(2_048, 4_095), 128);
        assert_eq!(scale(70_000, 4_095), 255, "values above the declared range clip");
        assert_eq!(scale(1, 1), 255);
    }
}
