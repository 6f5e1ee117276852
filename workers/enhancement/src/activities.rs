//! Activities of the enhancement queue.
//!
//! [`EnhancementActivities::enhance_object`] keeps every local file inside one scratch
//! directory of its own (under `ENHANCEMENT_SCRATCH_DIR`), removed when the last holder lets go:
//! on success, on any error, and on cancellation (the activity future is dropped, and the
//! blocking decode/encode tasks hold their own handle, so the directory goes when they end).

use crate::imaging::{self, ImageFileError, OutputFormat};
use crate::local_enhancer;
use crate::openai_enhancer::{self, OpenAiEnhancer};
use crate::settings::WorkerSettings;
use contracts::ObjectRef;
use contracts::batch::ListPageRequest;
use contracts::enhancement::{Dimensions, EnhanceObjectInput, EnhancedObject, Enhancer, ListRequest, ListedImages, Verification, VerifyInput};
use fleet::kit::{self, Scratch};
use fleet::{Storage, StorageError, failure};
use image::DynamicImage;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tempfile::TempDir;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// The enhancement worker's activities and the clients they use.
#[derive(Debug)]
pub struct EnhancementActivities {
    storage: Storage,
    scratch: Scratch,
    settings: WorkerSettings,
    openai: OpenAiEnhancer,
}

impl EnhancementActivities {
    /// Activities over `storage`, with local files under `scratch` and the worker's settings.
    pub fn new(storage: Storage, scratch: Scratch, settings: WorkerSettings) -> anyhow::Result<Self> {
        let openai = OpenAiEnhancer::new(&settings.openai)?;
        Ok(Self { storage, scratch, settings, openai })
    }
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

/// Runs CPU-heavy work through the kit. `scratch` travels with it so the scratch directory
/// outlives the work even if the activity is dropped meanwhile.
async fn blocking<T: Send + 'static>(
    subject: &ObjectRef,
    scratch: &Arc<TempDir>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ActivityError> {
    let keep = scratch.clone();
    kit::blocking(subject, move || {
        let out = work();
        drop(keep);
        out
    })
    .await
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
        let scratch = Arc::new(self.scratch.dir()?);
        let stage = Stage::new();

        // Download and enhancement are abandoned on cancellation; an upload, once started, is
        // finished and reported, so the workflow always knows what it has to withdraw.
        let produced = kit::heartbeating(&ctx, || stage.get().to_owned(), self.produce(&input, format, &scratch, &stage)).await;
        let (source, produced) = match produced {
            Ok(result) => result?,
            Err(cancelled) => {
                tracing::info!(source = %input.source, "cancelled; scratch files removed");
                return Err(cancelled);
            }
        };
        stage.set("uploading");
        let upload = self.storage.put_file(&input.destination, &produced.path, format.content_type());
        kit::heartbeating_to_completion(&ctx, || stage.get().to_owned(), upload).await.map_err(StorageError::into_activity_error)?;
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
        let measured = kit::blocking(&object, move || {
            imaging::decode_bytes(&bytes, max_pixels).map(|image| (imaging::dimensions(&image), imaging::contrast_spread(&image)))
        })
        .await?;
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

    /// The list activity of batch runs started before the batch engine (see
    /// `workflows::ONE_BATCH_ENGINE`): the engine's listing, in the old shape.
    #[activity(definition = contracts::enhancement::ListEnhanceable)]
    pub async fn list_enhanceable(self: Arc<Self>, _ctx: ActivityContext, request: ListRequest) -> Result<ListedImages, ActivityError> {
        let ListRequest { location, start_after, max_keys } = request;
        let page = batch::list_page(&self.storage, &ListPageRequest { location, start_after, max_keys }).await?;
        let skipped = page.skipped_before.iter().sum::<u64>() + page.skipped_after;
        Ok(ListedImages { images: page.objects, skipped, next_after: page.next_after })
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
        let source = blocking(&input.source, scratch, move || {
            let image = imaging::decode_file(&source_path, max_pixels).map_err(|e| read_error(&subject, e))?;
            Ok::<_, ActivityError>(Source { size: imaging::dimensions(&image), contrast_spread: imaging::contrast_spread(&image), image })
        })
        .await??;
        let output_size = imaging::output_dimensions(input.size, source.size);
        let output_path = scratch.path().join(format!("enhanced.{}", format.extension()));

        stage.set("enhancing");
        let (source, enhanced) = match &input.enhancer {
            Enhancer::Local(params) => {
                let params = params.clone();
                blocking(&input.source, scratch, move || {
                    let enhanced = local_enhancer::enhance(&source.image, &params, output_size);
                    (source, enhanced)
                })
                .await?
            }
            Enhancer::Openai(params) => {
                let (prepare_params, subject) = (params.clone(), input.source.clone());
                let (source, prepared) = blocking(&input.source, scratch, move || {
                    let prepared = openai_enhancer::prepare(&source.image, &prepare_params).map_err(|e| failure::invalid_input(&subject, e));
                    (source, prepared)
                })
                .await?;
                let prepared = prepared?;
                stage.set("waiting for OpenAI");
                let answer = self.openai.edit(&input.source, prepared.png, params).await?;
                stage.set("enhancing");
                let subject = input.source.clone();
                blocking(&input.source, scratch, move || {
                    let decoded = imaging::decode_bytes(&answer, max_pixels)
                        .map_err(|e| failure::transient(&subject, format!("the images API answered with an unreadable image: {e}")))?;
                    Ok::<_, ActivityError>((source, openai_enhancer::finish(&decoded, prepared.placement, output_size)))
                })
                .await??
            }
        };

        let subject = input.destination.clone();
        let path = output_path.clone();
        let (bytes, contrast_spread) = blocking(&input.destination, scratch, move || {
            let bytes =
                imaging::encode_file(&enhanced, format, &path).map_err(|e| failure::transient(&subject, format!("writing the local result: {e}")))?;
            Ok::<_, ActivityError>((bytes, imaging::contrast_spread(&enhanced)))
        })
        .await??;
        Ok((source, Produced { path: output_path, size: output_size, bytes, contrast_spread }))
    }
}
