//! From georeferencing to a WGS 84 footprint, exactly as `gdalinfo -json` computes its
//! `wgs84Extent`: each corner's model coordinates from the geotransform, then OGR's
//! `OCTTransform` (PROJ underneath, with the datum transformations PROJ picks: NAD27, OSGB36,
//! ETRS89, ...) from the raster's CRS to `WGS84` in traditional GIS axis order, one point at a
//! time with z = 0.
//!
//! The GeoJSON follows RFC 7946: longitudes in [-180, 180], the exterior ring counter-clockwise,
//! and a footprint crossing the antimeridian cut there into a MultiPolygon (the cut point on
//! each crossing edge interpolated linearly in longitude/latitude, as RFC 7946 §3.1.9 shows)
//! whose `bbox` has west > east (§5.2).
//!
//! Ground sample distance: for a projected CRS, the pixel's size in CRS units times the unit's
//! length in metres (grid distance, not corrected for the projection's scale factor); for a
//! geographic CRS, the pixel's size in degrees converted to metres on the WGS 84 ellipsoid at
//! the centre's latitude.

use crate::georef::{CrsSource, Georeference};
use contracts::ObjectRef;
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use geojson::{Feature, Geometry, GeometryValue, JsonObject, JsonValue};
use serde_json::json;

/// Semi-major axis of the WGS 84 ellipsoid, metres.
const WGS84_A: f64 = 6_378_137.0;
/// Flattening of the WGS 84 ellipsoid.
const WGS84_F: f64 = 1.0 / 298.257_223_563;
/// `gdalinfo` reports a WGS 84 extent only for CRSs whose ellipsoid is this close to Earth's.
const EARTH_TOLERANCE_M: f64 = 10_000.0;

/// Why a footprint cannot be computed. Every variant is a property of the input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FootprintError {
    /// The CRS's ellipsoid is not Earth's (another body).
    #[error("the CRS {name:?} is not on Earth (semi-major axis {semi_major} m): no WGS 84 footprint")]
    NotEarth {
        /// The CRS.
        name: String,
        /// Its semi-major axis.
        semi_major: f64,
    },
    /// The CRS has no ellipsoid at all: GDAL did not know the raster's CRS (an EPSG code
    /// missing from its registry, a user-defined definition it could not complete) or it is a
    /// local engineering CRS.
    #[error("the CRS {name:?} has no ellipsoid (an EPSG code GDAL does not know, or a local engineering CRS): no WGS 84 footprint")]
    NoEllipsoid {
        /// The CRS.
        name: String,
    },
    /// OGR cannot build a transformation to WGS 84.
    #[error("no transformation from {name:?} to WGS 84: {reason}")]
    NoTransformation {
        /// The CRS.
        name: String,
        /// What OGR said.
        reason: String,
    },
    /// A corner or the centre falls outside the CRS's domain.
    #[error("{point} ({x}, {y}) cannot be converted to WGS 84: {reason}")]
    OutOfDomain {
        /// Which point (`upper-left corner`, `centre`, ...).
        point: &'static str,
        /// Model x.
        x: f64,
        /// Model y.
        y: f64,
        /// Why.
        reason: String,
    },
    /// The footprint goes around a pole: no longitude range describes it.
    #[error("the footprint encloses a pole; polar footprints are not supported")]
    EnclosesPole,
}

/// The footprint of an image in WGS 84.
#[derive(Debug, Clone, PartialEq)]
pub struct FootprintGeometry {
    /// `[lon, lat]` of the upper-left, upper-right, lower-right and lower-left image corners,
    /// longitudes in [-180, 180].
    pub corners: [[f64; 2]; 4],
    /// `[lon, lat]` of the image centre.
    pub center: [f64; 2],
    /// Ground sample distance along columns and rows, metres per pixel.
    pub gsd_m: [f64; 2],
}

/// Names of the corners, in [`FootprintGeometry::corners`] order.
pub const CORNER_NAMES: [&str; 4] = ["upper_left", "upper_right", "lower_right", "lower_left"];

/// Computes the WGS 84 footprint of `georef`, whose CRS OGR holds as `srs`.
pub fn compute(georef: &Georeference, srs: &SpatialRef) -> Result<FootprintGeometry, FootprintError> {
    let name = georef.crs.name.clone();
    let semi_major = srs.semi_major().unwrap_or(f64::NAN);
    if !semi_major.is_finite() || srs.is_local() {
        return Err(FootprintError::NoEllipsoid { name });
    }
    if (semi_major - WGS84_A).abs() >= EARTH_TOLERANCE_M {
        return Err(FootprintError::NotEarth { name, semi_major });
    }
    // `gdalinfo -json`: OSRSetWellKnownGeogCS("WGS84"), traditional GIS order.
    let mut wgs84 =
        SpatialRef::from_definition("WGS84").map_err(|e| FootprintError::NoTransformation { name: name.clone(), reason: e.to_string() })?;
    wgs84.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let transform = CoordTransform::new(srs, &wgs84).map_err(|e| FootprintError::NoTransformation { name, reason: e.to_string() })?;

    let (w, h) = (f64::from(georef.width), f64::from(georef.height));
    let to_wgs84 = |point: &'static str, (col, row): (f64, f64)| -> Result<[f64; 2], FootprintError> {
        let (x, y) = georef.model(col, row);
        let out_of_domain = |reason: String| FootprintError::OutOfDomain { point, x, y, reason };
        let (mut xs, mut ys, mut zs) = ([x], [y], [0.0]);
        transform.transform_coords(&mut xs, &mut ys, &mut zs).map_err(|e| out_of_domain(e.to_string()))?;
        let (lon, lat) = (xs[0], ys[0]);
        if !lon.is_finite() || !lat.is_finite() || lat.abs() > 90.0 {
            return Err(out_of_domain(format!("result ({lon}, {lat}) is not a longitude/latitude")));
        }
        Ok([wrap_longitude(lon), lat])
    };
    let corners = [
        to_wgs84("upper-left corner", (0.0, 0.0))?,
        to_wgs84("upper-right corner", (w, 0.0))?,
        to_wgs84("lower-right corner", (w, h))?,
        to_wgs84("lower-left corner", (0.0, h))?,
    ];
    let center = to_wgs84("centre", (w / 2.0, h / 2.0))?;

    let gt = &georef.geo_transform;
    let gsd_m = if georef.crs.geographic {
        let (per_lon, per_lat) = metres_per_degree(center[1]);
        let k = georef.crs.degrees_per_unit;
        [(gt[1] * k * per_lon).hypot(gt[4] * k * per_lat), (gt[2] * k * per_lon).hypot(gt[5] * k * per_lat)]
    } else {
        let unit = georef.crs.metres_per_unit;
        [gt[1].hypot(gt[4]) * unit, gt[2].hypot(gt[5]) * unit]
    };
    Ok(FootprintGeometry { corners, center, gsd_m })
}

/// Metres per degree of longitude and of latitude on the WGS 84 ellipsoid at `lat_deg`
/// (radii of curvature in the prime vertical and the meridian).
pub fn metres_per_degree(lat_deg: f64) -> (f64, f64) {
    let e2 = WGS84_F * (2.0 - WGS84_F);
    let phi = lat_deg.to_radians();
    let w = (1.0 - e2 * phi.sin().powi(2)).sqrt();
    let prime_vertical = WGS84_A / w;
    let meridional = WGS84_A * (1.0 - e2) / (w * w * w);
    (prime_vertical * phi.cos() * std::f64::consts::PI / 180.0, meridional * std::f64::consts::PI / 180.0)
}

/// `lon` in [-180, 180] (180 stays 180).
fn wrap_longitude(lon: f64) -> f64 {
    if (-180.0..=180.0).contains(&lon) { lon } else { (lon + 180.0).rem_euclid(360.0) - 180.0 }
}

/// The RFC 7946 geometry of a footprint and its `bbox` `[west, south, east, north]`: a Polygon,
/// or a MultiPolygon cut at the antimeridian (then west > east).
pub fn rfc7946_geometry(corners: &[[f64; 2]; 4]) -> Result<(GeometryValue, [f64; 4]), FootprintError> {
    // Unwrap: each vertex within 180° of longitude of the one before, so the ring is
    // continuous; a ring that does not close again went round a pole.
    let mut ring: Vec<[f64; 2]> = Vec::with_capacity(5);
    for &[lon, lat] in corners {
        let lon = match ring.last() {
            Some(&[previous, _]) => previous + (lon - previous + 180.0).rem_euclid(360.0) - 180.0,
            None => lon,
        };
        ring.push([lon, lat]);
    }
    let back_to_start = ring[3][0] + (corners[0][0] - ring[3][0] + 180.0).rem_euclid(360.0) - 180.0;
    if (back_to_start - ring[0][0]).abs() > 1e-9 {
        return Err(FootprintError::EnclosesPole);
    }
    ring.push(ring[0]);
    // Counter-clockwise exterior ring (signed area > 0).
    let twice_area: f64 = ring.windows(2).map(|p| p[0][0] * p[1][1] - p[1][0] * p[0][1]).sum();
    if twice_area < 0.0 {
        ring.reverse();
    }
    // Shift the whole ring so its western edge lies in [-180, 180).
    let west = ring.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min);
    let shift = wrap_longitude(west) - west;
    for point in &mut ring {
        point[0] += shift;
    }
    let east = ring.iter().map(|p| p[0]).fold(f64::NEG_INFINITY, f64::max);
    let west = west + shift;
    let (south, north) = ring.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p[1]), hi.max(p[1])));
    if east <= 180.0 {
        return Ok((GeometryValue::new_polygon([ring]), [west, south, east, north]));
    }
    let western_part = clip(&ring, |lon| lon <= 180.0);
    let mut eastern_part = clip(&ring, |lon| lon >= 180.0);
    for point in &mut eastern_part {
        point[0] -= 360.0;
    }
    Ok((GeometryValue::new_multi_polygon([[western_part], [eastern_part]]), [west, south, east - 360.0, north]))
}

/// The part of the closed `ring` on the side of the meridian 180° that `keep` accepts
/// (Sutherland-Hodgman against one line), closed again. Orientation is preserved.
fn clip(ring: &[[f64; 2]], keep: impl Fn(f64) -> bool) -> Vec<[f64; 2]> {
    let crossing = |a: [f64; 2], b: [f64; 2]| {
        let t = (180.0 - a[0]) / (b[0] - a[0]);
        [180.0, a[1] + t * (b[1] - a[1])]
    };
    let mut out: Vec<[f64; 2]> = Vec::with_capacity(ring.len() + 2);
    for edge in ring.windows(2) {
        let (a, b) = (edge[0], edge[1]);
        match (keep(a[0]), keep(b[0])) {
            (true, true) => out.push(b),
            (true, false) => out.push(crossing(a, b)),
            (false, true) => {
                out.push(crossing(a, b));
                out.push(b);
            }
            (false, false) => {}
        }
    }
    out.dedup();
    if let (Some(&first), Some(&last)) = (out.first(), out.last())
        && first != last
    {
        out.push(first);
    }
    out
}

/// The GeoJSON Feature of a footprint: the RFC 7946 geometry and `bbox`, and properties naming
/// the image, its size, CRS, corners, centre and ground sample distance.
pub fn feature(image: &ObjectRef, georef: &Georeference, geometry: &FootprintGeometry) -> Result<Feature, FootprintError> {
    let (value, bbox) = rfc7946_geometry(&geometry.corners)?;
    let mut properties = JsonObject::new();
    properties.insert("image".into(), JsonValue::from(image.to_string()));
    properties.insert("width".into(), JsonValue::from(georef.width));
    properties.insert("height".into(), JsonValue::from(georef.height));
    properties.insert("source_epsg".into(), json!(georef.crs.epsg));
    properties.insert("source_crs".into(), JsonValue::from(georef.crs.name.clone()));
    properties.insert("raster_type".into(), JsonValue::from(georef.raster_type.as_str()));
    let prj = match &georef.crs.source {
        CrsSource::Prj(name) => Some(name.clone()),
        _ => None,
    };
    properties.insert(
        "georeferencing".into(),
        json!({ "driver": georef.driver, "crs": georef.crs.source.as_str(), "prj": prj, "sidecars": georef.sidecars }),
    );
    properties.insert("center".into(), json!(geometry.center));
    properties.insert("gsd_m".into(), json!(geometry.gsd_m));
    let corners: JsonObject = CORNER_NAMES.iter().zip(geometry.corners).map(|(name, p)| ((*name).to_owned(), json!(p))).collect();
    properties.insert("corners".into(), JsonValue::Object(corners));
    Ok(Feature { bbox: Some(bbox.to_vec()), geometry: Some(Geometry::new(value)), id: None, properties: Some(properties), foreign_members: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rings(value: &GeometryValue) -> Vec<Vec<[f64; 2]>> {
        let polygon = |p: &Vec<Vec<geojson::Position>>| -> Vec<[f64; 2]> { p[0].iter().map(|q| [q[0], q[1]]).collect() };
        match value {
            GeometryValue::Polygon { coordinates } => vec![polygon(coordinates)],
            GeometryValue::MultiPolygon { coordinates } => coordinates.iter().map(polygon).collect(),
            other => panic!("{other:?}"),
        }
    }

    fn twice_area(ring: &[[f64; 2]]) -> f64 {
        ring.windows(2).map(|p| p[0][0] * p[1][1] - p[1][0] * p[0][1]).sum()
    }

    #[test]
    fn north_up_footprint_is_a_counter_clockwise_polygon() {
        let corners = [[10.0, 50.0], [12.0, 50.0], [12.0, 49.0], [10.0, 49.0]];
        let (value, bbox) = rfc7946_geometry(&corners).unwrap();
        let parts = rings(&value);
        // UL, LL, LR, UR, UL: the image's corners, counter-clockwise.
        assert_eq!(parts, [vec![[10.0, 50.0], [10.0, 49.0], [12.0, 49.0], [12.0, 50.0], [10.0, 50.0]]]);
        assert!(twice_area(&parts[0]) > 0.0);
        assert_eq!(bbox, [10.0, 49.0, 12.0, 50.0]);
        // A mirrored image (corners already counter-clockwise) keeps its order.
        let mirrored = [[10.0, 49.0], [12.0, 49.0], [12.0, 50.0], [10.0, 50.0]];
        assert!(twice_area(&rings(&rfc7946_geometry(&mirrored).unwrap().0)[0]) > 0.0);
    }

    #[test]
    fn antimeridian_footprint_is_cut_into_two_polygons() {
        // UL 178°E, UR 178.5°W: 3.5° wide across 180°.
        let corners = [[178.0, 52.0], [-178.5, 52.5], [-178.5, 50.5], [178.0, 50.0]];
        let (value, bbox) = rfc7946_geometry(&corners).unwrap();
        let parts = rings(&value);
        assert_eq!(parts.len(), 2, "{parts:?}");
        for ring in &parts {
            assert_eq!(ring.first(), ring.last());
            assert!(twice_area(ring) > 0.0, "counter-clockwise: {ring:?}");
            assert!(ring.iter().all(|p| (-180.0..=180.0).contains(&p[0])), "{ring:?}");
        }
        assert!(parts[0].iter().all(|p| p[0] >= 178.0), "western part east of 178: {:?}", parts[0]);
        assert!(parts[1].iter().all(|p| p[0] <= -178.5), "eastern part west of -178.5: {:?}", parts[1]);
        // The cut: the top edge from (178, 52) to (181.5, 52.5) meets 180 at 2/3.5 of the way.
        let top = 52.0 + 0.5 * 2.0 / 3.5;
        assert!(parts[0].iter().any(|p| p[0] == 180.0 && (p[1] - top).abs() < 1e-12), "{:?}", parts[0]);
        assert!(parts[1].iter().any(|p| p[0] == -180.0 && (p[1] - top).abs() < 1e-12), "{:?}", parts[1]);
        assert_eq!(bbox, [178.0, 50.0, -178.5, 52.5]);
        assert!(bbox[0] > bbox[2], "west > east across the antimeridian");
    }

    #[test]
    fn a_footprint_that_touches_180_stays_a_polygon_and_poles_are_refused() {
        let corners = [[179.0, 10.0], [180.0, 10.0], [180.0, 9.0], [179.0, 9.0]];
        let (value, bbox) = rfc7946_geometry(&corners).unwrap();
        assert!(matches!(value, GeometryValue::Polygon { .. }));
        assert_eq!(bbox, [179.0, 9.0, 180.0, 10.0]);
        // A square around the north pole: 0°, 90°E, 180°, 90°W at 80°N.
        let polar = [[0.0, 80.0], [90.0, 80.0], [180.0, 80.0], [-90.0, 80.0]];
        assert_eq!(rfc7946_geometry(&polar).unwrap_err(), FootprintError::EnclosesPole);
    }

    #[test]
    fn metres_per_degree_matches_published_values() {
        // Published lengths of a degree on WGS 84 at 40°: 85 394 m of longitude, 111 035 m of latitude.
        let (per_lon, per_lat) = metres_per_degree(40.0);
        assert!((per_lon - 85_394.0).abs() < 2.0, "{per_lon}");
        assert!((per_lat - 111_035.0).abs() < 2.0, "{per_lat}");
        assert_eq!(wrap_longitude(181.0), -179.0);
        assert_eq!(wrap_longitude(180.0), 180.0);
        assert_eq!(wrap_longitude(-540.0), -180.0);
    }
}
