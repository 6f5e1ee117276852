//! The accuracy report: every tile's metrics laid out as the grid, pixel-weighted image
//! aggregates, the overall score and the pass/fail verdict against [`AccuracyThresholds`].
//! Pure: the `WriteAccuracyReport` activity builds it and writes it as JSON.
//!
//! # Overall score (0..100)
//!
//! `score = 45 S + 25 E + 15 C + 15 N`, each component in 0..1:
//! - `S`, sharpness: the share of tiles not flagged blurred (Laplacian variance at or above
//!   `min_laplacian_variance`).
//! - `E`, exposure: 1 while the image's mean luminance is inside
//!   `min_mean_luminance..=max_mean_luminance`, then falling linearly to 0 at
//!   [`EXPOSURE_FALLOFF`] grey levels outside the range.
//! - `C`, clipping: `1 - clipped / (2 max_clipped_fraction)`, clamped to 0..1, where `clipped`
//!   is the share of pixels at 0 or 255: 1 with no clipping, 0.5 at the threshold, 0 at twice it.
//! - `N`, noise: `1 - sigma / NOISE_SIGMA_AT_ZERO`, clamped to 0..1, where `sigma` is the
//!   pixel-weighted mean of the tiles' Immerkaer noise estimates.
//!
//! Sharpness weighs most because it is what a flight image most often loses (motion, focus)
//! and what no later processing recovers.
//!
//! # Pass/fail
//!
//! The image passes when none of these holds, each adding one line to `failures`:
//! blurred-tile share above `max_blurred_tile_fraction`; mean luminance outside the range;
//! clipped share above `max_clipped_fraction`; score below `min_overall_score`.

use contracts::ObjectRef;
use contracts::automation::{AccuracyOutcome, AccuracyThresholds, ReportRequest, TileMetrics};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Weight of the sharpness component.
pub const SHARPNESS_WEIGHT: f64 = 45.0;
/// Weight of the exposure component.
pub const EXPOSURE_WEIGHT: f64 = 25.0;
/// Weight of the clipping component.
pub const CLIPPING_WEIGHT: f64 = 15.0;
/// Weight of the noise component.
pub const NOISE_WEIGHT: f64 = 15.0;
/// Grey levels outside the accepted luminance range at which the exposure component is 0.
pub const EXPOSURE_FALLOFF: f64 = 64.0;
/// Noise sigma (grey levels) at which the noise component is 0.
pub const NOISE_SIGMA_AT_ZERO: f64 = 25.0;
/// Version of the report's JSON layout.
pub const REPORT_SCHEMA: u32 = 1;

/// The report JSON written to `<output_prefix>/accuracy-report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccuracyReport {
    /// [`REPORT_SCHEMA`].
    pub schema: u32,
    /// The analysed image.
    pub image: ObjectRef,
    /// Grid columns.
    pub columns: u32,
    /// Grid rows.
    pub rows: u32,
    /// `grid[row][column]`: every tile's metrics.
    pub grid: Vec<Vec<TileMetrics>>,
    /// Image-wide aggregates.
    pub aggregate: Aggregate,
    /// The score and its components.
    pub score: ScoreBreakdown,
    /// The thresholds applied.
    pub thresholds: AccuracyThresholds,
    /// Passed every threshold.
    pub passed: bool,
    /// One line per failed threshold.
    pub failures: Vec<String>,
    /// Distinct worker identities that computed tiles, sorted.
    pub processors: Vec<String>,
}

/// Image-wide aggregates, weighted by tile area where a per-pixel quantity is averaged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Tiles in the grid.
    pub tiles: u32,
    /// Tiles flagged blurred.
    pub blurred_tiles: u32,
    /// `blurred_tiles / tiles`.
    pub blurred_fraction: f64,
    /// Smallest tile Laplacian variance.
    pub min_laplacian_variance: f64,
    /// Median tile Laplacian variance.
    pub median_laplacian_variance: f64,
    /// Mean luminance of the image.
    pub mean_luminance: f64,
    /// Share of the image's pixels at 0.
    pub shadow_clipped_fraction: f64,
    /// Share of the image's pixels at 255.
    pub highlight_clipped_fraction: f64,
    /// Shadows plus highlights.
    pub clipped_fraction: f64,
    /// Pixel-weighted mean of the tiles' noise sigma.
    pub noise_sigma: f64,
}

/// The overall score and its components (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreBreakdown {
    /// `S`, 0..1.
    pub sharpness: f64,
    /// `E`, 0..1.
    pub exposure: f64,
    /// `C`, 0..1.
    pub clipping: f64,
    /// `N`, 0..1.
    pub noise: f64,
    /// The weighted total, 0..100.
    pub overall: f64,
}

/// Why tile metrics cannot form a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Zero columns or rows.
    #[error("a {columns}x{rows} grid has no tiles")]
    EmptyGrid {
        /// Columns.
        columns: u32,
        /// Rows.
        rows: u32,
    },
    /// A tile lies outside the grid.
    #[error("tile r{row}c{column} lies outside the {columns}x{rows} grid")]
    OutsideGrid {
        /// Its row.
        row: u32,
        /// Its column.
        column: u32,
        /// Grid columns.
        columns: u32,
        /// Grid rows.
        rows: u32,
    },
    /// Two results for one tile.
    #[error("tile r{row}c{column} appears twice")]
    Duplicate {
        /// Its row.
        row: u32,
        /// Its column.
        column: u32,
    },
    /// A tile without a result.
    #[error("tile r{row}c{column} is missing")]
    Missing {
        /// Its row.
        row: u32,
        /// Its column.
        column: u32,
    },
}

/// Builds the report from every tile's metrics.
pub fn build(request: &ReportRequest) -> Result<AccuracyReport, ReportError> {
    let (columns, rows) = (request.columns, request.rows);
    if columns == 0 || rows == 0 {
        return Err(ReportError::EmptyGrid { columns, rows });
    }
    let mut cells: Vec<Vec<Option<TileMetrics>>> = vec![vec![None; columns as usize]; rows as usize];
    for metrics in &request.tiles {
        let (row, column) = (metrics.tile.row, metrics.tile.column);
        let cell =
            cells.get_mut(row as usize).and_then(|r| r.get_mut(column as usize)).ok_or(ReportError::OutsideGrid { row, column, columns, rows })?;
        if cell.replace(metrics.clone()).is_some() {
            return Err(ReportError::Duplicate { row, column });
        }
    }
    let grid = cells
        .into_iter()
        .enumerate()
        .map(|(row, cells)| {
            cells
                .into_iter()
                .enumerate()
                .map(|(column, cell)| cell.ok_or(ReportError::Missing { row: row as u32, column: column as u32 }))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;

    let aggregate = aggregate(&request.tiles);
    let thresholds = &request.thresholds;
    let score = score(&aggregate, thresholds);
    let failures = failures(&aggregate, &score, thresholds);
    let processors: BTreeSet<String> = request.tiles.iter().map(|t| t.worker.clone()).collect();
    Ok(AccuracyReport {
        schema: REPORT_SCHEMA,
        image: request.image.clone(),
        columns,
        rows,
        grid,
        aggregate,
        score,
        thresholds: thresholds.clone(),
        passed: failures.is_empty(),
        failures,
        processors: processors.into_iter().collect(),
    })
}

impl AccuracyReport {
    /// The workflow's result: the verdict, and where the full report is.
    pub fn outcome(&self, report: ObjectRef) -> AccuracyOutcome {
        AccuracyOutcome {
            image: self.image.clone(),
            report,
            overall_score: self.score.overall,
            passed: self.passed,
            failures: self.failures.clone(),
            processors: self.processors.clone(),
        }
    }
}

/// Aggregates over a non-empty set of tiles.
fn aggregate(tiles: &[TileMetrics]) -> Aggregate {
    let pixels: f64 = tiles.iter().map(|t| f64::from(t.tile.width) * f64::from(t.tile.height)).sum();
    let weighted =
        |value: fn(&TileMetrics) -> f64| tiles.iter().map(|t| value(t) * f64::from(t.tile.width) * f64::from(t.tile.height)).sum::<f64>() / pixels;
    let mut variances: Vec<f64> = tiles.iter().map(|t| t.laplacian_variance).collect();
    variances.sort_by(f64::total_cmp);
    let middle = variances.len() / 2;
    let median = if variances.len() % 2 == 1 { variances[middle] } else { (variances[middle - 1] + variances[middle]) / 2.0 };
    let blurred_tiles = tiles.iter().filter(|t| t.blurred).count() as u32;
    let shadow = weighted(|t| t.shadow_clipped_fraction);
    let highlight = weighted(|t| t.highlight_clipped_fraction);
    Aggregate {
        tiles: tiles.len() as u32,
        blurred_tiles,
        blurred_fraction: f64::from(blurred_tiles) / tiles.len() as f64,
        min_laplacian_variance: variances[0],
        median_laplacian_variance: median,
        mean_luminance: weighted(|t| t.mean_luminance),
        shadow_clipped_fraction: shadow,
        highlight_clipped_fraction: highlight,
        clipped_fraction: shadow + highlight,
        noise_sigma: weighted(|t| t.noise_sigma),
    }
}

/// The score (see the module docs for the formula).
pub fn score(aggregate: &Aggregate, thresholds: &AccuracyThresholds) -> ScoreBreakdown {
    let unit = |v: f64| v.clamp(0.0, 1.0);
    let sharpness = unit(1.0 - aggregate.blurred_fraction);
    let outside = (thresholds.min_mean_luminance - aggregate.mean_luminance).max(aggregate.mean_luminance - thresholds.max_mean_luminance).max(0.0);
    let exposure = unit(1.0 - outside / EXPOSURE_FALLOFF);
    let clipping = if thresholds.max_clipped_fraction > 0.0 {
        unit(1.0 - aggregate.clipped_fraction / (2.0 * thresholds.max_clipped_fraction))
    } else if aggregate.clipped_fraction > 0.0 {
        0.0
    } else {
        1.0
    };
    let noise = unit(1.0 - aggregate.noise_sigma / NOISE_SIGMA_AT_ZERO);
    let overall = SHARPNESS_WEIGHT * sharpness + EXPOSURE_WEIGHT * exposure + CLIPPING_WEIGHT * clipping + NOISE_WEIGHT * noise;
    ScoreBreakdown { sharpness, exposure, clipping, noise, overall }
}

fn failures(aggregate: &Aggregate, score: &ScoreBreakdown, thresholds: &AccuracyThresholds) -> Vec<String> {
    let percent = |v: f64| v * 100.0;
    let mut failures = Vec::new();
    if aggregate.blurred_fraction > thresholds.max_blurred_tile_fraction {
        failures.push(format!(
            "blur: {} of {} tiles ({:.0}%) have a Laplacian variance below {} (at most {:.0}% may be blurred; median variance {:.1})",
            aggregate.blurred_tiles,
            aggregate.tiles,
            percent(aggregate.blurred_fraction),
            thresholds.min_laplacian_variance,
            percent(thresholds.max_blurred_tile_fraction),
            aggregate.median_laplacian_variance,
        ));
    }
    if aggregate.mean_luminance < thresholds.min_mean_luminance {
        failures.push(format!("exposure: underexposed, mean luminance {:.1} below {}", aggregate.mean_luminance, thresholds.min_mean_luminance));
    } else if aggregate.mean_luminance > thresholds.max_mean_luminance {
        failures.push(format!("exposure: overexposed, mean luminance {:.1} above {}", aggregate.mean_luminance, thresholds.max_mean_luminance));
    }
    if aggregate.clipped_fraction > thresholds.max_clipped_fraction {
        failures.push(format!(
            "clipping: {:.2}% of pixels clipped ({:.2}% shadows, {:.2}% highlights), above {:.2}%",
            percent(aggregate.clipped_fraction),
            percent(aggregate.shadow_clipped_fraction),
            percent(aggregate.highlight_clipped_fraction),
            percent(thresholds.max_clipped_fraction),
        ));
    }
    if score.overall < thresholds.min_overall_score {
        failures.push(format!("score: {:.1} below the minimum of {}", score.overall, thresholds.min_overall_score));
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::automation::TileRef;

    fn tile(row: u32, column: u32, laplacian_variance: f64, mean_luminance: f64, worker: &str) -> TileMetrics {
        TileMetrics {
            tile: TileRef {
                column,
                row,
                x: column * 10,
                y: row * 10,
                width: 10,
                height: 10,
                object: ObjectRef::new("fleet-outputs", format!("a/tiles/r{row}c{column}.png")).unwrap(),
            },
            laplacian_variance,
            mean_luminance,
            shadow_clipped_fraction: 0.0,
            highlight_clipped_fraction: 0.0,
            noise_sigma: 5.0,
            blurred: laplacian_variance < 100.0,
            worker: worker.to_owned(),
        }
    }

    fn request(tiles: Vec<TileMetrics>) -> ReportRequest {
        ReportRequest {
            image: ObjectRef::new("fleet-inputs", "a.jpg").unwrap(),
            report: ObjectRef::new("fleet-outputs", "a/accuracy-report.json").unwrap(),
            columns: 2,
            rows: 2,
            tiles,
            thresholds: AccuracyThresholds::default(),
        }
    }

    #[test]
    fn sharp_well_exposed_image_passes_with_the_documented_score() {
        let tiles = vec![tile(1, 1, 900.0, 120.0, "b"), tile(0, 0, 800.0, 110.0, "a"), tile(0, 1, 700.0, 130.0, "b"), tile(1, 0, 600.0, 100.0, "a")];
        let report = build(&request(tiles)).unwrap();
        assert!(report.passed, "{:?}", report.failures);
        // S = 1, E = 1, C = 1, N = 1 - 5/25 = 0.8: 45 + 25 + 15 + 12 = 97.
        assert!((report.score.overall - 97.0).abs() < 1e-9, "{:?}", report.score);
        assert_eq!(report.aggregate.mean_luminance, 115.0);
        assert_eq!(report.aggregate.median_laplacian_variance, 750.0);
        assert_eq!(report.grid[1][0].laplacian_variance, 600.0, "grid is [row][column]");
        assert_eq!(report.processors, vec!["a", "b"]);
    }

    #[test]
    fn blurred_dark_image_fails_with_reasons() {
        let tiles = vec![tile(0, 0, 20.0, 30.0, "a"), tile(0, 1, 10.0, 30.0, "a"), tile(1, 0, 5.0, 30.0, "a"), tile(1, 1, 500.0, 30.0, "a")];
        let report = build(&request(tiles)).unwrap();
        assert!(!report.passed);
        // S = 0.25, E = 1 - 10/64, C = 1, N = 0.8.
        let expected = 45.0 * 0.25 + 25.0 * (1.0 - 10.0 / 64.0) + 15.0 + 15.0 * 0.8;
        assert!((report.score.overall - expected).abs() < 1e-9);
        let text = report.failures.join("\n");
        assert!(text.contains("blur: 3 of 4 tiles (75%)"), "{text}");
        assert!(text.contains("underexposed, mean luminance 30.0 below 40"), "{text}");
        assert!(text.contains("score: "), "{text}");
        assert_eq!(report.failures.len(), 3, "{text}");
    }

    #[test]
    fn clipping_component_is_half_at_the_threshold() {
        let mut tiles =
            vec![tile(0, 0, 900.0, 120.0, "a"), tile(0, 1, 900.0, 120.0, "a"), tile(1, 0, 900.0, 120.0, "a"), tile(1, 1, 900.0, 120.0, "a")];
        for t in &mut tiles {
            t.highlight_clipped_fraction = 0.05;
        }
        let report = build(&request(tiles)).unwrap();
        assert!((report.score.clipping - 0.5).abs() < 1e-12);
        assert!(report.passed, "exactly at the threshold passes: {:?}", report.failures);
    }

    #[test]
    fn incomplete_or_inconsistent_grids_are_refused() {
        let three = vec![tile(0, 0, 1.0, 1.0, "a"), tile(0, 1, 1.0, 1.0, "a"), tile(1, 0, 1.0, 1.0, "a")];
        assert_eq!(build(&request(three.clone())).unwrap_err(), ReportError::Missing { row: 1, column: 1 });
        let mut duplicate = three.clone();
        duplicate.push(tile(0, 1, 1.0, 1.0, "a"));
        assert_eq!(build(&request(duplicate)).unwrap_err(), ReportError::Duplicate { row: 0, column: 1 });
        let mut outside = three;
        outside.push(tile(2, 0, 1.0, 1.0, "a"));
        assert!(matches!(build(&request(outside)).unwrap_err(), ReportError::OutsideGrid { row: 2, .. }));
    }
}
