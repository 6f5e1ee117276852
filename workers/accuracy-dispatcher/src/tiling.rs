//! The tile grid of an image and the tiles themselves: the image is decoded once (through
//! [`rasters`], the fleet's one decoding path: TIFF through GDAL, JPEG and PNG through `image`),
//! converted to 8-bit luminance, cut into `columns x rows` rectangles (the last column and row
//! absorb the remainders) and each rectangle encoded as a lossless grayscale PNG. Pure and
//! synchronous.

use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, GrayImage, ImageEncoder, Limits};
use rasters::RasterError;
use std::io::Cursor;
use std::path::Path;

/// Smallest tile side: the processor's 3x3 kernels need one interior pixel.
pub const MIN_TILE_SIDE: u32 = 3;

/// Most bytes one decode may allocate (a 250-megapixel RGB image fits; anything larger was
/// already refused by ingestion's limits).
pub const DECODE_ALLOC_LIMIT: u64 = 1 << 30;

/// One rectangle of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRect {
    /// Column index.
    pub column: u32,
    /// Row index.
    pub row: u32,
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Why an image cannot be tiled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TilingError {
    /// Zero columns or rows.
    #[error("a {columns}x{rows} grid has no tiles")]
    EmptyGrid {
        /// Columns asked for.
        columns: u32,
        /// Rows asked for.
        rows: u32,
    },
    /// The image is too small for the grid.
    #[error("a {width}x{height} image is too small for a {columns}x{rows} grid: tiles need at least {MIN_TILE_SIDE}x{MIN_TILE_SIDE} pixels")]
    TooSmall {
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
        /// Columns asked for.
        columns: u32,
        /// Rows asked for.
        rows: u32,
    },
    /// The image does not decode (for a TIFF, the error names the header, the codec, or the
    /// tile or strip that failed).
    #[error("cannot decode the image: {0}")]
    Decode(RasterError),
    /// A tile cannot be encoded as PNG.
    #[error("cannot encode a tile: {0}")]
    Encode(#[from] image::ImageError),
    /// The local copy could not be read (not the input's fault).
    #[error("cannot read the downloaded copy: {0}")]
    Io(#[from] std::io::Error),
}

impl TilingError {
    /// True when the input (image or grid) is at fault, so retrying cannot help.
    pub fn is_input_fault(&self) -> bool {
        match self {
            TilingError::Io(_) => false,
            TilingError::Decode(e) => e.is_input_fault(),
            _ => true,
        }
    }
}

/// The grid of a `width x height` image: row-major, the last column and row absorbing the
/// remainder of the integer division.
pub fn grid(width: u32, height: u32, columns: u32, rows: u32) -> Result<Vec<TileRect>, TilingError> {
    if columns == 0 || rows == 0 {
        return Err(TilingError::EmptyGrid { columns, rows });
    }
    let (tile_width, tile_height) = (width / columns, height / rows);
    if tile_width < MIN_TILE_SIDE || tile_height < MIN_TILE_SIDE {
        return Err(TilingError::TooSmall { width, height, columns, rows });
    }
    let span = |index: u32, count: u32, step: u32, total: u32| {
        let start = index * step;
        let length = if index + 1 == count { total - start } else { step };
        (start, length)
    };
    Ok((0..rows)
        .flat_map(|row| (0..columns).map(move |column| (row, column)))
        .map(|(row, column)| {
            let (x, width) = span(column, columns, tile_width, width);
            let (y, height) = span(row, rows, tile_height, height);
            TileRect { column, row, x, y, width, height }
        })
        .collect())
}

/// Decodes an image file (JPEG, PNG or TIFF) once into 8-bit luminance (`image`'s Rec. 709
/// weights). A TIFF comes from GDAL as 8-bit RGB or luma first (16-bit samples scaled from
/// their nominal range, alpha dropped: see [`rasters::tiff`]); an 8-bit TIFF gives the same
/// luminance as before, when `image` decoded it.
pub fn decode_luminance(path: &Path) -> Result<GrayImage, TilingError> {
    let mut limits = Limits::default();
    limits.max_alloc = Some(DECODE_ALLOC_LIMIT);
    match rasters::decode(path, &limits) {
        Ok(image) => Ok(image.into_luma8()),
        Err(RasterError::Io(e)) => Err(TilingError::Io(e)),
        Err(e) => Err(TilingError::Decode(e)),
    }
}

/// Each rectangle of `grid` cut from `luma` and encoded as a grayscale PNG.
pub fn encode_tiles(luma: &GrayImage, grid: &[TileRect]) -> Result<Vec<(TileRect, Vec<u8>)>, TilingError> {
    grid.iter()
        .map(|rect| {
            let tile = image::imageops::crop_imm(luma, rect.x, rect.y, rect.width, rect.height).to_image();
            let mut png = Vec::new();
            PngEncoder::new(Cursor::new(&mut png)).write_image(tile.as_raw(), tile.width(), tile.height(), ExtendedColorType::L8)?;
            Ok((*rect, png))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_covers_the_image_exactly_with_remainders_at_the_edges() {
        let tiles = grid(103, 50, 4, 3).unwrap();
        assert_eq!(tiles.len(), 12);
        assert_eq!(tiles[0], TileRect { column: 0, row: 0, x: 0, y: 0, width: 25, height: 16 });
        // Last column: 103 - 3*25 = 28 wide; last row: 50 - 2*16 = 18 high.
        assert_eq!(tiles[11], TileRect { column: 3, row: 2, x: 75, y: 32, width: 28, height: 18 });
        let area: u32 = tiles.iter().map(|t| t.width * t.height).sum();
        assert_eq!(area, 103 * 50);
        // No overlap: every pixel belongs to exactly one tile.
        let mut owner = vec![0u8; 103 * 50];
        for t in &tiles {
            for y in t.y..t.y + t.height {
                for x in t.x..t.x + t.width {
                    owner[(y * 103 + x) as usize] += 1;
                }
            }
        }
        assert!(owner.iter().all(|&n| n == 1));
    }

    #[test]
    fn refuses_empty_grids_and_tiny_tiles() {
        assert!(matches!(grid(100, 100, 0, 4), Err(TilingError::EmptyGrid { .. })));
        assert!(matches!(grid(11, 100, 4, 4), Err(TilingError::TooSmall { .. })));
        assert!(grid(12, 12, 4, 4).is_ok());
    }

    #[test]
    fn tiles_round_trip_losslessly() {
        let luma = GrayImage::from_fn(40, 30, |x, y| image::Luma([(x * 5 + y * 3) as u8]));
        let rects = grid(40, 30, 2, 2).unwrap();
        let tiles = encode_tiles(&luma, &rects).unwrap();
        for (rect, png) in tiles {
            let decoded = image::load_from_memory(&png).unwrap().into_luma8();
            assert_eq!(decoded.dimensions(), (rect.width, rect.height));
            assert_eq!(decoded.get_pixel(1, 2), luma.get_pixel(rect.x + 1, rect.y + 2));
        }
    }

    #[test]
    fn tiffs_decode_to_the_luminance_of_gdals_reading() -> anyhow::Result<()> {
        use samples::navad_tiff;
        let dir = tempfile::tempdir()?;
        for (variant, path) in navad_tiff::write_variants(dir.path(), &samples::navad::sharp_scene(131, 77))? {
            let reference = navad_tiff::gdal_reference(&path, variant)?.into_luma8();
            assert!(decode_luminance(&path)? == reference, "{}: luminance differs from GDAL's reading", variant.name);
        }
        Ok(())
    }

    #[test]
    fn an_8_bit_tiff_gives_the_luminance_of_the_same_pixels_as_png() -> anyhow::Result<()> {
        use samples::navad_tiff;
        let dir = tempfile::tempdir()?;
        let scene = samples::navad::sharp_scene(131, 77);
        let png = navad_tiff::write_source(dir.path(), &scene)?;
        // What the accuracy metrics see is the same, tile for tile.
        let from_png = decode_luminance(&png)?;
        for name in ["lzw-strips", "deflate-tiles", "rgba-deflate", "rgb16-lzw"] {
            let tiff = navad_tiff::write_variant(&png, navad_tiff::variant(name), dir.path())?;
            assert!(decode_luminance(&tiff)? == from_png, "{name}");
        }
        Ok(())
    }

    #[test]
    fn a_broken_tiff_is_the_inputs_fault_naming_the_tile() -> anyhow::Result<()> {
        use samples::navad_tiff;
        let dir = tempfile::tempdir()?;
        let png = navad_tiff::write_source(dir.path(), &samples::navad::sharp_scene(131, 77))?;
        let tiled = navad_tiff::write_variant(&png, navad_tiff::variant("lzw-predictor-tiles"), dir.path())?;
        let garbled = dir.path().join("garbled.tif");
        std::fs::write(&garbled, navad_tiff::with_garbled_block(&std::fs::read(&tiled)?, 0)?)?;
        let err = decode_luminance(&garbled).unwrap_err();
        assert!(err.is_input_fault(), "{err}");
        assert!(err.to_string().starts_with("cannot decode the image: cannot decode tile 0 (columns 0..32, rows 0..32), compression LZW: "), "{err}");
        let missing = decode_luminance(&dir.path().join("absent.tif")).unwrap_err();
        assert!(matches!(missing, TilingError::Io(_)) && !missing.is_input_fault(), "{missing}");
        Ok(())
    }
}
