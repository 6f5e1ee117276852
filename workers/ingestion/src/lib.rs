//! Ingestion worker (ingestion queue): validates navad flight images and writes their metadata
//! (`IngestImage`), and digests objects (`ChecksumObject`).

pub mod activities;
pub mod validation;
pub mod workflows;

use activities::IngestionActivities;
use temporalio_sdk::WorkerOptions;

/// Registers this worker's workflows and activities.
pub fn register(options: &mut WorkerOptions, services: &fleet::Services) -> anyhow::Result<()> {
    options.register_workflow::<workflows::ChecksumWorkflow>()?;
    options.register_workflow::<workflows::IngestImageWorkflow>()?;
    options.register_activities(IngestionActivities::new(services.storage.clone(), services.scratch.clone()));
    Ok(())
}
