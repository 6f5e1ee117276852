//! Activities of the orchestrator queue: writing the batch summary (one part per workflow run,
//! merged at the end) and, with the final summary, the batch's STAC Collection of its satellite
//! images' Items. Listing a batch's prefix is the batch engine's `ListBatchPage`.

use crate::bookkeeping;
use contracts::ObjectRef;
use contracts::automation::{ImageKind, ImageOutcome, ImageStatus, SummaryRequest};
use documents::automation::BatchSummaryDocument;
use fleet::{Storage, StorageError};
use futures::stream::{self, StreamExt, TryStreamExt};
use std::sync::Arc;

/// STAC Items read at once while a Collection is assembled.
const ITEM_READS_IN_FLIGHT: usize = 16;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// The orchestrator's activities and the storage they use.
pub struct OrchestratorActivities {
    storage: Storage,
}

impl OrchestratorActivities {
    /// Activities over the given storage.
    pub fn new(storage: Storage) -> Self {
        Self { storage }
    }
}

#[activities]
impl OrchestratorActivities {
    /// Writes `request.object`: the parts in `merge_parts` (read back, in order) followed by
    /// `request.images`, with `request.totals`. A run's part has no parts to merge; the final
    /// summary merges the earlier runs' parts with the last run's outcomes.
    #[activity(definition = contracts::automation::WriteBatchSummary)]
    pub async fn write_batch_summary(self: Arc<Self>, _ctx: ActivityContext, request: SummaryRequest) -> Result<ObjectRef, ActivityError> {
        let mut images = Vec::new();
        for part in &request.merge_parts {
            let bytes = self.storage.get(part).await.map_err(StorageError::into_activity_error)?;
            let document: BatchSummaryDocument =
                serde_json::from_slice(&bytes).map_err(|e| fleet::failure::invalid_input(part, format!("not a batch summary part: {e}")))?;
            images.extend(document.images);
        }
        images.extend(request.images);
        let document = BatchSummaryDocument { totals: request.totals, images };
        let body = serde_json::to_vec_pretty(&document)
            .map_err(|e| fleet::failure::invalid_input(&request.object, format!("cannot encode the summary: {e}")))?;
        self.storage.put(&request.object, body, "application/json").await.map_err(StorageError::into_activity_error)?;
        tracing::info!(object = %request.object, images = document.images.len(), parts = request.merge_parts.len(), "summary written");
        if let Some((batch_id, collection)) = bookkeeping::collection_object(&request.object) {
            self.write_collection(&batch_id, &collection, &document.images).await?;
        }
        Ok(request.object)
    }
}

impl OrchestratorActivities {
    /// Writes the STAC Collection of the batch's satellite images at `collection`, linking the
    /// Item the geolocalization worker wrote beside each GeoJSON. No satellite image, no
    /// Collection; an Item missing (written by a worker older than the Items) is left out.
    async fn write_collection(&self, batch_id: &str, collection: &ObjectRef, images: &[ImageOutcome]) -> Result<(), ActivityError> {
        let items: Vec<ObjectRef> = images
            .iter()
            .filter(|i| i.kind == Some(ImageKind::Satellite) && i.status == ImageStatus::Passed)
            .flat_map(|i| i.outputs.iter().filter(|o| o.key().ends_with(".geojson")))
            .filter_map(|geojson| ObjectRef::new(geojson.bucket(), documents::stac::item_key(geojson.key())).ok())
            .collect();
        if items.is_empty() {
            return Ok(());
        }
        let read: Vec<Option<(String, serde_json::Value)>> = stream::iter(items)
            .map(|item| async move {
                match self.storage.get(&item).await {
                    Ok(bytes) => match serde_json::from_slice(&bytes) {
                        Ok(value) => Ok(Some((relative_href(collection, &item), value))),
                        Err(e) => {
                            tracing::warn!(%item, error = %e, "not a STAC Item; left out of the collection");
                            Ok(None)
                        }
                    },
                    Err(StorageError::NotFound { .. }) => {
                        tracing::warn!(%item, "no STAC Item beside the GeoJSON; left out of the collection");
                        Ok(None)
                    }
                    Err(e) => Err(e.into_activity_error()),
                }
            })
            .buffered(ITEM_READS_IN_FLIGHT)
            .try_collect()
            .await?;
        let items: Vec<(String, serde_json::Value)> = read.into_iter().flatten().collect();
        if items.is_empty() {
            return Ok(());
        }
        let document = documents::stac::collection(batch_id, &collection.to_string(), &items);
        let body = serde_json::to_vec_pretty(&document)
            .map_err(|e| fleet::failure::invalid_input(collection, format!("cannot encode the STAC Collection: {e}")))?;
        self.storage.put(collection, body, "application/json").await.map_err(StorageError::into_activity_error)?;
        tracing::info!(%collection, items = items.len(), "STAC collection written");
        Ok(())
    }
}

/// `item`'s href from `collection`: `./<path>` when it lies under the Collection's folder, its
/// `s3://` URI otherwise.
fn relative_href(collection: &ObjectRef, item: &ObjectRef) -> String {
    let key = collection.key();
    let folder = &key[..key.rfind('/').map_or(0, |slash| slash + 1)];
    match item.key().strip_prefix(folder) {
        Some(rest) if item.bucket() == collection.bucket() => format!("./{rest}"),
        _ => item.to_string(),
    }
}
