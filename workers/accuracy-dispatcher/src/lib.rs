//! Accuracy dispatcher worker (accuracy-dispatcher queue): `AnalyzeAccuracy` splits a navad
//! image into a grid of tiles, fans the tiles out to the accuracy-processor queue all at once,
//! and aggregates their metrics into an accuracy report with a score and a pass/fail verdict.

pub mod activities;
pub mod report;
pub mod tiling;
pub mod workflows;

use activities::DispatcherActivities;
use temporalio_sdk::WorkerOptions;

/// Registers this worker's workflow and activities.
pub fn register(options: &mut WorkerOptions, services: &fleet::Services) -> anyhow::Result<()> {
    options.register_workflow::<workflows::AnalyzeAccuracyWorkflow>()?;
    options.register_activities(DispatcherActivities::new(services.storage.clone(), services.scratch.clone()));
    Ok(())
}
