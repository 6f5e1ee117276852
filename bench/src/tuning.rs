//! Section 8, worker tuning: the 12 MP navad batch of the end-to-end section on the Rust fleet
//! twice, its workers on fixed slots (`WORKER_TUNER=fixed`, the default) and then on the SDK's
//! resource-based tuner (`WORKER_TUNER=resource-based`, its default targets), each on a fresh
//! stack: throughput, CPU and the workers' peak RSS. It tells whether resource-based slots
//! should be the default of the CPU-bound workers.

use crate::pipeline::{self, EndToEndSettings, FleetBatch};
use serde::Serialize;
use std::path::Path;

/// One tuning's figures.
#[derive(Debug, Clone, Serialize)]
pub struct TuningRun {
    /// `fixed` or `resource-based`.
    pub tuner: String,
    /// The batch on the Rust fleet.
    pub batch: FleetBatch,
}

/// The section's result.
#[derive(Debug, Clone, Serialize)]
pub struct TuningResult {
    /// The batch.
    pub settings: EndToEndSettings,
    /// Fixed, then resource-based.
    pub runs: Vec<TuningRun>,
}

/// Runs the batch of `settings` (one batch) with each tuner under `dir`.
pub async fn run(settings: &EndToEndSettings, dir: &Path) -> anyhow::Result<TuningResult> {
    let mut runs = Vec::new();
    for tuner in ["fixed", "resource-based"] {
        println!("  WORKER_TUNER={tuner}");
        let batches = pipeline::run_rust_fleet(settings, &[("WORKER_TUNER", tuner)], &dir.join(tuner)).await?;
        let batch = batches.into_iter().next().ok_or_else(|| anyhow::anyhow!("the tuning section needs one batch"))?;
        runs.push(TuningRun { tuner: tuner.to_owned(), batch });
    }
    Ok(TuningResult { settings: settings.clone(), runs })
}

/// The section's rows: resource-based against fixed.
pub fn rows(result: &TuningResult, rows: &mut Vec<[String; 4]>) {
    let [fixed, resource] = [&result.runs[0].batch, &result.runs[1].batch];
    let what = result.settings.batches.first().map(|b| b.describe()).unwrap_or_default();
    rows.push([
        format!("Tuning, {what}: images/s, resource-based slots vs fixed"),
        format!("{:.2} images/s (resource-based)", resource.images_per_second),
        format!("{:.2} images/s (fixed)", fixed.images_per_second),
        format!("{:.2}x", resource.images_per_second / fixed.images_per_second),
    ]);
    rows.push([
        format!("Tuning, {what}: peak RSS of the 5 workers, summed"),
        format!("{:.0} MiB (resource-based)", resource.workers_peak_rss_mib),
        format!("{:.0} MiB (fixed)", fixed.workers_peak_rss_mib),
        format!("{:.2}x", fixed.workers_peak_rss_mib / resource.workers_peak_rss_mib),
    ]);
    rows.push([
        format!("Tuning, {what}: CPU seconds per image, every process of the stack"),
        format!("{:.3} s (resource-based)", resource.cpu_seconds_per_image.total),
        format!("{:.3} s (fixed)", fixed.cpu_seconds_per_image.total),
        format!("{:.2}x", fixed.cpu_seconds_per_image.total / resource.cpu_seconds_per_image.total),
    ]);
}
