//! From georeferencing to a WGS84 footprint: the four image corners and the centre go through
//! the raster-to-model transform, then from the source CRS to EPSG:4326 with `proj4rs` (CRS
//! definitions by EPSG code from `crs-definitions`, datum shifts included). The result is also
//! written as a GeoJSON Feature.
//!
//! Ground sample distance: for a projected CRS, the pixel's size in CRS units times the unit's
//! length in metres (grid distance, not corrected for the projection's scale factor); for a
//! geographic CRS, the pixel's size in degrees converted to metres on the WGS84 ellipsoid at
//! the centre's latitude.

use crate::georef::{GeorefSource, Georeference};
use contracts::ObjectRef;
use geojson::{Feature, Geometry, GeometryValue, JsonObject, JsonValue};
use proj4rs::Proj;
use serde_json::json;

/// EPSG code of WGS84 longitude/latitude, the footprint's CRS.
pub const WGS84_EPSG: u32 = 4326;

/// Semi-major axis of the WGS84 ellipsoid, metres.
const WGS84_A: f64 = 6_378_137.0;
/// Flattening of the WGS84 ellipsoid.
const WGS84_F: f64 = 1.0 / 298.257_223_563;

/// Why a footprint cannot be computed. Every variant is a property of the input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FootprintError {
    /// No CRS definition is known for the code.
    #[error(
        "EPSG:{0} is not a known coordinate reference system (supported: codes of the EPSG registry with a PROJ definition, e.g. 4326 and the WGS 84 UTM zones 32601-32660 and 32701-32760)"
    )]
    UnknownEpsg(u32),
    /// The code is known but its definition cannot be used (e.g. it needs a datum grid file).
    #[error("EPSG:{epsg} is not supported: {reason}")]
    UnsupportedCrs {
        /// The code.
        epsg: u32,
        /// Why.
        reason: String,
    },
    /// A corner or the centre falls outside the CRS's valid area.
    #[error("{point} ({x}, {y}) in EPSG:{epsg} cannot be converted to WGS84: {reason}")]
    OutOfDomain {
        /// The code.
        epsg: u32,
        /// Which point (`upper-left corner`, `centre`, ...).
        point: &'static str,
        /// Model x.
        x: f64,
        /// Model y.
        y: f64,
        /// Why.
        reason: String,
    },
}

/// The footprint of an image in WGS84.
#[derive(Debug, Clone, PartialEq)]
pub struct FootprintGeometry {
    /// `[lon, lat]` of the upper-left, upper-right, lower-right and lower-left image corners.
    pub corners: [[f64; 2]; 4],
    /// `[lon, lat]` of the image centre.
    pub center: [f64; 2],
    /// Ground sample distance along columns and rows, metres per pixel.
    pub gsd_m: [f64; 2],
}

/// Names of the corners, in [`FootprintGeometry::corners`] order.
pub const CORNER_NAMES: [&str; 4] = ["upper_left", "upper_right", "lower_right", "lower_left"];

/// Computes the WGS84 footprint of `georef`.
pub fn compute(georef: &Georeference) -> Result<FootprintGeometry, FootprintError> {
    let (w, h) = (f64::from(georef.width), f64::from(georef.height));
    let t = &georef.transform;
    let model_corners = [t.apply(0.0, 0.0), t.apply(w, 0.0), t.apply(w, h), t.apply(0.0, h)];
    let model_center = t.apply(w / 2.0, h / 2.0);
    let to_wgs84 = ToWgs84::new(georef.epsg)?;

    let center = to_wgs84.point("centre", model_center)?;
    let mut corners = [[0.0; 2]; 4];
    for ((corner, model), name) in
        corners.iter_mut().zip(model_corners).zip(["upper-left corner", "upper-right corner", "lower-right corner", "lower-left corner"])
    {
        let [lon, lat] = to_wgs84.point(name, model)?;
        // Keep the ring continuous across the antimeridian: longitudes within 180° of the
        // centre (they may then leave [-180, 180], which GeoJSON readers accept).
        *corner = [unwrap_longitude(lon, center[0]), lat];
    }

    let gsd_m = match to_wgs84.units {
        Units::Metres(to_meter) => [t.a.hypot(t.d) * to_meter, t.b.hypot(t.e) * to_meter],
        Units::Degrees => {
            let (per_lon, per_lat) = metres_per_degree(center[1]);
            [(t.a * per_lon).hypot(t.d * per_lat), (t.b * per_lon).hypot(t.e * per_lat)]
        }
    };
    Ok(FootprintGeometry { corners, center, gsd_m })
}

/// Metres per degree of longitude and of latitude on the WGS84 ellipsoid at `lat_deg`
/// (radii of curvature in the prime vertical and the meridian).
pub fn metres_per_degree(lat_deg: f64) -> (f64, f64) {
    let e2 = WGS84_F * (2.0 - WGS84_F);
    let phi = lat_deg.to_radians();
    let w = (1.0 - e2 * phi.sin().powi(2)).sqrt();
    let prime_vertical = WGS84_A / w;
    let meridional = WGS84_A * (1.0 - e2) / (w * w * w);
    (prime_vertical * phi.cos() * std::f64::consts::PI / 180.0, meridional * std::f64::consts::PI / 180.0)
}

fn unwrap_longitude(lon: f64, reference: f64) -> f64 {
    let mut lon = lon;
    while lon - reference > 180.0 {
        lon -= 360.0;
    }
    while lon - reference < -180.0 {
        lon += 360.0;
    }
    lon
}

enum Units {
    /// Projected: model units are this many metres.
    Metres(f64),
    /// Geographic: model units are degrees.
    Degrees,
}

/// A conversion from one EPSG CRS to WGS84 longitude/latitude in degrees.
struct ToWgs84 {
    epsg: u32,
    /// `None` for EPSG:4326 itself: its coordinates pass through untouched (exact).
    projs: Option<(Proj, Proj)>,
    units: Units,
}

impl ToWgs84 {
    fn new(epsg: u32) -> Result<Self, FootprintError> {
        if epsg == WGS84_EPSG {
            return Ok(Self { epsg, projs: None, units: Units::Degrees });
        }
        // crs-definitions indexes 16-bit codes; larger ones are unknown to it.
        let code = u16::try_from(epsg).map_err(|_| FootprintError::UnknownEpsg(epsg))?;
        let source = Proj::from_epsg_code(code).map_err(|e| match e {
            proj4rs::errors::Error::ProjectionNotFound => FootprintError::UnknownEpsg(epsg),
            other => FootprintError::UnsupportedCrs { epsg, reason: other.to_string() },
        })?;
        if source.is_geocent() {
            return Err(FootprintError::UnsupportedCrs { epsg, reason: "geocentric CRS, not a map projection".into() });
        }
        let target =
            Proj::from_epsg_code(WGS84_EPSG as u16).map_err(|e| FootprintError::UnsupportedCrs { epsg: WGS84_EPSG, reason: e.to_string() })?;
        let units = if source.is_latlong() { Units::Degrees } else { Units::Metres(source.to_meter()) };
        Ok(Self { epsg, projs: Some((source, target)), units })
    }

    fn point(&self, name: &'static str, (x, y): (f64, f64)) -> Result<[f64; 2], FootprintError> {
        let out_of_domain = |reason: String| FootprintError::OutOfDomain { epsg: self.epsg, point: name, x, y, reason };
        let [lon, lat] = match &self.projs {
            None => [x, y],
            Some((source, target)) => {
                // proj4rs works in radians for geographic coordinates.
                let geographic = source.is_latlong();
                let input = if geographic { (x.to_radians(), y.to_radians(), 0.0) } else { (x, y, 0.0) };
                let (lon, lat, _) = proj4rs::adaptors::transform_vertex_3d(source, target, input).map_err(|e| out_of_domain(e.to_string()))?;
                // Some inverse projections are periodic (transverse Mercator in northing), so a
                // point far outside the CRS's area still yields a plausible longitude/latitude.
                // Projecting back must give the input again, or the input was out of domain.
                let (back_x, back_y, _) =
                    proj4rs::adaptors::transform_vertex_3d(target, source, (lon, lat, 0.0)).map_err(|e| out_of_domain(e.to_string()))?;
                let (back_x, back_y) = if geographic { (back_x.to_degrees(), back_y.to_degrees()) } else { (back_x, back_y) };
                let dx = if geographic { unwrap_longitude(back_x, x) - x } else { back_x - x };
                let tolerance = 1e-7 * x.abs().max(y.abs()).max(1.0);
                if !(dx.abs() <= tolerance && (back_y - y).abs() <= tolerance) {
                    return Err(out_of_domain(format!("outside the area of the projection (projects back to ({back_x}, {back_y}))")));
                }
                [lon.to_degrees(), lat.to_degrees()]
            }
        };
        // proj4rs reports some failures as NaN rather than as errors.
        if !lon.is_finite() || !lat.is_finite() || lat.abs() > 90.0 {
            return Err(out_of_domain(format!("result ({lon}, {lat}) is not a valid longitude/latitude")));
        }
        Ok([lon, lat])
    }
}

/// The GeoJSON Feature of a footprint: a Polygon (closed ring, counter-clockwise as RFC 7946
/// asks for exterior rings) with `bbox`, and properties naming the image, its size, source
/// CRS, corners, centre and ground sample distance.
pub fn feature(image: &ObjectRef, georef: &Georeference, geometry: &FootprintGeometry) -> Feature {
    let c = geometry.corners;
    // Signed area (shoelace): positive when UL -> UR -> LR -> LL runs counter-clockwise, which
    // happens for mirrored images; a north-up image runs clockwise and is reversed.
    let twice_area: f64 = (0..4).map(|i| c[i][0] * c[(i + 1) % 4][1] - c[(i + 1) % 4][0] * c[i][1]).sum();
    let ring = if twice_area > 0.0 { [c[0], c[1], c[2], c[3], c[0]] } else { [c[0], c[3], c[2], c[1], c[0]] };
    let (min_lon, max_lon) = c.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p[0]), hi.max(p[0])));
    let (min_lat, max_lat) = c.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p[1]), hi.max(p[1])));

    let mut properties = JsonObject::new();
    properties.insert("image".into(), JsonValue::from(image.to_string()));
    properties.insert("width".into(), JsonValue::from(georef.width));
    properties.insert("height".into(), JsonValue::from(georef.height));
    properties.insert("source_epsg".into(), JsonValue::from(georef.epsg));
    properties.insert("raster_type".into(), JsonValue::from(georef.raster_type.as_str()));
    let source = match &georef.source {
        GeorefSource::GeoTiff => json!({ "kind": "geotiff" }),
        GeorefSource::WorldFile { world_file, prj } => {
            json!({ "kind": "world_file", "world_file": world_file, "prj": prj })
        }
    };
    properties.insert("georeferencing".into(), source);
    properties.insert("center".into(), json!(geometry.center));
    properties.insert("gsd_m".into(), json!(geometry.gsd_m));
    let corners: JsonObject = CORNER_NAMES.iter().zip(c).map(|(name, p)| ((*name).to_owned(), json!(p))).collect();
    properties.insert("corners".into(), JsonValue::Object(corners));

    Feature {
        bbox: Some(vec![min_lon, min_lat, max_lon, max_lat]),
        geometry: Some(Geometry::new(GeometryValue::new_polygon([ring]))),
        id: None,
        properties: Some(properties),
        foreign_members: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::georef::{Affine, RasterType};
    use crate::utm_reference::{assert_close, utm_to_lonlat};

    fn georef(epsg: u32, transform: Affine, width: u32, height: u32) -> Georeference {
        Georeference { width, height, epsg, transform, raster_type: RasterType::PixelIsArea, source: GeorefSource::GeoTiff }
    }

    #[test]
    fn independent_utm_inverse_matches_a_known_point() {
        // UTM 33N origin of the zone's central meridian on the equator, and 500 km north:
        // the latter from the meridian arc length (1° of latitude ≈ 110 574 m near the equator).
        assert_close(utm_to_lonlat(33, true, 500_000.0, 0.0), [15.0, 0.0], 1e-12, "zone origin");
        let lat = utm_to_lonlat(33, true, 500_000.0, 0.9996 * 110_574.388_6)[1];
        assert!((lat - 1.0).abs() < 1e-4, "{lat}");
    }

    #[test]
    fn utm_north_corners_match_the_independent_inverse() {
        let transform = Affine { a: 10.0, b: 0.0, c: 350_000.0, d: 0.0, e: -10.0, f: 5_600_000.0 };
        let g = georef(32633, transform, 4000, 3000);
        let fp = compute(&g).unwrap();
        let expected = [(350_000.0, 5_600_000.0), (390_000.0, 5_600_000.0), (390_000.0, 5_570_000.0), (350_000.0, 5_570_000.0)];
        for ((actual, (e, n)), name) in fp.corners.iter().zip(expected).zip(CORNER_NAMES) {
            assert_close(*actual, utm_to_lonlat(33, true, e, n), 1e-7, name);
        }
        assert_close(fp.center, utm_to_lonlat(33, true, 370_000.0, 5_585_000.0), 1e-7, "centre");
        assert_eq!(fp.gsd_m, [10.0, 10.0]);
    }

    #[test]
    fn utm_south_corners_match_the_independent_inverse() {
        let transform = Affine { a: 30.0, b: 0.0, c: 700_000.0, d: 0.0, e: -30.0, f: 8_500_000.0 };
        let fp = compute(&georef(32718, transform, 1000, 1000)).unwrap();
        assert_close(fp.corners[0], utm_to_lonlat(18, false, 700_000.0, 8_500_000.0), 1e-7, "upper-left");
        assert_close(fp.corners[2], utm_to_lonlat(18, false, 730_000.0, 8_470_000.0), 1e-7, "lower-right");
        assert!(fp.center[1] < 0.0);
    }

    #[test]
    fn wgs84_passes_through_exactly() {
        let transform = Affine { a: 0.25, b: 0.0, c: 12.5, d: 0.0, e: -0.25, f: 41.75 };
        let fp = compute(&georef(4326, transform, 10, 8)).unwrap();
        assert_eq!(fp.corners, [[12.5, 41.75], [15.0, 41.75], [15.0, 39.75], [12.5, 39.75]]);
        assert_eq!(fp.center, [13.75, 40.75]);
        let (per_lon, per_lat) = metres_per_degree(40.75);
        assert_eq!(fp.gsd_m, [0.25 * per_lon, 0.25 * per_lat]);
        // Published lengths of a degree on WGS84 (40°: 85 394 m of longitude, 111 035 m of
        // latitude; 41°: 84 137 m, 111 053 m), interpolated to 40.75°.
        assert!((per_lon - 84_451.0).abs() < 5.0, "{per_lon}");
        assert!((per_lat - 111_048.5).abs() < 5.0, "{per_lat}");
    }

    #[test]
    fn unknown_and_unrepresentable_codes_are_named() {
        let t = Affine { a: 1.0, b: 0.0, c: 0.0, d: 0.0, e: -1.0, f: 0.0 };
        assert_eq!(compute(&georef(65000, t, 2, 2)), Err(FootprintError::UnknownEpsg(65000)));
        assert_eq!(compute(&georef(99999, t, 2, 2)), Err(FootprintError::UnknownEpsg(99999)));
        assert!(FootprintError::UnknownEpsg(99999).to_string().starts_with("EPSG:99999 is not a known"));
    }

    #[test]
    fn footprint_outside_the_projection_domain_is_an_error() {
        // A northing of 90 000 km (the meridian is 20 000 km pole to pole): the periodic
        // inverse gives a plausible point, the round trip exposes it.
        let t = Affine { a: 10.0, b: 0.0, c: 500_000.0, d: 0.0, e: -10.0, f: 90_000_000.0 };
        let err = compute(&georef(32633, t, 10, 10)).unwrap_err();
        assert!(matches!(err, FootprintError::OutOfDomain { epsg: 32633, point: "centre", .. }), "{err}");
        // An easting 30 000 km from the central meridian: refused by the projection itself.
        let t = Affine { a: 10.0, b: 0.0, c: 30_000_000.0, d: 0.0, e: -10.0, f: 5_000_000.0 };
        assert!(matches!(compute(&georef(32633, t, 10, 10)), Err(FootprintError::OutOfDomain { epsg: 32633, .. })));
    }

    #[test]
    fn other_datums_and_units_go_through_proj() {
        // EPSG:4269 (NAD83 geographic, GRS80 with a null shift to WGS84): same coordinates to
        // well under a micro-degree.
        let t = Affine { a: 0.001, b: 0.0, c: -100.0, d: 0.0, e: -0.001, f: 40.0 };
        let fp = compute(&georef(4269, t, 100, 100)).unwrap();
        assert_close(fp.corners[0], [-100.0, 40.0], 1e-9, "NAD83 upper-left");
        // EPSG:3857 (web Mercator, spherical): x = R·λ, y = R·ln(tan(π/4 + φ/2)) with R = a.
        let (lon, lat) = (12.0_f64, 45.0_f64);
        let x = WGS84_A * lon.to_radians();
        let y = WGS84_A * (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0).tan().ln();
        let t = Affine { a: 5.0, b: 0.0, c: x, d: 0.0, e: -5.0, f: y };
        let fp = compute(&georef(3857, t, 10, 10)).unwrap();
        assert_close(fp.corners[0], [lon, lat], 1e-9, "web Mercator upper-left");
        assert_eq!(fp.gsd_m, [5.0, 5.0]);
    }

    #[test]
    fn feature_ring_is_closed_counter_clockwise_with_properties() {
        let transform = Affine { a: 0.5, b: 0.0, c: 10.0, d: 0.0, e: -0.5, f: 50.0 };
        let g = georef(4326, transform, 4, 2);
        let fp = compute(&g).unwrap();
        let image: ObjectRef = "s3://fleet-inputs/sat/a.tif".parse().unwrap();
        let value = serde_json::to_value(feature(&image, &g, &fp)).unwrap();
        assert_eq!(value["type"], "Feature");
        assert_eq!(value["geometry"]["type"], "Polygon");
        assert_eq!(value["geometry"]["coordinates"], json!([[[10.0, 50.0], [10.0, 49.0], [12.0, 49.0], [12.0, 50.0], [10.0, 50.0]]]));
        assert_eq!(value["bbox"], json!([10.0, 49.0, 12.0, 50.0]));
        assert_eq!(value["properties"]["image"], "s3://fleet-inputs/sat/a.tif");
        assert_eq!(value["properties"]["source_epsg"], 4326);
        assert_eq!(value["properties"]["center"], json!([11.0, 49.5]));
        assert_eq!(value["properties"]["corners"]["lower_right"], json!([12.0, 49.0]));
        assert_eq!((value["properties"]["width"].as_u64(), value["properties"]["height"].as_u64()), (Some(4), Some(2)));
    }

    #[test]
    fn antimeridian_footprint_stays_continuous() {
        // UTM zone 60S (central meridian 177°E): the eastern half of this strip lies past 180°,
        // where proj4rs wraps longitudes to -180; the ring must not jump across the globe.
        let utm = Affine { a: 100.0, b: 0.0, c: 800_000.0, d: 0.0, e: -100.0, f: 8_200_000.0 };
        let fp = compute(&georef(32760, utm, 1000, 10)).unwrap();
        let width_deg = fp.corners[1][0] - fp.corners[0][0];
        assert!(width_deg > 0.5 && width_deg < 1.5, "{:?}", fp.corners);
        assert!((fp.center[0] - fp.corners[0][0]) > 0.0 && (fp.corners[1][0] - fp.center[0]) > 0.0, "{fp:?}");
    }
}
