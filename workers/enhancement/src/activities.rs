//! Activities of the enhancement queue.
//!
//! [`EnhancementActivities::enhance_object`] keeps every local file inside one temporary
//! directory of its own (under `ENHANCEMENT_TEMP_DIR`), removed when the last holder lets go:
//! on success, on any error, and on cancellation (the activity future is dropped, and the
//! blocking decode/encode tasks hold their own handle, so the directory goes when they end).

use crate::imaging::{self, ImageFileError, OutputFormat};
use crate::local_enhancer;
use crate::openai_enhancer::{self, OpenAiEnhancer};
use crate::settings::WorkerSettings;
use contracts::ObjectRef;
use contracts::enhancement::{
    Dimensions, EnhanceObjectInput, EnhancedObject, Enhancer, ListRequest, ListedImages, Verification, VerifyInput, is_enhanceable_key,
};
use fleet::{Storage, StorageError, failure};
use image::DynamicImage;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tempfile::TempDir;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// The enhancement worker's activities and the clients they use.
#[derive(Debug)]
pub struct EnhancementActivities {
    storage: Storage,
    settings: WorkerSettings,
    openai: OpenAiEnhancer,
}

impl EnhancementActivities {
    /// Activities over `storage`, with the worker's settings.
    pub fn new(storage: Storage, settings: WorkerSettings) -> anyhow::Result<Self> {
        let openai = OpenAiEnhancer::new(&settings.openai)?;
        let swept = sweep_stale_scratch(&settings.temp_root, STALE_SCRATCH_AGE);
        if swept > 0 {
            tracing::info!(count = swept, root = %settings.temp_root.display(), "removed temporary directories left by a crashed worker");
        }
        Ok(Self { storage, settings, openai })
    }
}

/// Name prefix of the per-activity temporary directories.
const SCRATCH_PREFIX: &str = "enhance-";
/// A temporary directory untouched this long belongs to no running activity (the enhance
/// activity's timeout is minutes); only a killed worker leaves one behind.
pub const STALE_SCRATCH_AGE: Duration = Duration::from_secs(24 * 3600);

/// Removes `enhance-*` directories under `root` not modified for `older_than`: what a worker
/// killed mid-activity (SIGKILL, power loss) could not clean up. Returns how many went.
pub fn sweep_stale_scratch(root: &std::path::Path, older_than: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(SCRATCH_PREFIX))
        .filter(|e| e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age > older_than))
        .filter(|e| std::fs::remove_dir_all(e.path()).is_ok())
        .count()
}

/// What the activity is doing, sent with each heartbeat (shown in the Web UI's pending
/// activity).
#[derive(Clone)]
struct Stage(Arc<Mutex<&'static str>>);

impl Stage {
    fn new() -> Self {
        Self(Arc::new(Mutex::new("starting")))
    }
    fn set(&self, stage: &'static str) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = stage;
    }
    fn get(&self) -> &'static str {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Heartbeats until dropped. Cancellation reaches an activity only through its heartbeats.
async fn keep_heartbeating(ctx: ActivityContext, stage: Stage) -> Infallible {
    let every = ctx.info().heartbeat_timeout.map_or(Duration::from_secs(10), |t| (t / 4).clamp(Duration::from_millis(200), Duration::from_secs(10)));
    loop {
        if let Err(e) = ctx.record_heartbeat(stage.get().to_owned()).await {
            tracing::debug!(error = %e, "heartbeat not recorded");
        }
        tokio::time::sleep(every).await;
    }
}

/// Runs CPU-heavy work off the async threads. `scratch` travels with it so the temporary
/// directory outlives the work even if the activity is dropped meanwhile.
async fn blocking<T: Send + 'static>(scratch: &Arc<TempDir>, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ActivityError> {
    let keep = scratch.clone();
    tokio::task::spawn_blocking(move || {
        let out = work();
        drop(keep);
        out
    })
    .await
    .map_err(|e| failure::transient("enhancement worker", format!("image task panicked: {e}")))
}

/// A decoded source and what was measured on it.
struct Source {
    image: DynamicImage,
    size: Dimensions,
    contrast_spread: u8,
}

/// The enhanced file, ready to upload.
struct Produced {
    path: PathBuf,
    size: Dimensions,
    bytes: u64,
    contrast_spread: u8,
}

fn read_error(subject: &ObjectRef, error: ImageFileError) -> ActivityError {
    if error.is_input_error() { failure::invalid_input(subject, error) } else { failure::transient(subject, error) }
}

#[activities]
impl EnhancementActivities {
    /// Downloads the source into a fresh temporary directory, enhances it, uploads the result
    /// to the destination, and removes the directory on every path out.
    #[activity(definition = contracts::enhancement::EnhanceObject)]
    pub async fn enhance_object(self: Arc<Self>, ctx: ActivityContext, input: EnhanceObjectInput) -> Result<EnhancedObject, ActivityError> {
        input.enhancer.validate().map_err(|e| failure::invalid_input(&input.source, format!("{} enhancer: {e}", input.enhancer.kind())))?;
        input.size.validate().map_err(|e| failure::invalid_input(&input.destination, e))?;
        if input.destination == input.source {
            return Err(failure::invalid_input(
                &input.destination,
                "is the source itself: a failed result would be withdrawn, deleting the original",
            ));
        }
        let format = OutputFormat::for_key(input.destination.key()).ok_or_else(|| {
            failure::invalid_input(&input.destination, "the extension names no format the enhancers write (.png, .jpg, .jpeg, .tif, .tiff)")
        })?;
        let scratch = Arc::new(
            tempfile::Builder::new()
                .prefix(SCRATCH_PREFIX)
                .tempdir_in(&self.settings.temp_root)
                .map_err(|e| failure::transient("ENHANCEMENT_TEMP_DIR", format!("{}: {e}", self.settings.temp_root.display())))?,
        );
        let stage = Stage::new();
        let heartbeats = keep_heartbeating(ctx.clone(), stage.clone());
        tokio::pin!(heartbeats);

        // Download and enhancement are abandoned on cancellation; an upload, once started, is
        // finished and reported, so the workflow always knows what it has to withdraw.
        let (source, produced) = tokio::select! {
            result = self.produce(&input, format, &scratch, &stage) => result?,
            () = ctx.cancelled() => {
                tracing::info!(source = %input.source, "cancelled; temporary files removed");
                return Err(ActivityError::cancelled());
            }
            never = &mut heartbeats => match never {},
        };
        stage.set("uploading");
        tokio::select! {
            result = self.storage.put_file(&input.destination, &produced.path, format.content_type()) => {
                result.map_err(StorageError::into_activity_error)?;
            }
            never = &mut heartbeats => match never {},
        }
        tracing::info!(source = %input.source, destination = %input.destination, enhancer = %input.enhancer, size = %produced.size, "enhanced");
        Ok(EnhancedObject {
            source: input.source,
            destination: input.destination,
            enhancer: input.enhancer.to_string(),
            source_size: source.size,
            output_size: produced.size,
            output_bytes: produced.bytes,
            source_contrast_spread: source.contrast_spread,
            output_contrast_spread: produced.contrast_spread,
        })
    }

    /// Reads the uploaded result back and checks it: non-empty, decodable, of the size the
    /// enhancement reported, and meeting the request's policy.
    #[activity(definition = contracts::enhancement::VerifyEnhanced)]
    pub async fn verify_enhanced(self: Arc<Self>, _ctx: ActivityContext, input: VerifyInput) -> Result<Verification, ActivityError> {
        let object = input.object.clone();
        let bytes = self.storage.get(&object).await.map_err(StorageError::into_activity_error)?;
        let size = bytes.len() as u64;
        let max_pixels = self.settings.max_input_pixels.max(input.expected_size.width as u64 * input.expected_size.height as u64);
        let measured = tokio::task::spawn_blocking(move || {
            imaging::decode_bytes(&bytes, max_pixels).map(|image| (imaging::dimensions(&image), imaging::contrast_spread(&image)))
        })
        .await
        .map_err(|e| failure::transient(&object, format!("verification task panicked: {e}")))?;
        let (dimensions, contrast_spread) =
            measured.map_err(|e| failure::invalid_input(&object, format!("the uploaded result is unreadable: {e}")))?;
        if dimensions != input.expected_size {
            return Err(failure::invalid_input(&object, format!("the uploaded result is {dimensions}, expected {}", input.expected_size)));
        }
        let required = input.policy.min_contrast_spread;
        if contrast_spread < required {
            return Err(failure::invalid_input(
                &object,
                format!(
                    "the result's contrast spread {contrast_spread} is below the required {required} (min_contrast_spread): the source has too little to recover"
                ),
            ));
        }
        Ok(Verification { bytes: size, size: dimensions, contrast_spread })
    }

    /// The compensation of an upload: deletes the object (a missing object is fine, so a
    /// retried compensation succeeds).
    #[activity(definition = contracts::enhancement::WithdrawEnhanced)]
    pub async fn withdraw_enhanced(self: Arc<Self>, _ctx: ActivityContext, object: ObjectRef) -> Result<(), ActivityError> {
        self.storage.delete(&object).await.map_err(StorageError::into_activity_error)?;
        tracing::info!(%object, "withdrawn");
        Ok(())
    }

    /// One page of the keys under a prefix, split into images and others.
    #[activity(definition = contracts::enhancement::ListEnhanceable)]
    pub async fn list_enhanceable(self: Arc<Self>, _ctx: ActivityContext, request: ListRequest) -> Result<ListedImages, ActivityError> {
        let location = &request.location;
        let (objects, next_after) = self
            .storage
            .list_page(&location.bucket, &location.prefix, request.start_after.as_deref(), request.max_keys.clamp(1, 1000) as i32)
            .await
            .map_err(StorageError::into_activity_error)?;
        let read = objects.len() as u64;
        let images: Vec<ObjectRef> = objects.into_iter().filter(|o| is_enhanceable_key(o.key())).collect();
        Ok(ListedImages { skipped: read - images.len() as u64, images, next_after })
    }
}

impl EnhancementActivities {
    async fn produce(
        &self,
        input: &EnhanceObjectInput,
        format: OutputFormat,
        scratch: &Arc<TempDir>,
        stage: &Stage,
    ) -> Result<(Source, Produced), ActivityError> {
        stage.set("downloading");
        let source_path = scratch.path().join("source");
        self.storage.download_to_file(&input.source, &source_path).await.map_err(StorageError::into_activity_error)?;

        stage.set("decoding");
        let max_pixels = self.settings.max_input_pixels;
        let subject = input.source.clone();
        let source = blocking(scratch, move || {
            let image = imaging::decode_file(&source_path, max_pixels).map_err(|e| read_error(&subject, e))?;
            Ok::<_, ActivityError>(Source { size: imaging::dimensions(&image), contrast_spread: imaging::contrast_spread(&image), image })
        })
        .await??;
        let output_size = input.size.resolve(source.size);
        let output_path = scratch.path().join(format!("enhanced.{}", format.extension()));

        stage.set("enhancing");
        let (source, enhanced) = match &input.enhancer {
            Enhancer::Local(params) => {
                let params = params.clone();
                blocking(scratch, move || {
                    let enhanced = local_enhancer::enhance(&source.image, &params, output_size);
                    (source, enhanced)
                })
                .await?
            }
            Enhancer::Openai(params) => {
                let (prepare_params, subject) = (params.clone(), input.source.clone());
                let (source, prepared) = blocking(scratch, move || {
                    let prepared = openai_enhancer::prepare(&source.image, &prepare_params).map_err(|e| failure::invalid_input(&subject, e));
                    (source, prepared)
                })
                .await?;
                let prepared = prepared?;
                stage.set("waiting for OpenAI");
                let answer = self.openai.edit(&input.source, prepared.png, params).await?;
                stage.set("enhancing");
                let subject = input.source.clone();
                blocking(scratch, move || {
                    let decoded = imaging::decode_bytes(&answer, max_pixels)
                        .map_err(|e| failure::transient(&subject, format!("the images API answered with an unreadable image: {e}")))?;
                    Ok::<_, ActivityError>((source, openai_enhancer::finish(&decoded, prepared.placement, output_size)))
                })
                .await??
            }
        };

        let subject = input.destination.clone();
        let path = output_path.clone();
        let (bytes, contrast_spread) = blocking(scratch, move || {
            let bytes =
                imaging::encode_file(&enhanced, format, &path).map_err(|e| failure::transient(&subject, format!("writing the local result: {e}")))?;
            Ok::<_, ActivityError>((bytes, imaging::contrast_spread(&enhanced)))
        })
        .await??;
        Ok((source, Produced { path: output_path, size: output_size, bytes, contrast_spread }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_only_old_scratch_directories() {
        let root = tempfile::tempdir().unwrap();
        let old = root.path().join("enhance-old");
        let fresh = root.path().join("enhance-fresh");
        let other = root.path().join("unrelated");
        for dir in [&old, &fresh, &other] {
            std::fs::create_dir(dir).unwrap();
            std::fs::write(dir.join("source"), b"x").unwrap();
        }
        let long_ago = std::time::SystemTime::now() - Duration::from_secs(3 * 24 * 3600);
        for dir in [&old, &other] {
            std::fs::File::open(dir).unwrap().set_modified(long_ago).unwrap();
        }
        assert_eq!(sweep_stale_scratch(root.path(), STALE_SCRATCH_AGE), 1);
        assert!(!old.exists());
        assert!(fresh.exists() && other.exists());
    }
}
