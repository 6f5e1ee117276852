//! Activities of the ingestion queue.

use contracts::ObjectRef;
use contracts::checksum::ChecksumResult;
use fleet::{Storage, StorageError};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// The ingestion worker's activities and the clients they use.
pub struct IngestionActivities {
    storage: Storage,
}

impl IngestionActivities {
    /// Activities over the given storage.
    pub fn new(storage: Storage) -> Self {
        Self { storage }
    }
}

#[activities]
impl IngestionActivities {
    /// Reads the object, computes its SHA-256 and writes `<key>.sha256` in `sha256sum` format.
    #[activity(definition = contracts::checksum::DigestObject)]
    pub async fn digest_object(self: Arc<Self>, _ctx: ActivityContext, object: ObjectRef) -> Result<ChecksumResult, ActivityError> {
        let bytes = self.storage.get(&object).await.map_err(StorageError::into_activity_error)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let sidecar = object
            .with_suffix(".sha256")
            .map_err(|e| fleet::failure::invalid_input(&object, e))?;
        let line = format!("{sha256}  {}\n", object.file_name());
        self.storage.put(&sidecar, line.into_bytes(), "text/plain").await.map_err(StorageError::into_activity_error)?;
        tracing::info!(%object, size = bytes.len(), "digested");
        Ok(ChecksumResult { object, size: bytes.len() as u64, sha256, sidecar })
    }
}
