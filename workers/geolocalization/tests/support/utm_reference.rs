//! Test oracle: inverse UTM (WGS84) by Krüger's series in the third flattening n (Karney 2011,
//! "Transverse Mercator with an accuracy of a few nanometers", eqs. 6-11, terms to n³:
//! truncation error well under a millimetre within a UTM zone). Written from the published
//! formulas, not from any projection library, so the worker's reprojection (proj4rs) is checked
//! against an independent computation. Shared by the unit tests (`#[path]`) and the end-to-end
//! tests.

/// Semi-major axis of WGS84, metres.
const A: f64 = 6_378_137.0;
/// Flattening of WGS84.
const F: f64 = 1.0 / 298.257_223_563;
/// UTM scale on the central meridian.
const K0: f64 = 0.9996;

/// `[lon, lat]` in degrees of (`easting`, `northing`) in UTM `zone` of the given hemisphere.
pub fn utm_to_lonlat(zone: u32, north: bool, easting: f64, northing: f64) -> [f64; 2] {
    let n = F / (2.0 - F);
    let rectifying_radius = A / (1.0 + n) * (1.0 + n * n / 4.0 + n.powi(4) / 64.0);
    let beta = [n / 2.0 - 2.0 * n * n / 3.0 + 37.0 * n.powi(3) / 96.0, n * n / 48.0 + n.powi(3) / 15.0, 17.0 * n.powi(3) / 480.0];
    let delta = [2.0 * n - 2.0 * n * n / 3.0 - 2.0 * n.powi(3), 7.0 * n * n / 3.0 - 8.0 * n.powi(3) / 5.0, 56.0 * n.powi(3) / 15.0];
    let false_northing = if north { 0.0 } else { 10_000_000.0 };
    let xi = (northing - false_northing) / (K0 * rectifying_radius);
    let eta = (easting - 500_000.0) / (K0 * rectifying_radius);
    let (mut xi_p, mut eta_p) = (xi, eta);
    for (j, b) in beta.iter().enumerate() {
        let k = 2.0 * (j as f64 + 1.0);
        xi_p -= b * (k * xi).sin() * (k * eta).cosh();
        eta_p -= b * (k * xi).cos() * (k * eta).sinh();
    }
    // Conformal latitude, then geodetic latitude by the δ series.
    let chi = (xi_p.sin() / eta_p.cosh()).asin();
    let mut phi = chi;
    for (j, d) in delta.iter().enumerate() {
        phi += d * (2.0 * (j as f64 + 1.0) * chi).sin();
    }
    let central_meridian = f64::from(zone) * 6.0 - 183.0;
    [central_meridian + eta_p.sinh().atan2(xi_p.cos()).to_degrees(), phi.to_degrees()]
}

/// Zone and hemisphere of a WGS84 UTM EPSG code (326zz north, 327zz south).
pub fn utm_zone(epsg: u32) -> (u32, bool) {
    match epsg {
        32601..=32660 => (epsg - 32600, true),
        32701..=32760 => (epsg - 32700, false),
        other => panic!("EPSG:{other} is not a WGS84 UTM zone"),
    }
}

/// Asserts two `[lon, lat]` agree within `tolerance` degrees on both axes.
pub fn assert_close(actual: [f64; 2], expected: [f64; 2], tolerance: f64, what: &str) {
    let error = (actual[0] - expected[0]).abs().max((actual[1] - expected[1]).abs());
    assert!(error < tolerance, "{what}: {actual:?} vs {expected:?} (off by {error:e} deg)");
}
