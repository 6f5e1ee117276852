//! Activities of the accuracy-dispatcher queue: `SplitTiles` (decode once, write the tiles as
//! objects) and `WriteAccuracyReport` (aggregate and write the report JSON).

use crate::{report, tiling};
use contracts::ObjectRef;
use contracts::automation::{AccuracyOutcome, ReportRequest, SplitRequest, TileRef};
use fleet::failure::{invalid_input, transient};
use fleet::kit::{self, Scratch};
use fleet::{Storage, StorageError};
use futures::{StreamExt, TryStreamExt};
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Tile uploads in flight at once.
const UPLOAD_CONCURRENCY: usize = 8;

/// The dispatcher's activities and the storage they use.
pub struct DispatcherActivities {
    storage: Storage,
    scratch: Scratch,
}

impl DispatcherActivities {
    /// Activities over `storage`, downloading into `scratch`.
    pub fn new(storage: Storage, scratch: Scratch) -> Self {
        Self { storage, scratch }
    }
}

/// Where a tile goes: `<output_prefix>/tiles/r{row}c{col}.png` in the output bucket, the same
/// key on every run (a retried split overwrites).
pub fn tile_object(request: &SplitRequest, rect: &tiling::TileRect) -> Result<ObjectRef, ActivityError> {
    ObjectRef::under(&request.output_bucket, &request.output_prefix, &format!("tiles/r{}c{}.png", rect.row, rect.column))
        .map_err(|e| invalid_input(&request.image, format!("bad output location: {e}")))
}

#[activities]
impl DispatcherActivities {
    /// Decodes the image once, converts it to 8-bit luminance, cuts the grid and writes every
    /// tile as a lossless grayscale PNG; returns the tiles' references (keys, not pixels).
    #[activity(definition = contracts::automation::SplitTiles)]
    pub async fn split_tiles(self: Arc<Self>, _ctx: ActivityContext, request: SplitRequest) -> Result<Vec<TileRef>, ActivityError> {
        let image = request.image.clone();
        let scratch = self.scratch.dir()?;
        let local = scratch.path().join("image");
        self.storage.download_to_file(&image, &local).await.map_err(StorageError::into_activity_error)?;

        let (columns, rows) = (request.columns, request.rows);
        let tiles = kit::blocking(&image, move || {
            let luma = tiling::decode_luminance(&local)?;
            let rects = tiling::grid(luma.width(), luma.height(), columns, rows)?;
            tiling::encode_tiles(&luma, &rects)
        })
        .await?
        .map_err(|e| if e.is_input_fault() { invalid_input(&image, e) } else { transient(&image, e) })?;
        drop(scratch);

        let uploads = tiles.into_iter().map(|(rect, png)| {
            let storage = self.storage.clone();
            let object = tile_object(&request, &rect);
            async move {
                let object = object?;
                storage.put(&object, png, "image/png").await.map_err(StorageError::into_activity_error)?;
                Ok::<_, ActivityError>(TileRef {
                    column: rect.column,
                    row: rect.row,
                    x: rect.x,
                    y: rect.y,
                    width: rect.width,
                    height: rect.height,
                    object,
                })
            }
        });
        let refs: Vec<TileRef> = futures::stream::iter(uploads).buffered(UPLOAD_CONCURRENCY).try_collect().await?;
        tracing::info!(%image, tiles = refs.len(), columns, rows, "image split into tiles");
        Ok(refs)
    }

    /// Aggregates every tile's metrics into the report (see `report` for the score), writes it
    /// as JSON and returns the verdict.
    #[activity(definition = contracts::automation::WriteAccuracyReport)]
    pub async fn write_accuracy_report(self: Arc<Self>, _ctx: ActivityContext, request: ReportRequest) -> Result<AccuracyOutcome, ActivityError> {
        let built = report::build(&request).map_err(|e| invalid_input(&request.image, format!("cannot build the accuracy report: {e}")))?;
        let json = serde_json::to_vec_pretty(&built)?;
        self.storage.put(&request.report, json, "application/json").await.map_err(StorageError::into_activity_error)?;
        tracing::info!(image = %request.image, score = built.score.overall, passed = built.passed, "accuracy report written");
        Ok(built.outcome(request.report))
    }
}
