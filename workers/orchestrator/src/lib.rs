//! Orchestrator worker (orchestrator queue): the image automation batch (`AutomationPipeline`)
//! and the per-image path (`ImagePipeline`), whose steps run as child workflows on the
//! ingestion, accuracy-dispatcher and geolocalization queues.

pub mod activities;
pub mod bookkeeping;
mod child_steps;
mod steps;
pub mod workflows;

use activities::OrchestratorActivities;
use temporalio_sdk::WorkerOptions;

/// Registers this worker's workflows and activities.
pub fn register(options: &mut WorkerOptions, services: &fleet::Services) -> anyhow::Result<()> {
    options.register_workflow::<workflows::AutomationPipelineWorkflow>()?;
    options.register_workflow::<workflows::ImagePipelineWorkflow>()?;
    options.register_activities(OrchestratorActivities::new(services.storage.clone()));
    options.register_activities(batch::BatchActivities::new(services.storage.clone()));
    Ok(())
}
