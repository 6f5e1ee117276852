//! An image's georeferencing as GDAL reads it: the size, the affine geotransform (from GeoTIFF
//! tags, JPEG 2000 boxes, a `.aux.xml` or a world file: whatever GDAL's driver finds) and the
//! coordinate reference system, identified by its EPSG code where it has one.
//!
//! GDAL reads every sidecar it knows except one: the `.prj` of a world-file image (GDAL's
//! JPEG, PNG and GeoTIFF drivers ignore it). The worker reads that one itself and parses it with
//! OGR (WKT1, WKT2, ESRI WKT, PROJ strings, `EPSG:n`); the raster's own CRS wins when it has
//! one. A world file with no CRS anywhere is taken to be in WGS 84 longitude/latitude, and only
//! when its coordinates fit that CRS.

use gdal::Dataset;
use gdal::Metadata;
use gdal::spatial_ref::{AxisMappingStrategy, SpatialRef};

/// EPSG code of WGS 84 longitude/latitude.
pub const WGS84_EPSG: u32 = 4326;

/// Why an image's georeferencing cannot be used. Every variant is a property of the input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GeorefError {
    /// GDAL finds no affine placement (no GeoTIFF tags, JP2 boxes, `.aux.xml` or world file).
    #[error("no georeferencing: GDAL ({driver}) finds no geotransform in the file (GeoTIFF tags, JPEG 2000 boxes) nor in a sidecar ({looked_for})")]
    NoGeoreferencing {
        /// GDAL's driver for the file.
        driver: String,
        /// The sidecars that would have placed it.
        looked_for: String,
    },
    /// Only ground control points: a warp, not an affine placement.
    #[error("{0} ground control points and no geotransform: an affine georeferencing is required")]
    GroundControlPointsOnly(usize),
    /// A geotransform that collapses the image onto a line, or is not finite.
    #[error("degenerate geotransform {0:?}")]
    DegenerateTransform([f64; 6]),
    /// A geotransform but no CRS, and coordinates that cannot be longitude/latitude.
    #[error(
        "placed by a world file or geotransform but no CRS is known (no CRS in the file, no {prj}), and its coordinates are not WGS 84 longitude/latitude: add a .prj sidecar"
    )]
    NoCrs {
        /// The `.prj` sidecar name looked for.
        prj: String,
    },
    /// The `.prj` sidecar cannot be parsed.
    #[error("projection file {name}: {reason}")]
    BadPrj {
        /// The sidecar.
        name: String,
        /// What OGR said.
        reason: String,
    },
    /// The raster is larger than the contract's `u32` sizes.
    #[error("raster size {0}x{1} is out of range")]
    Size(usize, usize),
}

/// Whether the geotransform places pixel corners (area) or centres (point), as the raster
/// says (`AREA_OR_POINT`); GDAL has already shifted PixelIsPoint rasters by half a pixel, as
/// `gdalinfo` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RasterType {
    /// `Area` (the default).
    PixelIsArea,
    /// `Point`.
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

/// Where the CRS came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrsSource {
    /// The raster itself (GeoTIFF keys, JP2 boxes, `.aux.xml`).
    Raster,
    /// The `.prj` sidecar of that name.
    Prj(String),
    /// Nothing: WGS 84 longitude/latitude assumed for a world file whose coordinates fit it.
    AssumedWgs84,
}

impl CrsSource {
    /// `raster`, `prj` or `assumed_wgs84`, as written in the GeoJSON properties.
    pub fn as_str(&self) -> &'static str {
        match self {
            CrsSource::Raster => "raster",
            CrsSource::Prj(_) => "prj",
            CrsSource::AssumedWgs84 => "assumed_wgs84",
        }
    }
}

/// The CRS of the raster's coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct CrsInfo {
    /// EPSG code, when the CRS is (or is identified as) one.
    pub epsg: Option<u32>,
    /// Its name (`WGS 84 / UTM zone 33N`).
    pub name: String,
    /// WKT2 (2019) text.
    pub wkt2: String,
    /// Geographic (degrees) rather than projected.
    pub geographic: bool,
    /// Projected: metres per unit of the CRS's axes.
    pub metres_per_unit: f64,
    /// Geographic: degrees per unit of the CRS's axes (1 for degrees).
    pub degrees_per_unit: f64,
    /// Where it came from.
    pub source: CrsSource,
}

/// When the image was taken, as the file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureTime {
    /// RFC 3339 in UTC.
    pub rfc3339: String,
    /// The metadata item it came from (`TIFFTAG_DATETIME`, `EXIF_DateTimeOriginal`).
    pub source: &'static str,
}

/// An image's complete georeferencing.
#[derive(Debug, Clone, PartialEq)]
pub struct Georeference {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// GDAL's geotransform: `x = gt[0] + col*gt[1] + row*gt[2]`, `y = gt[3] + col*gt[4] + row*gt[5]`
    /// for pixel-corner coordinates (`col`, `row`).
    pub geo_transform: [f64; 6],
    /// The CRS of `x`, `y`.
    pub crs: CrsInfo,
    /// Area or point, as the file says.
    pub raster_type: RasterType,
    /// GDAL's driver (`GTiff`, `JP2OpenJPEG`, `PNG`, `JPEG`, ...).
    pub driver: String,
    /// A Cloud Optimized GeoTIFF (GDAL's `LAYOUT=COG`).
    pub cloud_optimized: bool,
    /// Capture time from the file's metadata, when it has one.
    pub capture_time: Option<CaptureTime>,
    /// Sidecars GDAL or the worker could use (names of existing `.aux.xml`, world files, `.prj`).
    pub sidecars: Vec<String>,
}

impl Georeference {
    /// Model coordinates of pixel-corner position (`col`, `row`), as `gdalinfo` computes them.
    pub fn model(&self, col: f64, row: f64) -> (f64, f64) {
        let gt = &self.geo_transform;
        (gt[0] + gt[1] * col + gt[2] * row, gt[3] + gt[4] * col + gt[5] * row)
    }
}

/// A `.prj` sidecar: its name and text.
#[derive(Debug, Clone)]
pub struct PrjSidecar {
    /// `s3://bucket/scene.prj`.
    pub name: String,
    /// Its content.
    pub text: String,
}

/// The file-name suffixes GDAL reads as sidecars of `file_name` (world files, `.aux.xml`), plus
/// the `.prj` the worker reads: the names to list in the error when none places the image.
pub fn sidecar_names(file_name: &str) -> Vec<String> {
    let (stem, extension) = split_extension(file_name);
    let mut names = Vec::new();
    let mut chars = extension.chars();
    if let (Some(first), Some(last)) = (chars.next(), chars.next_back()) {
        names.push(format!("{stem}.{first}{last}w"));
    }
    if !extension.is_empty() {
        names.push(format!("{stem}.{extension}w"));
    }
    names.push(format!("{stem}.wld"));
    names.push(format!("{file_name}.aux.xml"));
    names.push(format!("{stem}.prj"));
    names.dedup();
    names
}

/// `("scene", "tif")` for `scene.tif`; no extension when the name has no dot.
pub fn split_extension(file_name: &str) -> (&str, &str) {
    match file_name.rfind('.') {
        Some(dot) if dot > 0 => (&file_name[..dot], &file_name[dot + 1..]),
        _ => (file_name, ""),
    }
}

/// The `.prj` among `siblings` (file names) for `file_name`, matched case-insensitively as GDAL
/// matches its own sidecars.
pub fn prj_sibling<'a>(file_name: &str, siblings: &'a [String]) -> Option<&'a String> {
    let wanted = format!("{}.prj", split_extension(file_name).0).to_ascii_lowercase();
    siblings.iter().find(|name| name.to_ascii_lowercase() == wanted)
}

/// The sidecars among `siblings` that can georeference `file_name`.
pub fn present_sidecars(file_name: &str, siblings: &[String]) -> Vec<String> {
    let wanted: Vec<String> = sidecar_names(file_name).iter().map(|n| n.to_ascii_lowercase()).collect();
    siblings.iter().filter(|name| wanted.contains(&name.to_ascii_lowercase())).cloned().collect()
}

/// Whether GDAL sees any georeferencing at all (a geotransform, GCPs or a CRS): what makes an
/// image a satellite image.
pub fn is_georeferenced(dataset: &Dataset) -> bool {
    dataset.geo_transform().is_ok() || !dataset.gcps().is_empty() || dataset.spatial_ref().is_ok()
}

/// Reads the georeferencing of `dataset` (opened from `file_name`, with `siblings` beside it and
/// `prj` the content of its `.prj` sidecar if there is one). Returns the plain description and
/// the CRS as OGR holds it (traditional GIS axis order: x east, y north), for the footprint.
pub fn read(dataset: &Dataset, file_name: &str, siblings: &[String], prj: Option<&PrjSidecar>) -> Result<(Georeference, SpatialRef), GeorefError> {
    let (width, height) = dataset.raster_size();
    let driver = dataset.driver().short_name();
    let size_error = || GeorefError::Size(width, height);
    let (width, height) = (u32::try_from(width).map_err(|_| size_error())?, u32::try_from(height).map_err(|_| size_error())?);

    let geo_transform = match dataset.geo_transform() {
        Ok(gt) => gt,
        Err(_) => {
            let gcps = dataset.gcps().len();
            if gcps > 0 {
                return Err(GeorefError::GroundControlPointsOnly(gcps));
            }
            return Err(GeorefError::NoGeoreferencing { driver, looked_for: sidecar_names(file_name).join(", ") });
        }
    };
    let determinant = geo_transform[1] * geo_transform[5] - geo_transform[2] * geo_transform[4];
    if !geo_transform.iter().all(|v| v.is_finite()) || determinant == 0.0 || !determinant.is_finite() {
        return Err(GeorefError::DegenerateTransform(geo_transform));
    }

    let (mut srs, source) = match (dataset.spatial_ref(), prj) {
        (Ok(srs), _) => (srs, CrsSource::Raster),
        (Err(_), Some(prj)) => (parse_prj(prj)?, CrsSource::Prj(prj.name.clone())),
        (Err(_), None) => {
            let corners = [(0.0, 0.0), (f64::from(width), 0.0), (f64::from(width), f64::from(height)), (0.0, f64::from(height))];
            let fits = corners.iter().all(|&(col, row)| {
                let (x, y) = (
                    geo_transform[0] + geo_transform[1] * col + geo_transform[2] * row,
                    geo_transform[3] + geo_transform[4] * col + geo_transform[5] * row,
                );
                (-180.0..=180.0).contains(&x) && (-90.0..=90.0).contains(&y)
            });
            if !fits {
                return Err(GeorefError::NoCrs { prj: format!("{}.prj", split_extension(file_name).0) });
            }
            let wgs84 = SpatialRef::from_epsg(WGS84_EPSG).map_err(|e| GeorefError::BadPrj { name: "EPSG:4326".into(), reason: e.to_string() })?;
            (wgs84, CrsSource::AssumedWgs84)
        }
    };
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let crs = describe(&srs, source);

    let raster_type = match dataset.metadata_item("AREA_OR_POINT", "").as_deref() {
        Some(value) if value.eq_ignore_ascii_case("point") => RasterType::PixelIsPoint,
        _ => RasterType::PixelIsArea,
    };
    let cloud_optimized = dataset.metadata_item("LAYOUT", "IMAGE_STRUCTURE").is_some_and(|layout| layout.eq_ignore_ascii_case("COG"));
    let georef = Georeference {
        width,
        height,
        geo_transform,
        crs,
        raster_type,
        driver,
        cloud_optimized,
        capture_time: capture_time(dataset),
        sidecars: present_sidecars(file_name, siblings),
    };
    Ok((georef, srs))
}

/// Parses a `.prj`: any form OGR's `SetFromUserInput` takes (WKT1, WKT2, ESRI WKT, PROJ string,
/// `EPSG:n`), else the older multi-line ESRI form.
fn parse_prj(prj: &PrjSidecar) -> Result<SpatialRef, GeorefError> {
    let text = prj.text.trim().trim_start_matches('\u{feff}');
    if text.is_empty() {
        return Err(GeorefError::BadPrj { name: prj.name.clone(), reason: "empty file".into() });
    }
    SpatialRef::from_definition(text)
        .or_else(|_| SpatialRef::from_esri(text))
        .map_err(|e| GeorefError::BadPrj { name: prj.name.clone(), reason: format!("not a CRS definition OGR understands ({e})") })
}

/// The plain description of `srs`.
fn describe(srs: &SpatialRef, source: CrsSource) -> CrsInfo {
    let geographic = srs.is_geographic();
    // OGR gives radians per angular unit; degrees per unit is what the geotransform needs.
    let degrees_per_unit = if geographic { srs.angular_units().to_degrees() } else { 1.0 };
    CrsInfo {
        epsg: epsg_code(srs),
        name: srs.name().unwrap_or_default(),
        wkt2: wkt2(srs),
        geographic,
        metres_per_unit: if geographic { 1.0 } else { srs.linear_units() },
        degrees_per_unit,
        source,
    }
}

/// The EPSG code of `srs`: its own identifier, else OGR's identification of the usual cases
/// (WGS 84 / NAD83 / NAD27 UTM zones and geographic CRSs). A `.prj` in ESRI form naming
/// another CRS keeps no code: the STAC Item then carries its WKT2.
fn epsg_code(srs: &SpatialRef) -> Option<u32> {
    let own = |srs: &SpatialRef| match srs.auth_name().as_deref() {
        Some(name) if name.eq_ignore_ascii_case("EPSG") => srs.auth_code().ok().and_then(|code| u32::try_from(code).ok()),
        _ => None,
    };
    own(srs).or_else(|| {
        let mut identified = srs.clone();
        identified.auto_identify_epsg().ok()?;
        own(&identified)
    })
}

/// WKT2 (2019) of `srs` (OGR exports WKT1 unless `OSR_WKT_FORMAT` says otherwise, here on
/// this thread only).
fn wkt2(srs: &SpatialRef) -> String {
    let set = gdal::config::set_thread_local_config_option("OSR_WKT_FORMAT", "WKT2_2019").is_ok();
    let wkt = srs.to_wkt().unwrap_or_default();
    if set {
        let _ = gdal::config::clear_thread_local_config_option("OSR_WKT_FORMAT");
    }
    wkt
}

/// The capture time the file records: EXIF `DateTimeOriginal` (with its offset and
/// sub-seconds when present), else TIFF `DateTime`. Neither TIFF nor EXIF without
/// `OffsetTimeOriginal` says its time zone: the time is then read as UTC, as rio-stac does.
fn capture_time(dataset: &Dataset) -> Option<CaptureTime> {
    let item = |key: &str| dataset.metadata_item(key, "").map(|v| v.trim().trim_end_matches('\0').to_owned()).filter(|v| !v.is_empty());
    if let Some(original) = item("EXIF_DateTimeOriginal")
        && let Some(rfc3339) = exif_to_rfc3339(&original, item("EXIF_SubSecTimeOriginal").as_deref(), item("EXIF_OffsetTimeOriginal").as_deref())
    {
        return Some(CaptureTime { rfc3339, source: "EXIF_DateTimeOriginal" });
    }
    let rfc3339 = exif_to_rfc3339(&item("TIFFTAG_DATETIME")?, None, None)?;
    Some(CaptureTime { rfc3339, source: "TIFFTAG_DATETIME" })
}

/// `YYYY:MM:DD HH:MM:SS` (TIFF and EXIF), optional sub-seconds digits and `±HH:MM` offset, as
/// RFC 3339 in UTC; `None` for anything else (blank or zeroed dates included).
pub fn exif_to_rfc3339(value: &str, subsec: Option<&str>, offset: Option<&str>) -> Option<String> {
    use time::format_description::well_known::Rfc3339;
    let bytes = value.as_bytes();
    if bytes.len() < 19 || bytes[4] != b':' || bytes[7] != b':' || !matches!(bytes[10], b' ' | b'T') || bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| value.get(range)?.parse::<u32>().ok();
    let month = time::Month::try_from(u8::try_from(number(5..7)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(number(0..4)?).ok()?, month, u8::try_from(number(8..10)?).ok()?).ok()?;
    let nanos = match subsec.map(str::trim).filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit())) {
        Some(digits) => {
            let digits: String = digits.chars().chain(std::iter::repeat('0')).take(9).collect();
            digits.parse::<u32>().ok()?
        }
        None => 0,
    };
    let clock = time::Time::from_hms_nano(
        u8::try_from(number(11..13)?).ok()?,
        u8::try_from(number(14..16)?).ok()?,
        u8::try_from(number(17..19)?).ok()?,
        nanos,
    )
    .ok()?;
    let offset = match offset.map(str::trim).filter(|s| !s.is_empty()) {
        Some(text) => {
            let sign: i8 = match text.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (hours, minutes) = text[1..].split_once(':')?;
            time::UtcOffset::from_hms(sign * hours.parse::<i8>().ok()?, sign * minutes.parse::<i8>().ok()?, 0).ok()?
        }
        None => time::UtcOffset::UTC,
    };
    let instant = time::PrimitiveDateTime::new(date, clock).assume_offset(offset).to_offset(time::UtcOffset::UTC);
    instant.format(&Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_names_follow_gdal() {
        assert_eq!(sidecar_names("scene.tif"), ["scene.tfw", "scene.tifw", "scene.wld", "scene.tif.aux.xml", "scene.prj"]);
        assert_eq!(sidecar_names("ortho.jpg")[0], "ortho.jgw");
        let siblings = vec!["scene.tif".to_owned(), "scene.TFW".to_owned(), "scene.PRJ".to_owned(), "scene2.tif".to_owned()];
        assert_eq!(present_sidecars("scene.tif", &siblings), ["scene.TFW", "scene.PRJ"]);
        assert_eq!(prj_sibling("scene.tif", &siblings).map(String::as_str), Some("scene.PRJ"));
        assert_eq!(prj_sibling("other.tif", &siblings), None);
    }

    #[test]
    fn capture_times_become_utc_rfc3339() {
        assert_eq!(exif_to_rfc3339("2024:06:01 12:34:56", None, None).as_deref(), Some("2024-06-01T12:34:56Z"));
        assert_eq!(exif_to_rfc3339("2024:06:01 12:34:56", Some("25"), Some("+02:00")).as_deref(), Some("2024-06-01T10:34:56.25Z"));
        assert_eq!(exif_to_rfc3339("2024:12:31 23:30:00", None, Some("-01:30")).as_deref(), Some("2025-01-01T01:00:00Z"));
        for bad in ["", "0000:00:00 00:00:00", "2024-06-01", "    :  :     :  :  ", "2024:13:01 00:00:00"] {
            assert_eq!(exif_to_rfc3339(bad, None, None), None, "{bad:?}");
        }
    }
}
