//! Activities of the orchestrator queue: writing the batch summary (one part per workflow run,
//! merged at the end). Listing a batch's prefix is the batch engine's `ListBatchPage`.

use contracts::ObjectRef;
use contracts::automation::SummaryRequest;
use documents::automation::BatchSummaryDocument;
use fleet::{Storage, StorageError};
use std::sync::Arc;
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
        Ok(request.object)
    }
}
