//! Activities of the ingestion queue: `DigestObject` (the checksum sidecar) and `ValidateImage`
//! (navad image validation and its metadata JSON).

use crate::validation::{self, ValidationError};
use contracts::ObjectRef;
use contracts::automation::{ImageMetadata, IngestRequest};
use contracts::checksum::ChecksumResult;
use fleet::failure::{invalid_input, not_found, transient};
use fleet::kit::{self, Scratch};
use fleet::{Storage, StorageError};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// The ingestion worker's activities and the clients they use.
pub struct IngestionActivities {
    storage: Storage,
    scratch: Scratch,
}

impl IngestionActivities {
    /// Activities over the given storage, downloading into `scratch`.
    pub fn new(storage: Storage, scratch: Scratch) -> Self {
        Self { storage, scratch }
    }
}

/// The key of the metadata JSON written beside an image.
pub fn metadata_object(image: &ObjectRef) -> Result<ObjectRef, ActivityError> {
    image.with_suffix(".metadata.json").map_err(|e| invalid_input(image, e))
}

#[activities]
impl IngestionActivities {
    /// Reads the object, computes its SHA-256 and writes `<key>.sha256` in `sha256sum` format.
    #[activity(definition = contracts::checksum::DigestObject)]
    pub async fn digest_object(self: Arc<Self>, _ctx: ActivityContext, object: ObjectRef) -> Result<ChecksumResult, ActivityError> {
        let bytes = self.storage.get(&object).await.map_err(StorageError::into_activity_error)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let sidecar = object.with_suffix(".sha256").map_err(|e| invalid_input(&object, e))?;
        let line = format!("{sha256}  {}\n", object.file_name());
        self.storage.put(&sidecar, line.into_bytes(), "text/plain").await.map_err(StorageError::into_activity_error)?;
        tracing::info!(%object, size = bytes.len(), "digested");
        Ok(ChecksumResult { object, size: bytes.len() as u64, sha256, sidecar })
    }

    /// Validates a navad image (size, format, header limits, a full decode, SHA-256, EXIF) and
    /// writes its metadata JSON to `<key>.metadata.json` beside it. Bad input fails
    /// non-retryably with the object's URI and the reason.
    #[activity(definition = contracts::automation::ValidateImage)]
    pub async fn validate_image(self: Arc<Self>, _ctx: ActivityContext, request: IngestRequest) -> Result<ImageMetadata, ActivityError> {
        let image = request.image;
        // The size from a HEAD first: an oversized or empty object is refused without
        // downloading a byte of it.
        let size =
            self.storage.size(&image).await.map_err(StorageError::into_activity_error)?.ok_or_else(|| not_found(&image, "object not found"))?;
        validation::check_size(size, &request.limits).map_err(|e| invalid_input(&image, e))?;

        // Streamed to a private scratch file (named by us, never by the key) so large images
        // are not held in memory while downloading.
        let scratch = self.scratch.dir()?;
        let local = scratch.path().join("image");
        self.storage.download_to_file(&image, &local).await.map_err(StorageError::into_activity_error)?;

        let limits = request.limits.clone();
        let inspection = kit::blocking(&image, move || validation::inspect(&local, &limits))
            .await?
            .map_err(|e: ValidationError| if e.is_input_fault() { invalid_input(&image, e) } else { transient(&image, e) })?;
        drop(scratch);

        let metadata = ImageMetadata {
            metadata_object: metadata_object(&image)?,
            image,
            format: inspection.format.to_owned(),
            width: inspection.width,
            height: inspection.height,
            size_bytes: inspection.size_bytes,
            sha256: inspection.sha256,
            exif: inspection.exif,
        };
        let json = serde_json::to_vec_pretty(&metadata)?;
        self.storage.put(&metadata.metadata_object, json, "application/json").await.map_err(StorageError::into_activity_error)?;
        tracing::info!(image = %metadata.image, width = metadata.width, height = metadata.height, format = %metadata.format, "image validated");
        Ok(metadata)
    }
}
