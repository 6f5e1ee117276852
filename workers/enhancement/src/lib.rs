//! Enhancement worker (enhancement queue): downloads an S3 object, enhances it with the local
//! enhancer (deterministic classical filters, no network; the default) or an OpenAI image edit,
//! uploads the result, verifies it and withdraws it if a later step fails; temporary files are
//! removed on every path out. `EnhanceBatch` does the same for every image under a prefix.
#![warn(missing_docs)]

// The SDK's macros generate undocumented items in these two modules.
#[allow(missing_docs)]
pub mod activities;
pub mod batch_keys;
pub mod imaging;
pub mod local_enhancer;
pub mod openai_enhancer;
pub mod settings;
#[allow(missing_docs)]
pub mod workflows;

use activities::EnhancementActivities;
use anyhow::Context;
use settings::WorkerSettings;
use temporalio_sdk::WorkerOptions;

/// Registers this worker's workflows and activities; reads the worker's own settings
/// (`OPENAI_*`, `ENHANCEMENT_MAX_INPUT_PIXELS`) from the same variables as the rest of the
/// configuration.
pub fn register(options: &mut WorkerOptions, services: &fleet::Services) -> anyhow::Result<()> {
    let settings = WorkerSettings::from_env(services.config.env()).context("enhancement worker settings")?;
    tracing::info!(scratch = %services.scratch.root().display(), openai = %settings.openai.base_url, "enhancement settings");
    options.register_workflow::<workflows::EnhanceImageWorkflow>()?;
    options.register_workflow::<workflows::EnhanceBatchWorkflow>()?;
    options.register_activities(EnhancementActivities::new(services.storage.clone(), services.scratch.clone(), settings)?);
    options.register_activities(batch::BatchActivities::new(services.storage.clone()));
    Ok(())
}
