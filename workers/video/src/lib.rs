//! Video worker (video queue): `VideoPipeline` analyzes a video with FFmpeg, extracts sampled
//! frames with resumable progress, and processes them into thumbnails, luminance histograms,
//! scene cuts, a contact sheet and a summary JSON. See README.md.
//!
//! Modules: [`probe`] (what a file is and whether it is whole), [`frames`] (streaming decode and
//! sampling), [`extract`] (sampling and encoding overlapped), [`imaging`] (histograms, scores, thumbnails, contact sheet), [`activities`] and
//! [`workflows`] (the Temporal side).

pub mod activities;
pub mod extract;
pub mod frames;
pub mod imaging;
pub mod inputs;
pub mod probe;
pub mod scenes;
pub mod segments;
pub mod workflows;

use activities::VideoPipelineActivities;
use temporalio_sdk::WorkerOptions;

/// Registers this worker's workflow and activities.
pub fn register(options: &mut WorkerOptions, services: &fleet::Services) -> anyhow::Result<()> {
    probe::init();
    options.register_workflow::<workflows::VideoPipelineWorkflow>()?;
    options.register_activities(VideoPipelineActivities::new(services.storage.clone(), services.scratch.clone()));
    Ok(())
}
