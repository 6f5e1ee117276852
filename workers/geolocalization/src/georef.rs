//! Reading georeferencing: where an image's pixels sit in a model coordinate system and which
//! EPSG code names that system.
//!
//! Two sources, in this order:
//! 1. GeoTIFF tags, read from the TIFF header and first IFD without decoding a pixel:
//!    `ModelTiepointTag` (33922) + `ModelPixelScaleTag` (33550), or `ModelTransformationTag`
//!    (34264); the EPSG code from `GeoKeyDirectoryTag` (34735): `ProjectedCSTypeGeoKey` (3072)
//!    or `GeographicTypeGeoKey` (2048) as `GTModelTypeGeoKey` (1024) says;
//!    `GTRasterTypeGeoKey` (1025) for PixelIsArea / PixelIsPoint.
//! 2. An ESRI world file next to the object (`scene.tfw`, `scene.tifw`, `scene.wld`, ...; six
//!    lines `A D B E C F`). A world file carries no CRS: the EPSG code comes from a `.prj`
//!    sidecar when there is one (its `AUTHORITY["EPSG", ...]` / `ID["EPSG", ...]`, or a bare
//!    `EPSG:n`), otherwise it is taken to be EPSG:4326.
//!
//! Everything here is pure (bytes and text in, values out) so it is unit-tested without S3.

use std::collections::HashMap;
use std::io::{Read, Seek};
use tiff::decoder::Decoder;
use tiff::tags::Tag;

/// EPSG code assumed for a world file without a `.prj` sidecar (WGS 84 longitude/latitude).
pub const WORLD_FILE_DEFAULT_EPSG: u32 = 4326;

/// GeoKey ids and values of the GeoTIFF 1.0 specification.
mod geokey {
    pub const MODEL_TYPE: u16 = 1024;
    pub const RASTER_TYPE: u16 = 1025;
    pub const GEOGRAPHIC_TYPE: u16 = 2048;
    pub const PROJECTED_CS_TYPE: u16 = 3072;
    pub const MODEL_PROJECTED: u16 = 1;
    pub const MODEL_GEOGRAPHIC: u16 = 2;
    pub const MODEL_GEOCENTRIC: u16 = 3;
    pub const RASTER_PIXEL_IS_POINT: u16 = 2;
    pub const USER_DEFINED: u16 = 32767;
}

/// Why an image's georeferencing cannot be used. Every variant is a property of the input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GeorefError {
    /// The TIFF header or first directory cannot be read.
    #[error("unreadable TIFF header: {0}")]
    UnreadableTiff(String),
    /// A GeoTIFF tag holds a value of the wrong shape.
    #[error("malformed {tag}: {reason}")]
    MalformedTag {
        /// The tag's name.
        tag: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// GeoTIFF keys are present but no tag places the raster in model space.
    #[error("GeoTIFF tags give no placement: ModelTiepoint + ModelPixelScale or ModelTransformation is required")]
    NoPlacement,
    /// Several tie points without a pixel scale: a ground-control-point warp, not an affine
    /// placement.
    #[error("{0} ground control points (ModelTiepoint without ModelPixelScale) are not supported; an affine placement is required")]
    GroundControlPoints(usize),
    /// The raster is placed but no EPSG code names the model CRS.
    #[error("no EPSG code in the GeoKeyDirectory (ProjectedCSTypeGeoKey / GeographicTypeGeoKey)")]
    NoEpsgCode,
    /// The CRS is user-defined (GeoKey value 32767): only EPSG codes are supported.
    #[error("user-defined {0} CRS (GeoKey value 32767) is not supported; an EPSG code is required")]
    UserDefinedCrs(&'static str),
    /// A geocentric model (`GTModelTypeGeoKey` = 3) has no image footprint.
    #[error("geocentric model space (GTModelTypeGeoKey = 3) is not supported")]
    Geocentric,
    /// The raster-to-model transform collapses the image to a line or a point, or is not finite.
    #[error("degenerate raster-to-model transform {0:?}")]
    DegenerateTransform([f64; 6]),
    /// A world file does not hold six numbers.
    #[error("world file {name}: {reason}")]
    BadWorldFile {
        /// The sidecar's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A `.prj` sidecar names no EPSG code.
    #[error("projection file {name}: no EPSG code found (expected AUTHORITY[\"EPSG\",\"n\"], ID[\"EPSG\",n] or EPSG:n)")]
    BadPrj {
        /// The sidecar's name.
        name: String,
    },
}

/// Whether raster coordinate (0, 0) is the upper-left corner of the first pixel (area) or its
/// centre (point).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RasterType {
    /// `RasterPixelIsArea` (the GeoTIFF default).
    PixelIsArea,
    /// `RasterPixelIsPoint`; world files always use this convention.
    PixelIsPoint,
}

impl RasterType {
    /// `pixel_is_area` / `pixel_is_point`, as written in the GeoJSON properties.
    pub fn as_str(self) -> &'static str {
        match self {
            RasterType::PixelIsArea => "pixel_is_area",
            RasterType::PixelIsPoint => "pixel_is_point",
        }
    }
}

/// Raster-to-model affine transform: `x = a*col + b*row + c`, `y = d*col + e*row + f`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// x per column.
    pub a: f64,
    /// x per row.
    pub b: f64,
    /// x offset.
    pub c: f64,
    /// y per column.
    pub d: f64,
    /// y per row.
    pub e: f64,
    /// y offset.
    pub f: f64,
}

impl Affine {
    /// Model coordinates of raster position (`col`, `row`).
    pub fn apply(&self, col: f64, row: f64) -> (f64, f64) {
        (self.a * col + self.b * row + self.c, self.d * col + self.e * row + self.f)
    }

    /// The transform in pixel-corner convention, given one in `raster_type`'s convention: with
    /// PixelIsPoint, raster (0, 0) is the centre of the first pixel, so its corner is half a
    /// pixel up and left.
    pub fn to_pixel_corners(self, raster_type: RasterType) -> Self {
        match raster_type {
            RasterType::PixelIsArea => self,
            RasterType::PixelIsPoint => {
                let (c, f) = self.apply(-0.5, -0.5);
                Self { c, f, ..self }
            }
        }
    }

    fn coefficients(&self) -> [f64; 6] {
        [self.a, self.b, self.c, self.d, self.e, self.f]
    }

    /// Rejects transforms that are not finite or map the image onto a line.
    fn validated(self) -> Result<Self, GeorefError> {
        let determinant = self.a * self.e - self.b * self.d;
        if self.coefficients().iter().all(|v| v.is_finite()) && determinant != 0.0 && determinant.is_finite() {
            Ok(self)
        } else {
            Err(GeorefError::DegenerateTransform(self.coefficients()))
        }
    }
}

/// Where the georeferencing of an image came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeorefSource {
    /// GeoTIFF tags of the image itself.
    GeoTiff,
    /// A world-file sidecar; `prj` names the `.prj` sidecar the EPSG code came from, if any.
    WorldFile {
        /// Name of the world file (`s3://.../scene.tfw`).
        world_file: String,
        /// Name of the `.prj` sidecar, or `None` when the default EPSG:4326 applies.
        prj: Option<String>,
    },
}

/// Complete georeferencing of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Georeference {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// EPSG code of the model coordinate system.
    pub epsg: u32,
    /// Raster (pixel-corner convention: (0, 0) is the upper-left corner of the image) to model.
    pub transform: Affine,
    /// The convention the source used (the transform is already converted to corners).
    pub raster_type: RasterType,
    /// Where it came from.
    pub source: GeorefSource,
}

/// The GeoTIFF tags of a TIFF's first image, raw.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GeoTiffTags {
    /// `ModelPixelScaleTag`.
    pub pixel_scale: Option<Vec<f64>>,
    /// `ModelTiepointTag`.
    pub tiepoints: Option<Vec<f64>>,
    /// `ModelTransformationTag`.
    pub transformation: Option<Vec<f64>>,
    /// `GeoKeyDirectoryTag`.
    pub geokeys: Option<Vec<u16>>,
}

impl GeoTiffTags {
    /// Any GeoTIFF tag at all: the file is meant as a GeoTIFF (a satellite image), even when
    /// its georeferencing later proves incomplete.
    pub fn any(&self) -> bool {
        self.pixel_scale.is_some() || self.tiepoints.is_some() || self.transformation.is_some() || self.geokeys.is_some()
    }
}

/// What the header of a TIFF says: its size and its GeoTIFF tags.
#[derive(Debug, Clone, PartialEq)]
pub struct TiffHeader {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// GeoTIFF tags of the first image.
    pub tags: GeoTiffTags,
}

/// True when `bytes` start with a TIFF or BigTIFF signature.
pub fn is_tiff(bytes: &[u8]) -> bool {
    matches!(bytes.get(..4), Some(b"II*\0" | b"MM\0*" | b"II+\0" | b"MM\0+"))
}

/// Reads the size and GeoTIFF tags of a TIFF's first image. Only the header and the first
/// directory are read: strips and tiles are never decoded, so a multi-gigabyte GeoTIFF costs a
/// few kilobytes of reading.
pub fn read_tiff_header<R: Read + Seek>(reader: R) -> Result<TiffHeader, GeorefError> {
    let unreadable = |e: tiff::TiffError| GeorefError::UnreadableTiff(e.to_string());
    let mut decoder = Decoder::new(reader).map_err(unreadable)?;
    let (width, height) = decoder.dimensions().map_err(unreadable)?;
    let mut f64_tag = |tag: Tag, name: &'static str| -> Result<Option<Vec<f64>>, GeorefError> {
        match decoder.find_tag(tag).map_err(unreadable)? {
            None => Ok(None),
            Some(value) => value.into_f64_vec().map(Some).map_err(|e| GeorefError::MalformedTag { tag: name, reason: e.to_string() }),
        }
    };
    let pixel_scale = f64_tag(Tag::ModelPixelScaleTag, "ModelPixelScaleTag")?;
    let tiepoints = f64_tag(Tag::ModelTiepointTag, "ModelTiepointTag")?;
    let transformation = f64_tag(Tag::ModelTransformationTag, "ModelTransformationTag")?;
    let geokeys = match decoder.find_tag(Tag::GeoKeyDirectoryTag).map_err(unreadable)? {
        None => None,
        Some(value) => Some(value.into_u16_vec().map_err(|e| GeorefError::MalformedTag { tag: "GeoKeyDirectoryTag", reason: e.to_string() })?),
    };
    Ok(TiffHeader { width, height, tags: GeoTiffTags { pixel_scale, tiepoints, transformation, geokeys } })
}

/// The georeferencing a TIFF's tags describe, or `Ok(None)` when it has no placement tags
/// and no GeoKeys at all (an ordinary TIFF: a world file may still georeference it).
pub fn georeference_from_tiff(header: &TiffHeader) -> Result<Option<Georeference>, GeorefError> {
    let tags = &header.tags;
    if !tags.any() {
        return Ok(None);
    }
    let keys = match &tags.geokeys {
        Some(directory) => parse_geokeys(directory)?,
        None => HashMap::new(),
    };
    let raster_type = match keys.get(&geokey::RASTER_TYPE) {
        Some(&geokey::RASTER_PIXEL_IS_POINT) => RasterType::PixelIsPoint,
        _ => RasterType::PixelIsArea,
    };
    let placement = placement(tags)?;
    let epsg = epsg_from_geokeys(&keys)?;
    Ok(Some(Georeference {
        width: header.width,
        height: header.height,
        epsg,
        transform: placement.to_pixel_corners(raster_type).validated()?,
        raster_type,
        source: GeorefSource::GeoTiff,
    }))
}

/// The affine placement from `ModelTransformation`, or from the first tie point and the pixel
/// scale (`x = X + (i - I) * Sx`, `y = Y - (j - J) * Sy`).
fn placement(tags: &GeoTiffTags) -> Result<Affine, GeorefError> {
    if let Some(m) = &tags.transformation {
        if m.len() != 16 {
            return Err(GeorefError::MalformedTag {
                tag: "ModelTransformationTag",
                reason: format!("{} values, 16 expected (a 4x4 matrix)", m.len()),
            });
        }
        return Ok(Affine { a: m[0], b: m[1], c: m[3], d: m[4], e: m[5], f: m[7] });
    }
    let Some(tiepoints) = &tags.tiepoints else {
        return Err(GeorefError::NoPlacement);
    };
    if tiepoints.len() < 6 || tiepoints.len() % 6 != 0 {
        return Err(GeorefError::MalformedTag {
            tag: "ModelTiepointTag",
            reason: format!("{} values, a positive multiple of 6 expected (I, J, K, X, Y, Z)", tiepoints.len()),
        });
    }
    let Some(scale) = &tags.pixel_scale else {
        return Err(if tiepoints.len() > 6 { GeorefError::GroundControlPoints(tiepoints.len() / 6) } else { GeorefError::NoPlacement });
    };
    if scale.len() < 2 {
        return Err(GeorefError::MalformedTag { tag: "ModelPixelScaleTag", reason: format!("{} values, 3 expected (Sx, Sy, Sz)", scale.len()) });
    }
    let (i, j, x, y) = (tiepoints[0], tiepoints[1], tiepoints[3], tiepoints[4]);
    let (sx, sy) = (scale[0], scale[1]);
    Ok(Affine { a: sx, b: 0.0, c: x - i * sx, d: 0.0, e: -sy, f: y + j * sy })
}

/// The inline (SHORT) keys of a GeoKeyDirectory: header `[version, revision, minor, count]`,
/// then `count` entries `[id, location, count, value]`; location 0 means the value is inline.
fn parse_geokeys(directory: &[u16]) -> Result<HashMap<u16, u16>, GeorefError> {
    let malformed = |reason: String| GeorefError::MalformedTag { tag: "GeoKeyDirectoryTag", reason };
    if directory.len() < 4 {
        return Err(malformed(format!("{} values, a 4-value header is required", directory.len())));
    }
    let count = usize::from(directory[3]);
    let entries = &directory[4..];
    if entries.len() < count * 4 {
        return Err(malformed(format!("header announces {count} keys but only {} values follow", entries.len())));
    }
    Ok(entries.chunks_exact(4).take(count).filter(|entry| entry[1] == 0).map(|entry| (entry[0], entry[3])).collect())
}

/// The model CRS's EPSG code: the projected code for a projected model, the geographic one for a
/// geographic model; without `GTModelTypeGeoKey`, whichever is present (projected first).
fn epsg_from_geokeys(keys: &HashMap<u16, u16>) -> Result<u32, GeorefError> {
    let code = |key: u16, kind: &'static str| -> Result<Option<u32>, GeorefError> {
        match keys.get(&key) {
            None | Some(0) => Ok(None),
            Some(&geokey::USER_DEFINED) => Err(GeorefError::UserDefinedCrs(kind)),
            Some(&code) => Ok(Some(u32::from(code))),
        }
    };
    let found = match keys.get(&geokey::MODEL_TYPE) {
        Some(&geokey::MODEL_GEOCENTRIC) => return Err(GeorefError::Geocentric),
        Some(&geokey::MODEL_PROJECTED) => code(geokey::PROJECTED_CS_TYPE, "projected")?,
        Some(&geokey::MODEL_GEOGRAPHIC) => code(geokey::GEOGRAPHIC_TYPE, "geographic")?,
        _ => match code(geokey::PROJECTED_CS_TYPE, "projected")? {
            Some(code) => Some(code),
            None => code(geokey::GEOGRAPHIC_TYPE, "geographic")?,
        },
    };
    found.ok_or(GeorefError::NoEpsgCode)
}

/// Parses a world file (`A D B E C F`, one number per line; C, F locate the centre of the
/// first pixel) into a pixel-corner transform.
pub fn parse_world_file(name: &str, text: &str) -> Result<Affine, GeorefError> {
    let bad = |reason: String| GeorefError::BadWorldFile { name: name.to_owned(), reason };
    let values = text
        .split_whitespace()
        .map(|token| token.parse::<f64>().map_err(|_| bad(format!("{token:?} is not a number"))))
        .collect::<Result<Vec<_>, _>>()?;
    let [a, d, b, e, c, f] = values[..] else {
        return Err(bad(format!("{} numbers, 6 expected (A D B E C F)", values.len())));
    };
    Affine { a, b, c, d, e, f }.to_pixel_corners(RasterType::PixelIsPoint).validated()
}

/// The EPSG code a `.prj` sidecar names: the last `AUTHORITY["EPSG","n"]` (WKT1 puts the
/// CRS's own authority after those of its datum, ellipsoid and units) or `ID["EPSG",n]`
/// (WKT2), or a bare `EPSG:n`.
pub fn parse_prj_epsg(name: &str, text: &str) -> Result<u32, GeorefError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    let after_markers = ["AUTHORITY[\"EPSG\",\"", "ID[\"EPSG\",", "EPSG:"];
    let mut last: Option<(usize, u32)> = None;
    for marker in after_markers {
        for (at, _) in compact.match_indices(marker) {
            let digits: String = compact[at + marker.len()..].chars().take_while(char::is_ascii_digit).collect();
            if let Ok(code) = digits.parse::<u32>()
                && last.is_none_or(|(seen, _)| at > seen)
            {
                last = Some((at, code));
            }
        }
    }
    last.map(|(_, code)| code).ok_or_else(|| GeorefError::BadPrj { name: name.to_owned() })
}

/// Georeferencing from a world file and, when present, a `.prj` sidecar.
pub fn georeference_from_world_file(
    width: u32,
    height: u32,
    world_file: (&str, &str),
    prj: Option<(&str, &str)>,
) -> Result<Georeference, GeorefError> {
    let (world_name, world_text) = world_file;
    let transform = parse_world_file(world_name, world_text)?;
    let epsg = match prj {
        Some((prj_name, prj_text)) => parse_prj_epsg(prj_name, prj_text)?,
        None => WORLD_FILE_DEFAULT_EPSG,
    };
    Ok(Georeference {
        width,
        height,
        epsg,
        transform,
        raster_type: RasterType::PixelIsPoint,
        source: GeorefSource::WorldFile { world_file: world_name.to_owned(), prj: prj.map(|(name, _)| name.to_owned()) },
    })
}

/// Keys a world file of `key` may have, most common first: `scene.tif` -> `scene.tfw`,
/// `scene.tifw`, `scene.wld` (upper-case when the extension is).
pub fn world_file_keys(key: &str) -> Vec<String> {
    let (stem, extension) = split_extension(key);
    let upper = !extension.is_empty() && extension.chars().all(|c| !c.is_ascii_lowercase());
    let cased = |s: String| if upper { s.to_ascii_uppercase() } else { s };
    let mut keys = Vec::new();
    let mut chars = extension.chars();
    if let (Some(first), Some(last)) = (chars.next(), chars.next_back()) {
        keys.push(format!("{stem}.{}", cased(format!("{first}{last}w"))));
    }
    if !extension.is_empty() {
        keys.push(format!("{stem}.{}", cased(format!("{extension}w"))));
    }
    keys.push(format!("{stem}.{}", cased("wld".to_owned())));
    keys.dedup();
    keys
}

/// The key of the `.prj` sidecar of `key` (`scene.tif` -> `scene.prj`).
pub fn prj_key(key: &str) -> String {
    let (stem, extension) = split_extension(key);
    let upper = !extension.is_empty() && extension.chars().all(|c| !c.is_ascii_lowercase());
    format!("{stem}.{}", if upper { "PRJ" } else { "prj" })
}

/// `("dir/scene", "tif")` for `dir/scene.tif`; no extension when the file name has no dot.
fn split_extension(key: &str) -> (&str, &str) {
    let name_start = key.rfind('/').map_or(0, |slash| slash + 1);
    match key[name_start..].rfind('.') {
        Some(dot) if dot > 0 => (&key[..name_start + dot], &key[name_start + dot + 1..]),
        _ => (key, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samples::geotiff::{self as sample, Crs, GeoTiffSpec, Placement};
    use std::io::Cursor;

    fn header(bytes: Vec<u8>) -> TiffHeader {
        read_tiff_header(Cursor::new(bytes)).unwrap()
    }

    #[test]
    fn reads_utm_tiepoint_and_scale() {
        let h = header(sample::geotiff_utm(300, 200, sample::UTM_33N, 500_000.0, 5_000_000.0, 10.0));
        assert_eq!((h.width, h.height), (300, 200));
        let g = georeference_from_tiff(&h).unwrap().unwrap();
        assert_eq!(g.epsg, 32633);
        assert_eq!(g.raster_type, RasterType::PixelIsArea);
        assert_eq!(g.transform.apply(0.0, 0.0), (500_000.0, 5_000_000.0));
        assert_eq!(g.transform.apply(300.0, 200.0), (503_000.0, 4_998_000.0));
    }

    #[test]
    fn reads_geographic_code_from_geographic_model() {
        let h = header(sample::geotiff_wgs84(10, 10, 12.5, 41.75, 0.25));
        let g = georeference_from_tiff(&h).unwrap().unwrap();
        assert_eq!(g.epsg, 4326);
        assert_eq!(g.transform.apply(10.0, 10.0), (15.0, 39.25));
    }

    #[test]
    fn model_transformation_wins_and_allows_rotation() {
        let bytes = sample::geotiff(&GeoTiffSpec {
            width: 20,
            height: 10,
            crs: Crs::Projected(32633),
            placement: Placement::Transformation { affine: [8.0, 6.0, 400_000.0, 6.0, -8.0, 6_000_000.0] },
            pixel_is_point: false,
        });
        let g = georeference_from_tiff(&header(bytes)).unwrap().unwrap();
        assert_eq!(g.transform, Affine { a: 8.0, b: 6.0, c: 400_000.0, d: 6.0, e: -8.0, f: 6_000_000.0 });
    }

    #[test]
    fn pixel_is_point_moves_the_corner_half_a_pixel() {
        let bytes = sample::geotiff(&GeoTiffSpec {
            width: 4,
            height: 4,
            crs: Crs::Projected(32633),
            placement: Placement::TiepointScale { origin_x: 1000.0, origin_y: 2000.0, pixel_x: 10.0, pixel_y: 10.0 },
            pixel_is_point: true,
        });
        let g = georeference_from_tiff(&header(bytes)).unwrap().unwrap();
        assert_eq!(g.raster_type, RasterType::PixelIsPoint);
        assert_eq!(g.transform.apply(0.0, 0.0), (995.0, 2005.0));
    }

    #[test]
    fn plain_tiff_has_no_georeferencing() {
        let h = header(sample::plain_tiff(8, 8));
        assert!(!h.tags.any());
        assert_eq!(georeference_from_tiff(&h).unwrap(), None);
    }

    #[test]
    fn keys_without_placement_or_code_are_errors() {
        let base = TiffHeader { width: 2, height: 2, tags: GeoTiffTags::default() };
        let only_keys = TiffHeader { tags: GeoTiffTags { geokeys: Some(vec![1, 1, 0, 1, 3072, 0, 1, 32633]), ..Default::default() }, ..base.clone() };
        assert_eq!(georeference_from_tiff(&only_keys), Err(GeorefError::NoPlacement));

        let placed =
            GeoTiffTags { pixel_scale: Some(vec![1.0, 1.0, 0.0]), tiepoints: Some(vec![0.0, 0.0, 0.0, 10.0, 20.0, 0.0]), ..Default::default() };
        let no_keys = TiffHeader { tags: placed.clone(), ..base.clone() };
        assert_eq!(georeference_from_tiff(&no_keys), Err(GeorefError::NoEpsgCode));

        let user_defined =
            TiffHeader { tags: GeoTiffTags { geokeys: Some(vec![1, 1, 0, 2, 1024, 0, 1, 1, 3072, 0, 1, 32767]), ..placed.clone() }, ..base.clone() };
        assert_eq!(georeference_from_tiff(&user_defined), Err(GeorefError::UserDefinedCrs("projected")));

        let gcps = TiffHeader {
            tags: GeoTiffTags {
                tiepoints: Some(vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 5.0, 5.0, 0.0, 2.0, 2.0, 0.0]),
                geokeys: Some(vec![1, 1, 0, 1, 2048, 0, 1, 4326]),
                ..Default::default()
            },
            ..base.clone()
        };
        assert_eq!(georeference_from_tiff(&gcps), Err(GeorefError::GroundControlPoints(2)));

        let flat = TiffHeader {
            tags: GeoTiffTags { pixel_scale: Some(vec![0.0, 1.0, 0.0]), geokeys: Some(vec![1, 1, 0, 1, 2048, 0, 1, 4326]), ..placed },
            ..base
        };
        assert!(matches!(georeference_from_tiff(&flat), Err(GeorefError::DegenerateTransform(_))));
    }

    #[test]
    fn truncated_geokey_directory_is_malformed() {
        let h = TiffHeader {
            width: 2,
            height: 2,
            tags: GeoTiffTags {
                transformation: Some(vec![1.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]),
                geokeys: Some(vec![1, 1, 0, 2, 1024, 0, 1, 1]),
                ..Default::default()
            },
        };
        assert!(matches!(georeference_from_tiff(&h), Err(GeorefError::MalformedTag { tag: "GeoKeyDirectoryTag", .. })));
    }

    #[test]
    fn not_a_tiff_is_unreadable() {
        assert!(!is_tiff(b"\xFF\xD8\xFF\xE0"));
        assert!(is_tiff(&sample::plain_tiff(1, 1)));
        assert!(matches!(read_tiff_header(Cursor::new(b"II*\0garbage".to_vec())), Err(GeorefError::UnreadableTiff(_))));
    }

    #[test]
    fn world_file_is_shifted_to_pixel_corners() {
        let t = parse_world_file("scene.jgw", &sample::world_file(10.0, 50.0, 0.5)).unwrap();
        assert_eq!(t.apply(0.0, 0.0), (10.0, 50.0));
        assert_eq!(t.apply(4.0, 2.0), (12.0, 49.0));
        let err = parse_world_file("scene.jgw", "1\n0\n0\n-1\n10\n").unwrap_err();
        assert_eq!(err.to_string(), "world file scene.jgw: 5 numbers, 6 expected (A D B E C F)");
        assert!(parse_world_file("scene.jgw", "1 0 0 -1 x 5").unwrap_err().to_string().contains("\"x\" is not a number"));
    }

    #[test]
    fn world_file_epsg_defaults_to_4326_or_comes_from_prj() {
        let world = sample::world_file(500_000.0, 5_000_000.0, 10.0);
        let g = georeference_from_world_file(100, 50, ("a.tfw", &world), None).unwrap();
        assert_eq!(g.epsg, WORLD_FILE_DEFAULT_EPSG);
        let wkt = r#"PROJCS["WGS 84 / UTM zone 33N",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]],PROJECTION["Transverse_Mercator"],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AUTHORITY["EPSG","32633"]]"#;
        let g = georeference_from_world_file(100, 50, ("a.tfw", &world), Some(("a.prj", wkt))).unwrap();
        assert_eq!(g.epsg, 32633);
        assert_eq!(g.source, GeorefSource::WorldFile { world_file: "a.tfw".into(), prj: Some("a.prj".into()) });
    }

    #[test]
    fn prj_forms() {
        assert_eq!(parse_prj_epsg("p", "epsg:32718\n"), Ok(32718));
        assert_eq!(parse_prj_epsg("p", r#"PROJCRS["x", BASEGEOGCRS["y", ID["EPSG", 4326]], ID["EPSG", 32633]]"#), Ok(32633));
        assert_eq!(parse_prj_epsg("p", "PROJCS[\"custom\"]"), Err(GeorefError::BadPrj { name: "p".into() }));
    }

    #[test]
    fn sidecar_names() {
        assert_eq!(world_file_keys("d/scene.tif"), ["d/scene.tfw", "d/scene.tifw", "d/scene.wld"]);
        assert_eq!(world_file_keys("d/scene.JPG"), ["d/scene.JGW", "d/scene.JPGW", "d/scene.WLD"]);
        assert_eq!(world_file_keys("d.x/scene"), ["d.x/scene.wld"]);
        assert_eq!(world_file_keys(".hidden"), [".hidden.wld"]);
        assert_eq!(prj_key("a/b.png"), "a/b.prj");
    }
}
