//! Navad image decoding, one path for every worker: TIFF through GDAL, JPEG and PNG through
//! `image`.
//!
//! GDAL (Debian's `libgdal-dev`, libtiff and libjpeg underneath) reads the TIFFs that cameras,
//! photogrammetry suites and GDAL itself write: any compression libtiff has (none, LZW,
//! Deflate, PackBits, ZSTD, WebP, JPEG, and YCbCr JPEG as `gdal_translate -co COMPRESS=JPEG -co
//! PHOTOMETRIC=YCBCR` and JPEG COGs write it), strips or tiles, pixel- or band-interleaved,
//! BigTIFF, 8-bit and 16-bit samples, one to any number of bands. [`tiff`] turns them into what
//! the workers measure, an `image` buffer of 8-bit RGB or luma; its module docs say how bands are
//! chosen and how 16-bit samples are scaled. JPEG and PNG keep the `image` crate's decoders, so
//! their pixels (and every figure computed from them) are those of before.
//!
//! Errors say which part of the file failed ([`RasterError`]): the TIFF header or IFD, a
//! missing codec, or one tile or strip (with the codec's own complaint).
#![warn(missing_docs)]

pub mod cpl;
pub mod tiff;

use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits};
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// Why an image does not decode. Every variant but [`RasterError::Io`] (and an
/// [`RasterError::Image`] carrying an I/O error other than a short read) is a fault of the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RasterError {
    /// The first bytes match no image signature.
    #[error("not a recognised image format")]
    UnrecognisedFormat,
    /// The TIFF header or its first image file directory (IFD) does not parse.
    #[error("unreadable TIFF header or IFD: {0}")]
    Header(String),
    /// The file's compression has no codec in this build of GDAL and libtiff.
    #[error("no TIFF codec for this file's compression: {0}")]
    Codec(String),
    /// One tile or strip does not decode: its bytes are missing, or its codec refused them.
    #[error("cannot decode {block}{}, compression {compression}: {reason}", band_note(*.band))]
    Block {
        /// Which tile or strip, and the pixels it covers.
        block: BlockRef,
        /// The band read, when the file stores bands separately (pixel-interleaved files
        /// decode all bands of a block at once).
        band: Option<usize>,
        /// GDAL's name of the compression (`LZW`, `YCbCr JPEG`, `none`, ...).
        compression: String,
        /// The codec's or libtiff's own words.
        reason: String,
    },
    /// A TIFF layout this decoder does not turn into 8-bit pixels (floating-point or signed
    /// samples, a non-RGB palette).
    #[error("unsupported TIFF layout: {0}")]
    Unsupported(String),
    /// Decoding would break the caller's limits.
    #[error("{width}x{height} pixels: {reason}")]
    Limits {
        /// Width of the image.
        width: u32,
        /// Height of the image.
        height: u32,
        /// Which limit, and its value.
        reason: String,
    },
    /// A JPEG or PNG that `image` does not decode (or whose decode broke the limits).
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The local file cannot be read (not the file's fault).
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
}

impl RasterError {
    /// True when the file itself is at fault, so retrying cannot help.
    pub fn is_input_fault(&self) -> bool {
        match self {
            RasterError::Io(_) => false,
            RasterError::Image(ImageError::IoError(e)) => e.kind() == std::io::ErrorKind::UnexpectedEof,
            _ => true,
        }
    }
}

fn band_note(band: Option<usize>) -> String {
    band.map(|b| format!(" of band {b}")).unwrap_or_default()
}

/// Is a block a tile or a strip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// A rectangle of a tiled TIFF.
    Tile,
    /// A band of rows the full width of the image.
    Strip,
}

/// One tile or strip of a TIFF: its row-major index and the pixels it covers (end exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRef {
    /// Tile or strip.
    pub kind: BlockKind,
    /// Row-major index among the image's blocks (TIFF's own numbering for one plane).
    pub index: u64,
    /// First and one-past-last column.
    pub columns: (u32, u32),
    /// First and one-past-last row.
    pub rows: (u32, u32),
}

impl fmt::Display for BlockRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (x0, x1) = self.columns;
        let (y0, y1) = self.rows;
        match self.kind {
            BlockKind::Tile => write!(f, "tile {} (columns {x0}..{x1}, rows {y0}..{y1})", self.index),
            BlockKind::Strip => write!(f, "strip {} (rows {y0}..{y1})", self.index),
        }
    }
}

/// The format of the file at `path` from its first bytes: `image`'s signatures, plus BigTIFF
/// (`II+` / `MM+`), which GDAL reads and `image` does not recognise.
pub fn guess_format(path: &Path) -> std::io::Result<Option<ImageFormat>> {
    let mut head = Vec::with_capacity(16);
    File::open(path)?.take(16).read_to_end(&mut head)?;
    if head.starts_with(b"II+\0") || head.starts_with(b"MM\0+") {
        return Ok(Some(ImageFormat::Tiff));
    }
    Ok(image::guess_format(&head).ok())
}

/// Width and height from the header alone (no pixel is decoded): the TIFF's IFD through GDAL,
/// or `image`'s header parsers for the other formats.
pub fn dimensions(path: &Path, format: ImageFormat) -> Result<(u32, u32), RasterError> {
    if format == ImageFormat::Tiff {
        let header = tiff::header(path)?;
        return Ok((header.width, header.height));
    }
    Ok(ImageReader::with_format(BufReader::new(File::open(path)?), format).into_dimensions()?)
}

/// Decodes every pixel of the image at `path` under `limits` (width, height, bytes allocated):
/// a TIFF through GDAL into 8-bit RGB or luma ([`tiff::decode`]), a JPEG or PNG through `image`
/// as it always was.
pub fn decode(path: &Path, limits: &Limits) -> Result<DynamicImage, RasterError> {
    match guess_format(path)? {
        Some(ImageFormat::Tiff) => tiff::decode(path, limits),
        Some(format) => {
            let mut reader = ImageReader::with_format(BufReader::new(File::open(path)?), format);
            reader.limits(limits.clone());
            Ok(reader.decode()?)
        }
        None => Err(RasterError::UnrecognisedFormat),
    }
}
