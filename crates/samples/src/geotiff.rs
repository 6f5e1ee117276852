//! Satellite samples: real GeoTIFF files (8-bit grayscale strips written with the `tiff` encoder,
//! georeferencing written as the GeoTIFF tags `ModelPixelScale`, `ModelTiepoint`,
//! `ModelTransformation` and `GeoKeyDirectory`), a plain TIFF without georeferencing, a GeoTIFF
//! whose EPSG code no CRS database knows, and ESRI world files (`.tfw`, `.jgw`, ...).
//!
//! Every function returns the file's bytes; the georeferencing is exactly what the arguments
//! say, so tests can compute the expected footprint independently.

use std::io::Cursor;
use tiff::encoder::{TiffEncoder, colortype::Gray8};
use tiff::tags::Tag;

/// EPSG code of WGS 84 longitude/latitude.
pub const WGS84: u16 = 4326;
/// EPSG code of WGS 84 / UTM zone 33N (central meridian 15°E).
pub const UTM_33N: u16 = 32633;
/// An EPSG code no CRS database knows (GeoKey values are 16-bit, so the largest plausible
/// unknown code is used rather than, say, 99999, which a GeoTIFF cannot hold).
pub const UNKNOWN_EPSG: u16 = 65000;

/// GeoKey ids and values of the GeoTIFF 1.0 specification used here.
mod geokey {
    pub const MODEL_TYPE: u16 = 1024;
    pub const RASTER_TYPE: u16 = 1025;
    pub const GEOGRAPHIC_TYPE: u16 = 2048;
    pub const PROJECTED_CS_TYPE: u16 = 3072;
    pub const MODEL_TYPE_PROJECTED: u16 = 1;
    pub const MODEL_TYPE_GEOGRAPHIC: u16 = 2;
    pub const RASTER_PIXEL_IS_AREA: u16 = 1;
    pub const RASTER_PIXEL_IS_POINT: u16 = 2;
}

/// The coordinate reference system of the model space, as GeoKeys record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crs {
    /// A geographic CRS (`GeographicTypeGeoKey`): model coordinates are longitude, latitude in
    /// degrees.
    Geographic(u16),
    /// A projected CRS (`ProjectedCSTypeGeoKey`): model coordinates are easting, northing.
    Projected(u16),
}

/// How raster positions map to model coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Placement {
    /// `ModelTiepoint` (raster (0, 0) -> (`origin_x`, `origin_y`)) plus `ModelPixelScale`
    /// (`pixel_x`, `pixel_y`): a north-up image, y decreasing downwards.
    TiepointScale {
        /// Model x of raster (0, 0).
        origin_x: f64,
        /// Model y of raster (0, 0).
        origin_y: f64,
        /// Pixel width in model units.
        pixel_x: f64,
        /// Pixel height in model units (positive: rows go south).
        pixel_y: f64,
    },
    /// `ModelTransformation`: `x = a*col + b*row + c`, `y = d*col + e*row + f` (rotation allowed).
    Transformation {
        /// The affine coefficients `[a, b, c, d, e, f]`.
        affine: [f64; 6],
    },
}

/// Everything a sample GeoTIFF says about itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoTiffSpec {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Model CRS.
    pub crs: Crs,
    /// Raster-to-model mapping.
    pub placement: Placement,
    /// `RasterPixelIsPoint` (raster (0, 0) is the centre of the first pixel) instead of the
    /// default `RasterPixelIsArea` (its upper-left corner).
    pub pixel_is_point: bool,
}

/// A GeoTIFF as `spec` describes it.
///
/// # Panics
/// When `width` or `height` is zero (no TIFF can hold an empty raster).
pub fn geotiff(spec: &GeoTiffSpec) -> Vec<u8> {
    encode(spec.width, spec.height, Some(spec))
}

/// A north-up GeoTIFF in EPSG:4326 whose upper-left corner is (`west_lon`, `north_lat`) and
/// whose pixels are `pixel_deg` degrees square.
///
/// # Panics
/// When `width` or `height` is zero.
pub fn geotiff_wgs84(width: u32, height: u32, west_lon: f64, north_lat: f64, pixel_deg: f64) -> Vec<u8> {
    geotiff(&GeoTiffSpec {
        width,
        height,
        crs: Crs::Geographic(WGS84),
        placement: Placement::TiepointScale { origin_x: west_lon, origin_y: north_lat, pixel_x: pixel_deg, pixel_y: pixel_deg },
        pixel_is_point: false,
    })
}

/// A north-up GeoTIFF in the WGS 84 UTM zone `zone_epsg` (326xx north, 327xx south) whose
/// upper-left corner is (`origin_easting`, `origin_northing`) and whose pixels are
/// `pixel_size` metres square.
///
/// # Panics
/// When `width` or `height` is zero.
pub fn geotiff_utm(width: u32, height: u32, zone_epsg: u16, origin_easting: f64, origin_northing: f64, pixel_size: f64) -> Vec<u8> {
    geotiff(&GeoTiffSpec {
        width,
        height,
        crs: Crs::Projected(zone_epsg),
        placement: Placement::TiepointScale { origin_x: origin_easting, origin_y: origin_northing, pixel_x: pixel_size, pixel_y: pixel_size },
        pixel_is_point: false,
    })
}

/// A GeoTIFF with valid placement tags but the projected CRS [`UNKNOWN_EPSG`].
///
/// # Panics
/// When `width` or `height` is zero.
pub fn geotiff_unknown_epsg(width: u32, height: u32) -> Vec<u8> {
    geotiff_utm(width, height, UNKNOWN_EPSG, 500_000.0, 5_000_000.0, 10.0)
}

/// A TIFF with no georeferencing at all (an ordinary scanned or camera image).
///
/// # Panics
/// When `width` or `height` is zero.
pub fn plain_tiff(width: u32, height: u32) -> Vec<u8> {
    encode(width, height, None)
}

/// The six lines of an ESRI world file (`A D B E C F`) for a north-up image whose upper-left
/// corner is (`west`, `north`) with square pixels of `pixel_size` model units. World files
/// locate the centre of the first pixel, hence the half-pixel offset.
pub fn world_file(west: f64, north: f64, pixel_size: f64) -> String {
    let (a, d, b, e) = (pixel_size, 0.0, 0.0, -pixel_size);
    let c = west + pixel_size / 2.0;
    let f = north - pixel_size / 2.0;
    format!("{a}\n{d}\n{b}\n{e}\n{c}\n{f}\n")
}

/// A recognisable gradient-and-grid pattern: the files are real images a viewer can open.
fn pixels(width: u32, height: u32) -> Vec<u8> {
    let mut data = Vec::with_capacity(width as usize * height as usize);
    for y in 0..height {
        for x in 0..width {
            let on_grid = x % 32 == 0 || y % 32 == 0;
            let value = if on_grid { 255 } else { ((x * 255 / width.max(1) + y * 255 / height.max(1)) / 2) as u8 };
            data.push(value);
        }
    }
    data
}

fn encode(width: u32, height: u32, georef: Option<&GeoTiffSpec>) -> Vec<u8> {
    assert!(width > 0 && height > 0, "a TIFF needs at least one pixel, got {width}x{height}");
    let mut out = Cursor::new(Vec::new());
    // Writing to memory can only fail on invalid dimensions, ruled out above.
    let mut encoder = TiffEncoder::new(&mut out).expect("TIFF header into memory");
    let mut image = encoder.new_image::<Gray8>(width, height).expect("TIFF image directory");
    if let Some(spec) = georef {
        write_geotags(image.encoder(), spec).expect("GeoTIFF tags into memory");
    }
    image.write_data(&pixels(width, height)).expect("TIFF strips into memory");
    out.into_inner()
}

fn write_geotags<W: std::io::Write + std::io::Seek, K: tiff::encoder::TiffKind>(
    dir: &mut tiff::encoder::DirectoryEncoder<'_, W, K>,
    spec: &GeoTiffSpec,
) -> tiff::TiffResult<()> {
    match spec.placement {
        Placement::TiepointScale { origin_x, origin_y, pixel_x, pixel_y } => {
            dir.write_tag(Tag::ModelPixelScaleTag, &[pixel_x, pixel_y, 0.0][..])?;
            dir.write_tag(Tag::ModelTiepointTag, &[0.0, 0.0, 0.0, origin_x, origin_y, 0.0][..])?;
        }
        Placement::Transformation { affine: [a, b, c, d, e, f] } => {
            let matrix = [a, b, 0.0, c, d, e, 0.0, f, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0];
            dir.write_tag(Tag::ModelTransformationTag, &matrix[..])?;
        }
    }
    let (model_type, crs_key, code) = match spec.crs {
        Crs::Geographic(code) => (geokey::MODEL_TYPE_GEOGRAPHIC, geokey::GEOGRAPHIC_TYPE, code),
        Crs::Projected(code) => (geokey::MODEL_TYPE_PROJECTED, geokey::PROJECTED_CS_TYPE, code),
    };
    let raster_type = if spec.pixel_is_point { geokey::RASTER_PIXEL_IS_POINT } else { geokey::RASTER_PIXEL_IS_AREA };
    // Header (version 1, revision 1.0, 3 keys), then keys sorted by id, values inline (location 0).
    #[rustfmt::skip]
    let directory: [u16; 16] = [
        1, 1, 0, 3,
        geokey::MODEL_TYPE, 0, 1, model_type,
        geokey::RASTER_TYPE, 0, 1, raster_type,
        crs_key, 0, 1, code,
    ];
    dir.write_tag(Tag::GeoKeyDirectoryTag, &directory[..])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiff::decoder::Decoder;

    #[test]
    fn utm_sample_carries_its_tags_and_pixels() {
        let bytes = geotiff_utm(64, 48, UTM_33N, 500_000.0, 5_000_000.0, 10.0);
        let mut decoder = Decoder::new(Cursor::new(bytes)).unwrap();
        assert_eq!(decoder.dimensions().unwrap(), (64, 48));
        assert_eq!(decoder.get_tag_f64_vec(Tag::ModelPixelScaleTag).unwrap(), vec![10.0, 10.0, 0.0]);
        assert_eq!(decoder.get_tag_f64_vec(Tag::ModelTiepointTag).unwrap(), vec![0.0, 0.0, 0.0, 500_000.0, 5_000_000.0, 0.0]);
        let keys = decoder.get_tag_u16_vec(Tag::GeoKeyDirectoryTag).unwrap();
        assert_eq!(&keys[12..16], &[3072, 0, 1, 32633]);
        let tiff::decoder::DecodingResult::U8(data) = decoder.read_image().unwrap() else { panic!("8-bit gray") };
        assert_eq!(data, pixels(64, 48));
    }

    #[test]
    fn plain_tiff_has_no_geotags() {
        let mut decoder = Decoder::new(Cursor::new(plain_tiff(16, 16))).unwrap();
        assert!(decoder.find_tag(Tag::GeoKeyDirectoryTag).unwrap().is_none());
        assert!(decoder.find_tag(Tag::ModelTiepointTag).unwrap().is_none());
    }

    #[test]
    fn world_file_locates_the_first_pixel_centre() {
        let lines: Vec<f64> = world_file(10.0, 50.0, 0.5).lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(lines, vec![0.5, 0.0, 0.0, -0.5, 10.25, 49.75]);
    }
}
