//! Navad TIFFs as GDAL writes them, made at test time by GDAL's own command line
//! (`gdal_translate`, Debian `gdal-bin`) from one known 8-bit scene, and GDAL's reading of a
//! file as the reference pixels a decoder must match: YCbCr JPEG (striped, tiled, as a COG),
//! LZW, Deflate, uncompressed BigTIFF, pixel- and band-interleaved, RGB, RGBA, CMYK, five
//! bands, single band, 8, 12 and 16 bits. No expected pixel is typed in by hand.
//!
//! Also damaged copies (one block's bytes overwritten, a compression no codec handles) for the
//! error paths.

use anyhow::{Context, bail, ensure};
use image::{DynamicImage, RgbImage};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a correct decoder yields from a variant besides GDAL's reading of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expected {
    /// The source scene's RGB pixels exactly: lossless 8-bit, or 16-bit holding `v * 257`.
    SourceRgb,
    /// One channel of the source scene (0 red, 1 green, 2 blue) as luma, exactly.
    SourceChannel(usize),
    /// Lossy (JPEG) or rescaled away from `v * 257`: GDAL's reading is the exact reference, and
    /// the pixels are within `mean_error` (mean absolute difference per sample) of the source
    /// scene's multiplied by `gain`.
    Near {
        /// What the variant did to the levels (1 when it kept them).
        gain: f64,
        /// Largest mean absolute difference per sample.
        mean_error: f64,
    },
    /// A colour conversion with no simple relation to the scene (CMYK, which GDAL turns into
    /// RGB): GDAL's reading is the only reference.
    GdalOnly,
}

/// One way of writing the scene as a TIFF.
#[derive(Debug, Clone, Copy)]
pub struct TiffVariant {
    /// Short name, used as the file name (`<name>.tif`).
    pub name: &'static str,
    /// `gdal_translate` options writing it from the RGB source PNG.
    pub write: &'static [&'static str],
    /// `gdal_translate -of PNG` options reading it back as the 8-bit image a decoder must
    /// equal: band selection (alpha and extra bands dropped) and 16-bit scaling over the
    /// nominal range.
    pub reference: &'static [&'static str],
    /// GDAL's name of the compression (`gdalinfo`'s `COMPRESSION`, `none` when absent).
    pub compression: &'static str,
    /// Bits per sample the file declares.
    pub bits: u32,
    /// What the decoded pixels equal (or are near) besides GDAL's reading.
    pub expected: Expected,
}

const RGB: &[&str] = &["-b", "1", "-b", "2", "-b", "3"];
const SCALE_16: &[&str] = &["-ot", "Byte", "-scale", "0", "65535", "0", "255"];
const SCALE_12: &[&str] = &["-ot", "Byte", "-scale", "0", "4095", "0", "255"];

/// JPEG at GDAL's default quality (75) on the textured scene.
const JPEG: Expected = Expected::Near { gain: 1.0, mean_error: 8.0 };

/// The variants, from what JPEG COGs and field cameras deliver to corner cases of layout.
pub const TIFF_VARIANTS: &[TiffVariant] = &[
    TiffVariant {
        name: "ycbcr-jpeg-strips",
        write: &["-co", "COMPRESS=JPEG", "-co", "PHOTOMETRIC=YCBCR"],
        reference: &[],
        compression: "YCbCr JPEG",
        bits: 8,
        expected: JPEG,
    },
    TiffVariant {
        name: "ycbcr-jpeg-tiles",
        write: &["-co", "COMPRESS=JPEG", "-co", "PHOTOMETRIC=YCBCR", "-co", "TILED=YES", "-co", "BLOCKXSIZE=64", "-co", "BLOCKYSIZE=64"],
        reference: &[],
        compression: "YCbCr JPEG",
        bits: 8,
        expected: JPEG,
    },
    TiffVariant {
        name: "jpeg-cog",
        write: &["-of", "COG", "-co", "COMPRESS=JPEG", "-co", "BLOCKSIZE=128"],
        reference: &[],
        compression: "YCbCr JPEG",
        bits: 8,
        expected: JPEG,
    },
    TiffVariant { name: "lzw-strips", write: &["-co", "COMPRESS=LZW"], reference: &[], compression: "LZW", bits: 8, expected: Expected::SourceRgb },
    TiffVariant {
        name: "lzw-predictor-tiles",
        write: &["-co", "COMPRESS=LZW", "-co", "PREDICTOR=2", "-co", "TILED=YES", "-co", "BLOCKXSIZE=32", "-co", "BLOCKYSIZE=32"],
        reference: &[],
        compression: "LZW",
        bits: 8,
        expected: Expected::SourceRgb,
    },
    TiffVariant {
        name: "deflate-tiles",
        write: &["-co", "COMPRESS=DEFLATE", "-co", "TILED=YES", "-co", "BLOCKXSIZE=64", "-co", "BLOCKYSIZE=48"],
        reference: &[],
        compression: "DEFLATE",
        bits: 8,
        expected: Expected::SourceRgb,
    },
    TiffVariant {
        name: "deflate-band-interleaved",
        write: &["-co", "COMPRESS=DEFLATE", "-co", "INTERLEAVE=BAND"],
        reference: &[],
        compression: "DEFLATE",
        bits: 8,
        expected: Expected::SourceRgb,
    },
    TiffVariant { name: "bigtiff", write: &["-co", "BIGTIFF=YES"], reference: &[], compression: "none", bits: 8, expected: Expected::SourceRgb },
    TiffVariant {
        name: "rgba-deflate",
        write: &["-b", "1", "-b", "2", "-b", "3", "-b", "2", "-colorinterp", "red,green,blue,alpha", "-co", "ALPHA=YES", "-co", "COMPRESS=DEFLATE"],
        reference: RGB,
        compression: "DEFLATE",
        bits: 8,
        expected: Expected::SourceRgb,
    },
    TiffVariant {
        name: "five-bands",
        write: &["-b", "1", "-b", "2", "-b", "3", "-b", "1", "-b", "2", "-co", "PHOTOMETRIC=RGB", "-co", "COMPRESS=LZW"],
        reference: RGB,
        compression: "LZW",
        bits: 8,
        expected: Expected::SourceRgb,
    },
    TiffVariant {
        name: "cmyk",
        write: &["-b", "1", "-b", "2", "-b", "3", "-b", "1", "-co", "PHOTOMETRIC=CMYK"],
        reference: RGB,
        compression: "none",
        bits: 8,
        expected: Expected::GdalOnly,
    },
    TiffVariant {
        name: "gray-lzw",
        write: &["-b", "2", "-co", "COMPRESS=LZW"],
        reference: &[],
        compression: "LZW",
        bits: 8,
        expected: Expected::SourceChannel(1),
    },
    TiffVariant {
        name: "rgb16-lzw",
        write: &["-ot", "UInt16", "-scale", "0", "255", "0", "65535", "-co", "COMPRESS=LZW"],
        reference: SCALE_16,
        compression: "LZW",
        bits: 16,
        expected: Expected::SourceRgb,
    },
    TiffVariant {
        name: "rgb16-uneven-tiles",
        write: &["-ot", "UInt16", "-scale", "0", "255", "0", "60000", "-co", "COMPRESS=DEFLATE", "-co", "PREDICTOR=2", "-co", "TILED=YES"],
        reference: SCALE_16,
        compression: "DEFLATE",
        bits: 16,
        expected: Expected::Near { gain: 60_000.0 / 65_535.0, mean_error: 0.6 },
    },
    TiffVariant {
        name: "gray12-deflate",
        write: &["-b", "1", "-ot", "UInt16", "-scale", "0", "255", "0", "4095", "-co", "NBITS=12", "-co", "COMPRESS=DEFLATE"],
        reference: SCALE_12,
        compression: "DEFLATE",
        bits: 12,
        expected: Expected::SourceChannel(0),
    },
];

/// The variant called `name`.
pub fn variant(name: &str) -> &'static TiffVariant {
    TIFF_VARIANTS.iter().find(|v| v.name == name).unwrap_or_else(|| panic!("no TIFF variant {name}"))
}

/// Runs `gdal_translate -q <args>`, failing with its stderr.
pub fn gdal_translate(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("gdal_translate").arg("-q").args(args).output().context("running gdal_translate (Debian gdal-bin)")?;
    ensure!(output.status.success(), "gdal_translate {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    Ok(())
}

fn text(path: &Path) -> anyhow::Result<&str> {
    path.to_str().with_context(|| format!("non-UTF-8 path {}", path.display()))
}

/// Writes `scene` as a PNG in `dir` (the source every variant is made from) and returns its path.
pub fn write_source(dir: &Path, scene: &RgbImage) -> anyhow::Result<PathBuf> {
    let path = dir.join("source.png");
    std::fs::write(&path, crate::navad::encode_png(scene)?)?;
    Ok(path)
}

/// Writes `variant` of the `source` PNG as `<dir>/<name>.tif` with `gdal_translate`.
pub fn write_variant(source: &Path, variant: &TiffVariant, dir: &Path) -> anyhow::Result<PathBuf> {
    let out = dir.join(format!("{}.tif", variant.name));
    let mut args = variant.write.to_vec();
    if !args.contains(&"-of") {
        args.extend(["-of", "GTiff"]);
    }
    args.extend([text(source)?, text(&out)?]);
    gdal_translate(&args)?;
    Ok(out)
}

/// Every variant of `scene`, written in `dir`: `(variant, path)`.
pub fn write_variants(dir: &Path, scene: &RgbImage) -> anyhow::Result<Vec<(&'static TiffVariant, PathBuf)>> {
    let source = write_source(dir, scene)?;
    TIFF_VARIANTS.iter().map(|v| Ok((v, write_variant(&source, v, dir)?))).collect()
}

/// GDAL's own reading of the TIFF at `path` as 8-bit pixels: `gdal_translate -of PNG` with the
/// variant's reference options, decoded (PNG, lossless) by `image`: luma for one band, RGB for
/// three.
pub fn gdal_reference(path: &Path, variant: &TiffVariant) -> anyhow::Result<DynamicImage> {
    let out = path.with_extension("reference.png");
    let mut args = vec!["-of", "PNG"];
    args.extend(variant.reference);
    args.extend([text(path)?, text(&out)?]);
    gdal_translate(&args)?;
    let image = image::open(&out).with_context(|| format!("reading GDAL's PNG of {}", path.display()))?;
    Ok(match image {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => image,
        other => bail!("GDAL's PNG of {} is {:?}, expected 8-bit gray or RGB", path.display(), other.color()),
    })
}

/// Byte ranges `(offset, length)` of the blocks (tiles or strips) of a TIFF's first image, read
/// from its `TileOffsets`/`StripOffsets` and byte counts by the `tiff` crate (which parses the
/// directory even where it cannot decode the pixels).
pub fn block_ranges(bytes: &[u8]) -> anyhow::Result<Vec<(u64, u64)>> {
    use tiff::tags::Tag;
    let mut decoder = tiff::decoder::Decoder::new(Cursor::new(bytes))?;
    let (offsets, counts) = match decoder.find_tag(Tag::TileOffsets)? {
        Some(_) => (decoder.get_tag_u64_vec(Tag::TileOffsets)?, decoder.get_tag_u64_vec(Tag::TileByteCounts)?),
        None => (decoder.get_tag_u64_vec(Tag::StripOffsets)?, decoder.get_tag_u64_vec(Tag::StripByteCounts)?),
    };
    Ok(offsets.into_iter().zip(counts).collect())
}

/// A copy of a TIFF with block `index`'s bytes overwritten with `0xFF` (the directory intact:
/// only decoding that block fails).
pub fn with_garbled_block(bytes: &[u8], index: usize) -> anyhow::Result<Vec<u8>> {
    let ranges = block_ranges(bytes)?;
    let &(offset, length) = ranges.get(index).with_context(|| format!("the TIFF has {} blocks, not {}", ranges.len(), index + 1))?;
    let mut garbled = bytes.to_vec();
    garbled[offset as usize..(offset + length) as usize].fill(0xFF);
    Ok(garbled)
}

/// A copy of a little-endian TIFF whose `Compression` entry (tag 259, SHORT, count 1) is
/// rewritten to `code`, e.g. one no codec exists for. The entry is found by its 10-byte
/// pattern in the directory; GDAL writes it that way.
pub fn with_compression_code(bytes: &[u8], code: u16) -> anyhow::Result<Vec<u8>> {
    ensure!(bytes.starts_with(b"II*\0"), "a little-endian classic TIFF is expected");
    let mut decoder = tiff::decoder::Decoder::new(Cursor::new(bytes))?;
    let current: u16 = decoder.find_tag_unsigned(tiff::tags::Tag::Compression)?.context("no Compression tag")?;
    let mut pattern = vec![0x03, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00];
    pattern.extend(current.to_le_bytes());
    let at = bytes.windows(pattern.len()).position(|w| w == pattern.as_slice()).context("Compression entry not found")?;
    let mut patched = bytes.to_vec();
    patched[at + 8..at + 10].copy_from_slice(&code.to_le_bytes());
    Ok(patched)
}
