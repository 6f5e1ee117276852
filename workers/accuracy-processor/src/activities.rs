//! The `ComputeTileMetrics` activity: reads a tile object, measures it off the async threads,
//! heartbeating while it works, and stamps the result with this worker's identity.

use crate::metrics::{self, Luma};
use contracts::automation::{TileMetrics, TileMetricsRequest};
use fleet::failure::invalid_input;
use fleet::kit;
use fleet::{Storage, StorageError};
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// The processor's activities: storage and the identity written into every result.
pub struct ProcessorActivities {
    storage: Storage,
    identity: String,
}

impl ProcessorActivities {
    /// Activities over `storage`, reporting `identity` as the worker that computed each tile.
    pub fn new(storage: Storage, identity: String) -> Self {
        Self { storage, identity }
    }

    /// The identity stamped on results.
    pub fn identity(&self) -> &str {
        &self.identity
    }
}

/// What the heartbeat details say the activity is doing (visible in the Web UI's pending
/// activities).
fn progress(stage: &str, request: &TileMetricsRequest) -> String {
    format!("{stage} tile r{}c{} ({})", request.tile.row, request.tile.column, request.tile.object)
}

#[activities]
impl ProcessorActivities {
    /// Computes the quality metrics of one tile (see `metrics`). A tile that does not decode
    /// or whose size differs from its reference fails non-retryably, naming the tile object.
    #[activity(definition = contracts::automation::ComputeTileMetrics)]
    pub async fn compute_tile_metrics(self: Arc<Self>, ctx: ActivityContext, request: TileMetricsRequest) -> Result<TileMetrics, ActivityError> {
        kit::heartbeat(&ctx, progress("downloading", &request)).await;
        let bytes = self.storage.get(&request.tile.object).await.map_err(StorageError::into_activity_error)?;

        let tile = request.tile.clone();
        let work = kit::blocking(&request.tile.object, move || -> Result<metrics::Metrics, String> {
            let luma = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
                .map_err(|e| format!("not a readable PNG tile: {e}"))?
                .into_luma8();
            if luma.dimensions() != (tile.width, tile.height) {
                return Err(format!("tile is {}x{} pixels, its reference says {}x{}", luma.width(), luma.height(), tile.width, tile.height));
            }
            let view = Luma::new(luma.width(), luma.height(), luma.as_raw()).map_err(|e| e.to_string())?;
            Ok(metrics::measure(view))
        });

        // Heartbeat until the blocking work is done, so a worker that dies mid-tile is noticed
        // after one heartbeat timeout instead of the whole start-to-close timeout.
        let measured = kit::heartbeating(&ctx, || progress("measuring", &request), work)
            .await??
            .map_err(|reason| invalid_input(&request.tile.object, reason))?;

        tracing::debug!(tile = %request.tile.object, laplacian_variance = measured.laplacian_variance, worker = %self.identity, "tile measured");
        Ok(TileMetrics {
            blurred: measured.laplacian_variance < request.blur_threshold,
            tile: request.tile,
            laplacian_variance: measured.laplacian_variance,
            mean_luminance: measured.mean_luminance,
            shadow_clipped_fraction: measured.shadow_clipped_fraction,
            highlight_clipped_fraction: measured.highlight_clipped_fraction,
            noise_sigma: measured.noise_sigma,
            worker: self.identity.clone(),
        })
    }
}
