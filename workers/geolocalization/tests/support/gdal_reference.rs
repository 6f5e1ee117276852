//! Test oracle: rasters made by GDAL's command-line tools (Debian `gdal-bin`) and the answers
//! `gdalinfo -json` gives for them, computed at test time. The worker's footprints are compared
//! with these: no coordinate is typed in by hand.

use anyhow::Context as _;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs one of GDAL's tools in `dir`, failing with its output when it fails.
pub fn gdal(dir: &Path, program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("running {program} (Debian gdal-bin; scripts/setup.sh installs it)"))?;
    anyhow::ensure!(
        output.status.success(),
        "{program} {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

/// `gdalinfo -json` of `file` in `dir`.
pub fn gdalinfo(dir: &Path, file: &str) -> anyhow::Result<Value> {
    Ok(serde_json::from_str(&gdal(dir, "gdalinfo", &["-json", file])?)?)
}

/// What `gdalinfo -json` says about a raster, in the footprint's terms.
#[derive(Debug, Clone)]
pub struct Reference {
    /// `wgs84Extent` corners `[lon, lat]`, reordered as the footprint's: upper-left,
    /// upper-right, lower-right, lower-left. `None` when gdalinfo gives no WGS 84 extent (no CRS).
    pub corners: Option<[[f64; 2]; 4]>,
    /// The upper-left corner of the 1x1 window at (width/2, height/2) cut by `gdal_translate
    /// -srcwin`: the centre of the raster, as gdalinfo transforms it.
    pub center: Option<[f64; 2]>,
    /// `size`: `[width, height]`.
    pub size: [u64; 2],
    /// `geoTransform`.
    pub geo_transform: [f64; 6],
    /// `stac` `proj:epsg`, when gdalinfo names one.
    pub epsg: Option<u64>,
}

fn wgs84_corners(info: &Value) -> anyhow::Result<Option<[[f64; 2]; 4]>> {
    let Some(ring) = info["wgs84Extent"]["coordinates"][0].as_array() else { return Ok(None) };
    let point = |i: usize| -> anyhow::Result<[f64; 2]> {
        let p = &ring[i];
        Ok([p[0].as_f64().context("lon")?, p[1].as_f64().context("lat")?])
    };
    // gdalinfo's ring: upperLeft, lowerLeft, lowerRight, upperRight, upperLeft.
    Ok(Some([point(0)?, point(3)?, point(2)?, point(1)?]))
}

/// The reference answers for `file` in `dir` (width and height even, so the centre is a pixel
/// corner `gdal_translate -srcwin` can cut at).
pub fn reference(dir: &Path, file: &str) -> anyhow::Result<Reference> {
    let info = gdalinfo(dir, file)?;
    let size = [info["size"][0].as_u64().context("size")?, info["size"][1].as_u64().context("size")?];
    anyhow::ensure!(size[0] % 2 == 0 && size[1] % 2 == 0, "{file}: the oracle's centre needs an even size, got {size:?}");
    let gt: Vec<f64> = info["geoTransform"].as_array().context("geoTransform")?.iter().filter_map(Value::as_f64).collect();
    anyhow::ensure!(gt.len() == 6, "{file}: geoTransform {gt:?}");
    let centre_file = format!("{file}.centre.tif");
    let (x, y) = ((size[0] / 2).to_string(), (size[1] / 2).to_string());
    gdal(dir, "gdal_translate", &["-q", "-of", "GTiff", "-srcwin", &x, &y, "1", "1", file, &centre_file])?;
    let center = wgs84_corners(&gdalinfo(dir, &centre_file)?)?.map(|c| c[0]);
    std::fs::remove_file(dir.join(&centre_file))?;
    Ok(Reference {
        corners: wgs84_corners(&info)?,
        center,
        size,
        geo_transform: [gt[0], gt[1], gt[2], gt[3], gt[4], gt[5]],
        epsg: info["stac"]["proj:epsg"].as_u64(),
    })
}

/// Longitude difference `a - b` in (-180, 180]: 179.9 and -179.9 are 0.2 apart.
pub fn lon_difference(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    if d > 180.0 { d - 360.0 } else { d }
}

/// The larger of the longitude and latitude differences between `a` and `b`, degrees.
pub fn difference(a: [f64; 2], b: [f64; 2]) -> f64 {
    lon_difference(a[0], b[0]).abs().max((a[1] - b[1]).abs())
}

/// A scratch folder for generated rasters.
pub fn scratch() -> anyhow::Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().to_owned();
    Ok((dir, path))
}
