//! The `MeasureTiles` activity (and `ComputeTileMetrics`, its one-tile form for older runs):
//! reads tile objects, measures them off the async threads, heartbeating while it works, and
//! stamps each result with this worker's identity.

use crate::metrics::{self, Luma};
use contracts::automation::{TileGroupRequest, TileMetrics, TileMetricsRequest, TileRef};
use fleet::failure::invalid_input;
use fleet::kit;
use fleet::{Storage, StorageError};
use futures::{StreamExt, TryStreamExt};
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

/// How many tiles' downloads are in flight at once in a group.
const DOWNLOAD_CONCURRENCY: usize = 8;

/// Decodes one tile PNG and measures it; a tile that does not decode or whose size differs from
/// its reference is bad input.
fn measure_tile(bytes: &[u8], tile: &TileRef) -> Result<metrics::Metrics, String> {
    let luma = image::load_from_memory_with_format(bytes, image::ImageFormat::Png).map_err(|e| format!("not a readable PNG tile: {e}"))?.into_luma8();
    if luma.dimensions() != (tile.width, tile.height) {
        return Err(format!("tile is {}x{} pixels, its reference says {}x{}", luma.width(), luma.height(), tile.width, tile.height));
    }
    let view = Luma::new(luma.width(), luma.height(), luma.as_raw()).map_err(|e| e.to_string())?;
    Ok(metrics::measure(view))
}

impl ProcessorActivities {
    /// The result of one measured tile, stamped with this worker's identity.
    fn tile_metrics(&self, tile: TileRef, measured: metrics::Metrics, blur_threshold: f64) -> TileMetrics {
        tracing::debug!(tile = %tile.object, laplacian_variance = measured.laplacian_variance, worker = %self.identity, "tile measured");
        TileMetrics {
            blurred: measured.laplacian_variance < blur_threshold,
            tile,
            laplacian_variance: measured.laplacian_variance,
            mean_luminance: measured.mean_luminance,
            shadow_clipped_fraction: measured.shadow_clipped_fraction,
            highlight_clipped_fraction: measured.highlight_clipped_fraction,
            noise_sigma: measured.noise_sigma,
            worker: self.identity.clone(),
        }
    }
}

impl ProcessorActivities {
    /// The work of [`MeasureTiles`](contracts::automation::MeasureTiles), shared with the one-tile
    /// activity.
    async fn measure_group(&self, ctx: &ActivityContext, request: TileGroupRequest) -> Result<Vec<TileMetrics>, ActivityError> {
        let count = request.tiles.len();
        let downloads = futures::stream::iter(request.tiles.clone())
            .map(|tile| {
                let storage = self.storage.clone();
                async move { storage.get(&tile.object).await }
            })
            .buffered(DOWNLOAD_CONCURRENCY)
            .try_collect::<Vec<_>>();
        let tiles_bytes =
            kit::heartbeating(ctx, || format!("downloading {count} tiles"), downloads).await?.map_err(StorageError::into_activity_error)?;

        let tiles = request.tiles.clone();
        let first = request.tiles.first().map(|t| t.object.to_string()).unwrap_or_default();
        let work = kit::blocking(&first, move || -> Result<Vec<metrics::Metrics>, ActivityError> {
            tiles
                .iter()
                .zip(&tiles_bytes)
                .map(|(tile, bytes)| measure_tile(bytes, tile).map_err(|reason| invalid_input(&tile.object, reason)))
                .collect()
        });
        // Heartbeat until the blocking work is done, so a worker that dies mid-group is noticed
        // after one heartbeat timeout instead of the whole start-to-close timeout.
        let measured = kit::heartbeating(ctx, || format!("measuring {count} tiles"), work).await???;
        Ok(request.tiles.into_iter().zip(measured).map(|(tile, m)| self.tile_metrics(tile, m, request.blur_threshold)).collect())
    }
}

#[activities]
impl ProcessorActivities {
    /// Computes the quality metrics of a group of tiles (see `metrics`), in the group's order:
    /// the tiles are downloaded concurrently, then measured on one blocking thread while the
    /// activity heartbeats. A bad tile fails the group non-retryably, naming the tile object.
    #[activity(definition = contracts::automation::MeasureTiles)]
    pub async fn measure_tiles(self: Arc<Self>, ctx: ActivityContext, request: TileGroupRequest) -> Result<Vec<TileMetrics>, ActivityError> {
        self.measure_group(&ctx, request).await
    }

    /// The metrics of one tile: the fan-out of `AnalyzeAccuracy` runs recorded before
    /// `MeasureTiles` (one activity per tile).
    #[activity(definition = contracts::automation::ComputeTileMetrics)]
    pub async fn compute_tile_metrics(self: Arc<Self>, ctx: ActivityContext, request: TileMetricsRequest) -> Result<TileMetrics, ActivityError> {
        let group = TileGroupRequest { tiles: vec![request.tile], blur_threshold: request.blur_threshold };
        let mut measured = self.measure_group(&ctx, group).await?;
        measured.pop().ok_or_else(|| invalid_input("tile group", "no tile measured"))
    }
}
