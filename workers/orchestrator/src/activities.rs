//! Activities of the orchestrator queue: listing a batch's prefix one page at a time, and
//! writing the batch summary (one part per workflow run, merged at the end).

use crate::batch;
use contracts::ObjectRef;
use contracts::automation::{BatchSummaryDocument, ListPage, ListPageRequest, SummaryRequest};
use fleet::{Storage, StorageError};
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Largest page S3 returns.
const MAX_PAGE: u32 = 1000;

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
    /// Lists up to `max_keys` keys under the prefix after `start_after` and keeps the images.
    /// A page may hold no image at all (only sidecars) and still continue: the workflow asks
    /// for the next one.
    #[activity(definition = contracts::automation::ListBatchPage)]
    pub async fn list_batch_page(self: Arc<Self>, _ctx: ActivityContext, request: ListPageRequest) -> Result<ListPage, ActivityError> {
        let location = &request.location;
        let max_keys = request.max_keys.clamp(1, MAX_PAGE) as i32;
        let (listed, next_after) = self
            .storage
            .list_page(&location.bucket, &location.prefix, request.start_after.as_deref(), max_keys)
            .await
            .map_err(StorageError::into_activity_error)?;
        let objects: Vec<ObjectRef> = listed.into_iter().filter(|o| batch::is_input_image(o.key(), &location.prefix)).collect();
        tracing::debug!(%location, images = objects.len(), more = next_after.is_some(), "listed a page");
        Ok(ListPage { objects, next_after })
    }

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
        Ok(request.object)
    }
}
