//! Section 2, the image analysis kernel: the accuracy processor's metrics
//! (`accuracy_processor::metrics`, the code the `ComputeTileMetrics` activity runs) against
//! Pillow + NumPy (bench/peer/metrics.py) on the same tiles, written once as 8-bit grayscale
//! PNG files that both sides read. The numbers must agree within [`RELATIVE_TOLERANCE`] (the
//! harness fails otherwise); then the best-of-N times are compared, for the metrics alone and
//! for decoding the PNG plus the metrics (what the activity does after its download).
//!
//! The tiles are cut from the navad sample scene (`samples::navad::sharp_scene`) in four
//! variants so every metric has something to measure: as is, blurred, over-exposed (highlights
//! clipped) and under-exposed (shadows clipped).

use accuracy_processor::metrics::{self, Luma, Metrics};
use anyhow::Context as _;
use image::{DynamicImage, GrayImage, ImageFormat};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Largest accepted relative difference between the two implementations, per metric.
pub const RELATIVE_TOLERANCE: f64 = 1e-9;

/// One set of equally sized tiles.
#[derive(Debug, Clone, Serialize)]
pub struct TileSet {
    /// Side of the square tiles, pixels.
    pub size: u32,
    /// Tiles in the set.
    pub count: u32,
}

/// Sizes of the section.
#[derive(Debug, Clone, Serialize)]
pub struct KernelSettings {
    /// The tile sets.
    pub sets: Vec<TileSet>,
    /// Runs per tile and side; the best is kept.
    pub repeats: usize,
}

/// Times of one side over one set (sum over tiles of each tile's best run).
#[derive(Debug, Clone, Serialize)]
pub struct SideTimes {
    /// Metrics on decoded pixels, seconds for the whole set.
    pub metrics_seconds: f64,
    /// Reading + decoding the PNG + metrics, seconds for the whole set.
    pub decode_and_metrics_seconds: f64,
    /// `metrics_seconds` per tile, microseconds.
    pub metrics_us_per_tile: f64,
    /// `decode_and_metrics_seconds` per tile, microseconds.
    pub decode_and_metrics_us_per_tile: f64,
    /// Megapixels per second through the metrics.
    pub metrics_megapixels_per_second: f64,
}

/// One set's result.
#[derive(Debug, Clone, Serialize)]
pub struct SetResult {
    /// Tile side.
    pub size: u32,
    /// Tiles.
    pub count: u32,
    /// The accuracy processor's metrics.
    pub rust: SideTimes,
    /// Pillow + NumPy.
    pub python: SideTimes,
    /// Python metrics time over Rust's.
    pub metrics_speedup: f64,
    /// Python decode + metrics time over Rust's.
    pub decode_and_metrics_speedup: f64,
    /// Largest relative difference seen per metric (all below the tolerance).
    pub max_relative_difference: HashMap<String, f64>,
}

/// The section's result.
#[derive(Debug, Clone, Serialize)]
pub struct KernelResult {
    /// Sizes used.
    pub settings: KernelSettings,
    /// Per set.
    pub sets: Vec<SetResult>,
    /// The tolerance the numbers were checked against.
    pub relative_tolerance: f64,
    /// NumPy version of the peer.
    pub numpy: String,
    /// Pillow version of the peer.
    pub pillow: String,
}

/// What the peer reports per tile.
#[derive(Debug, Deserialize)]
struct PeerTile {
    path: String,
    width: u32,
    height: u32,
    metrics: PeerMetrics,
    metrics_seconds: f64,
    decode_and_metrics_seconds: f64,
}

#[derive(Debug, Deserialize)]
struct PeerMetrics {
    laplacian_variance: f64,
    mean_luminance: f64,
    shadow_clipped_fraction: f64,
    highlight_clipped_fraction: f64,
    noise_sigma: f64,
}

#[derive(Debug, Deserialize)]
struct PeerReport {
    numpy: String,
    pillow: String,
    tiles: Vec<PeerTile>,
}

/// A tile on disk and what the Rust side measured on it.
struct RustTile {
    size: u32,
    path: PathBuf,
    metrics: Metrics,
    metrics_seconds: f64,
    decode_and_metrics_seconds: f64,
}

/// The tiles of one set, cut from one scene in a grid.
fn make_tiles(size: u32, count: u32) -> Vec<GrayImage> {
    let columns = (count as f64).sqrt().ceil().max(1.0) as u32;
    let rows = count.div_ceil(columns);
    let scene = DynamicImage::ImageRgb8(samples::navad::sharp_scene(columns * size, rows * size)).to_luma8();
    (0..count)
        .map(|i| {
            let tile = image::imageops::crop_imm(&scene, (i % columns) * size, (i / columns) * size, size, size).to_image();
            match i % 4 {
                0 => tile,
                1 => image::imageops::blur(&tile, samples::navad::BLUR_SIGMA),
                // Over-exposed: the bright half of the range clips at 255.
                2 => GrayImage::from_fn(size, size, |x, y| image::Luma([(f32::from(tile.get_pixel(x, y)[0]) * 2.0).min(255.0) as u8])),
                // Under-exposed: the dark part clips at 0.
                _ => GrayImage::from_fn(size, size, |x, y| image::Luma([(f32::from(tile.get_pixel(x, y)[0]) * 0.5 - 45.0).max(0.0) as u8])),
            }
        })
        .collect()
}

/// The Rust side on one tile file: best of `repeats`.
fn measure_file(path: &Path, repeats: usize) -> anyhow::Result<(Metrics, f64, f64)> {
    let mut best_metrics = f64::INFINITY;
    let mut best_total = f64::INFINITY;
    let mut result = None;
    for _ in 0..repeats.max(1) {
        let started = Instant::now();
        // What the activity does with a downloaded tile.
        let bytes = std::fs::read(path)?;
        let luma = image::load_from_memory_with_format(&bytes, ImageFormat::Png)?.into_luma8();
        let decoded = Instant::now();
        let measured = metrics::measure(Luma::new(luma.width(), luma.height(), luma.as_raw())?);
        let done = Instant::now();
        std::hint::black_box(&measured);
        best_metrics = best_metrics.min((done - decoded).as_secs_f64());
        best_total = best_total.min((done - started).as_secs_f64());
        result = Some(measured);
    }
    Ok((result.context("no run")?, best_metrics, best_total))
}

fn relative_difference(a: f64, b: f64) -> f64 {
    let scale = a.abs().max(b.abs());
    if scale < 1e-12 { (a - b).abs() } else { (a - b).abs() / scale }
}

fn side_times(count: u32, size: u32, metrics_seconds: f64, decode_and_metrics_seconds: f64) -> SideTimes {
    let tiles = f64::from(count.max(1));
    let megapixels = f64::from(count) * f64::from(size) * f64::from(size) / 1e6;
    SideTimes {
        metrics_seconds,
        decode_and_metrics_seconds,
        metrics_us_per_tile: metrics_seconds / tiles * 1e6,
        decode_and_metrics_us_per_tile: decode_and_metrics_seconds / tiles * 1e6,
        metrics_megapixels_per_second: megapixels / metrics_seconds.max(f64::EPSILON),
    }
}

/// Runs the section with tiles written under `dir`.
pub async fn run(settings: &KernelSettings, python: &Path, peer_dir: &Path, dir: &Path) -> anyhow::Result<KernelResult> {
    std::fs::create_dir_all(dir)?;
    let mut rust_tiles = Vec::new();
    for set in &settings.sets {
        let tiles = tokio::task::spawn_blocking({
            let (size, count) = (set.size, set.count);
            move || make_tiles(size, count)
        })
        .await?;
        for (i, tile) in tiles.iter().enumerate() {
            let path = dir.join(format!("tile-{}-{i:03}.png", set.size));
            tile.save_with_format(&path, ImageFormat::Png).with_context(|| format!("writing {}", path.display()))?;
            rust_tiles.push((set.size, path));
        }
    }

    // The Rust side first, on this thread alone (no other work of the harness runs meanwhile).
    let repeats = settings.repeats;
    let rust_tiles: Vec<RustTile> = tokio::task::spawn_blocking(move || {
        rust_tiles
            .into_iter()
            .map(|(size, path)| {
                let (metrics, metrics_seconds, decode_and_metrics_seconds) = measure_file(&path, repeats)?;
                Ok(RustTile { size, path, metrics, metrics_seconds, decode_and_metrics_seconds })
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await??;

    let manifest = dir.join("tiles.json");
    let paths: Vec<String> = rust_tiles.iter().map(|t| t.path.display().to_string()).collect();
    std::fs::write(&manifest, serde_json::to_vec(&paths)?)?;
    let output = crate::peer::run_script(python, &peer_dir.join("metrics.py"), &[manifest.display().to_string(), repeats.to_string()]).await?;
    let peer: PeerReport = serde_json::from_slice(&output).context("reading metrics.py's report")?;
    let by_path: HashMap<&str, &PeerTile> = peer.tiles.iter().map(|t| (t.path.as_str(), t)).collect();

    let mut sets = Vec::new();
    for set in &settings.sets {
        let mut max_difference: HashMap<String, f64> = HashMap::new();
        let (mut rust_metrics, mut rust_total, mut py_metrics, mut py_total) = (0.0, 0.0, 0.0, 0.0);
        for tile in rust_tiles.iter().filter(|t| t.size == set.size) {
            let name = tile.path.display().to_string();
            let theirs = by_path.get(name.as_str()).with_context(|| format!("metrics.py did not report {name}"))?;
            anyhow::ensure!((theirs.width, theirs.height) == (set.size, set.size), "metrics.py read {name} as {}x{}", theirs.width, theirs.height);
            let ours = &tile.metrics;
            let pairs = [
                ("laplacian_variance", ours.laplacian_variance, theirs.metrics.laplacian_variance),
                ("mean_luminance", ours.mean_luminance, theirs.metrics.mean_luminance),
                ("shadow_clipped_fraction", ours.shadow_clipped_fraction, theirs.metrics.shadow_clipped_fraction),
                ("highlight_clipped_fraction", ours.highlight_clipped_fraction, theirs.metrics.highlight_clipped_fraction),
                ("noise_sigma", ours.noise_sigma, theirs.metrics.noise_sigma),
            ];
            for (metric, a, b) in pairs {
                let difference = relative_difference(a, b);
                anyhow::ensure!(
                    difference <= RELATIVE_TOLERANCE,
                    "{metric} of {name} disagrees: Rust {a}, NumPy {b} (relative difference {difference:e} > {RELATIVE_TOLERANCE:e})"
                );
                let entry = max_difference.entry(metric.to_owned()).or_insert(0.0);
                *entry = entry.max(difference);
            }
            rust_metrics += tile.metrics_seconds;
            rust_total += tile.decode_and_metrics_seconds;
            py_metrics += theirs.metrics_seconds;
            py_total += theirs.decode_and_metrics_seconds;
        }
        sets.push(SetResult {
            size: set.size,
            count: set.count,
            rust: side_times(set.count, set.size, rust_metrics, rust_total),
            python: side_times(set.count, set.size, py_metrics, py_total),
            metrics_speedup: py_metrics / rust_metrics.max(f64::EPSILON),
            decode_and_metrics_speedup: py_total / rust_total.max(f64::EPSILON),
            max_relative_difference: max_difference,
        });
    }
    Ok(KernelResult { settings: settings.clone(), sets, relative_tolerance: RELATIVE_TOLERANCE, numpy: peer.numpy, pillow: peer.pillow })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_every_metric() {
        let tiles = make_tiles(32, 4);
        assert_eq!(tiles.len(), 4);
        let m: Vec<Metrics> = tiles.iter().map(|t| metrics::measure(Luma::new(32, 32, t.as_raw()).unwrap())).collect();
        // The blurred variant is softer than the sharp one; the exposure variants clip.
        assert!(m[1].laplacian_variance < m[0].laplacian_variance / 2.0, "{m:?}");
        assert!(m[2].highlight_clipped_fraction > 0.0 && m[0].highlight_clipped_fraction == 0.0, "{m:?}");
        assert!(m[3].shadow_clipped_fraction > 0.0 && m[0].shadow_clipped_fraction == 0.0, "{m:?}");
    }

    #[test]
    fn relative_differences() {
        assert_eq!(relative_difference(0.0, 0.0), 0.0);
        assert!((relative_difference(100.0, 101.0) - 1.0 / 101.0).abs() < 1e-15);
        assert_eq!(relative_difference(1e-13, 0.0), 1e-13);
    }
}
