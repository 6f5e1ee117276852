//! Geolocalization worker (geolocalization queue): the satellite path of the image automation
//! pipeline. `Geolocalize` reads an image's georeferencing (GeoTIFF tags or a world-file
//! sidecar), computes its WGS84 footprint (corners, centre, ground sample distance) and writes
//! it as a GeoJSON Feature; `DetectImageKind` tells satellite images from navad ones for the
//! orchestrator.
#![warn(missing_docs)]

// The SDK's `#[activities]` / `#[workflow_methods]` macros add an undocumented `pub const` per
// activity and run method, next to the documented methods: allowed in these two modules only.
#[allow(missing_docs)]
pub mod activities;
pub mod footprint;
pub mod georef;
#[allow(missing_docs)]
pub mod workflows;

/// The independent inverse-UTM oracle, shared with the end-to-end tests.
#[cfg(test)]
#[path = "../tests/support/utm_reference.rs"]
#[allow(dead_code)]
mod utm_reference;

use activities::GeolocalizationActivities;
use temporalio_sdk::WorkerOptions;

/// Registers this worker's workflows and activities.
pub fn register(options: &mut WorkerOptions, services: &fleet::Services) -> anyhow::Result<()> {
    options.register_workflow::<workflows::GeolocalizeWorkflow>()?;
    options.register_activities(GeolocalizationActivities::new(services.storage.clone(), services.scratch.clone()));
    Ok(())
}
