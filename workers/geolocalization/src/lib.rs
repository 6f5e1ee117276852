//! Geolocalization worker (geolocalization queue): the satellite path of the image automation
//! pipeline. `Geolocalize` reads an image's georeferencing with GDAL straight from S3 (header
//! only, through `/vsis3/`), computes its WGS 84 footprint as `gdalinfo -json` does (corners,
//! centre, ground sample distance) and writes it as an RFC 7946 GeoJSON Feature and a STAC Item;
//! `DetectImageKind` tells satellite images from navad ones for the orchestrator.
#![warn(missing_docs)]

// The SDK's `#[activities]` / `#[workflow_methods]` macros add an undocumented `pub const` per
// activity and run method, next to the documented methods: allowed in these two modules only.
#[allow(missing_docs)]
pub mod activities;
pub mod footprint;
pub mod georef;
pub mod raster;
pub mod stac;
#[allow(missing_docs)]
pub mod workflows;

use activities::GeolocalizationActivities;
use temporalio_sdk::WorkerOptions;

/// Registers this worker's workflows and activities.
pub fn register(options: &mut WorkerOptions, services: &fleet::Services) -> anyhow::Result<()> {
    options.register_workflow::<workflows::GeolocalizeWorkflow>()?;
    let access = raster::S3Access::new(&services.config.s3);
    options.register_activities(GeolocalizationActivities::new(services.storage.clone(), access));
    Ok(())
}
