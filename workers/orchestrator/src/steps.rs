//! `ImagePipeline`'s steps, one task each on the step's queue: no child workflow per step,
//! and the tiles of an image measured in groups sized by its pixels
//! ([`bookkeeping::tile_groups`]), so a 1 MP navad image costs a few dozen history events.
//!
//! - navad: `ValidateImage` (ingestion), `SplitTiles` (accuracy-dispatcher), the `MeasureTiles`
//!   groups all at once (accuracy-processor), `WriteAccuracyReport` (accuracy-dispatcher);
//! - satellite: `ComputeFootprint` (geolocalization);
//! - kind unknown: `DetectImageKind` (geolocalization) first.
//!
//! A failed step ends the image with an `Error` outcome carrying the root cause and the outputs
//! written before it, so the batch goes on.

use crate::bookkeeping;
use crate::workflows::{ImagePipelineWorkflow, stage, status};
use contracts::automation::{
    ComputeFootprint, DetectImageKind, GeolocalizeRequest, ImageJob, ImageKind, ImageOutcome, IngestRequest, MeasureTiles, ReportRequest,
    SplitRequest, SplitTiles, TileGroupRequest, ValidateImage, WriteAccuracyReport, validate_grid,
};
use contracts::{ObjectRef, Queue, search};
use documents::automation::ACCURACY_REPORT_NAME;
use fleet::failure::{RootCause, activity_options, activity_root_cause, invalid_input_cause};
use temporalio_sdk::{ActivityExecutionError, WorkflowContext};

/// A failed step: its root cause and the outputs written before it failed.
pub(crate) type StepFailure = (RootCause, Vec<ObjectRef>);

/// The failure of a step, keeping the outputs written before it.
fn failed(outputs: &[ObjectRef]) -> impl Fn(ActivityExecutionError) -> StepFailure + '_ {
    move |e| (activity_root_cause(&e), outputs.to_vec())
}

/// Detects the kind when needed, then runs the image's path.
pub(crate) async fn process_image(ctx: &WorkflowContext<ImagePipelineWorkflow>, job: &ImageJob) -> ImageOutcome {
    let object = &job.image.object;
    let kind = match job.image.kind {
        Some(kind) => kind,
        None => {
            ctx.upsert_search_attributes([
                search::PIPELINE_STATUS.value_set(status::RUNNING.to_owned()),
                search::PIPELINE_STAGE.value_set(stage::DETECTION.to_owned()),
            ]);
            match detect_kind(ctx, job).await {
                Ok(kind) => kind,
                Err(outcome) => return outcome,
            }
        }
    };
    let first_stage = match kind {
        ImageKind::Navad => stage::INGESTION,
        ImageKind::Satellite => stage::GEOLOCALIZATION,
    };
    ctx.upsert_search_attributes([
        search::PIPELINE_STATUS.value_set(status::RUNNING.to_owned()),
        search::IMAGE_TYPE.value_set(kind.as_str().to_owned()),
        search::PIPELINE_STAGE.value_set(first_stage.to_owned()),
    ]);
    let result = match kind {
        ImageKind::Navad => navad_path(ctx, job).await,
        ImageKind::Satellite => satellite_path(ctx, job).await,
    };
    outcome_of(object, kind, result)
}

/// The kind of an image whose request leaves it open, from `DetectImageKind`; a failed
/// detection is the image's `Error` outcome.
pub(crate) async fn detect_kind(ctx: &WorkflowContext<ImagePipelineWorkflow>, job: &ImageJob) -> Result<ImageKind, ImageOutcome> {
    let object = &job.image.object;
    let options = activity_options(&job.settings.activities.detect_kind, queue(ctx, Queue::Geolocalization));
    ctx.execute_activity(DetectImageKind, object.clone(), options).await.map_err(|e| {
        let cause = activity_root_cause(&e);
        bookkeeping::error_outcome(object, None, &cause.message, cause.error_type.as_deref())
    })
}

/// An image's outcome from its path's result: a failed step becomes an `Error` outcome with the
/// outputs written before it.
pub(crate) fn outcome_of(object: &ObjectRef, kind: ImageKind, result: Result<ImageOutcome, StepFailure>) -> ImageOutcome {
    result.unwrap_or_else(|(cause, outputs)| ImageOutcome {
        outputs,
        ..bookkeeping::error_outcome(object, Some(kind), &cause.message, cause.error_type.as_deref())
    })
}

/// The full name of another worker's queue, from this workflow's own.
fn queue(ctx: &WorkflowContext<ImagePipelineWorkflow>, worker: Queue) -> String {
    worker.beside(Queue::Orchestrator, ctx.task_queue())
}

/// Validation (and its metadata JSON), then the accuracy analysis.
async fn navad_path(ctx: &WorkflowContext<ImagePipelineWorkflow>, job: &ImageJob) -> Result<ImageOutcome, StepFailure> {
    let object = &job.image.object;
    let settings = &job.settings;
    let activities = &settings.activities;

    let validate = IngestRequest { image: object.clone(), limits: settings.limits.clone(), activity: activities.validate.clone() };
    let metadata = ctx
        .execute_activity(ValidateImage, validate, activity_options(&activities.validate, queue(ctx, Queue::Ingestion)))
        .await
        .map_err(failed(&[]))?;
    let outputs = vec![metadata.metadata_object];

    ctx.upsert_search_attributes([search::PIPELINE_STAGE.value_set(stage::ACCURACY.to_owned())]);
    validate_grid(settings.tile_columns, settings.tile_rows).map_err(|reason| (invalid_input_cause(object, reason), outputs.clone()))?;
    let output_prefix = bookkeeping::image_output_prefix(&job.batch_id, object);
    let report = ObjectRef::under(&job.output_bucket, &output_prefix, ACCURACY_REPORT_NAME)
        .map_err(|e| (invalid_input_cause(object, format!("bad output location: {e}")), outputs.clone()))?;
    let dispatcher = queue(ctx, Queue::AccuracyDispatcher);
    let split = SplitRequest {
        image: object.clone(),
        output_bucket: job.output_bucket.clone(),
        output_prefix,
        columns: settings.tile_columns,
        rows: settings.tile_rows,
    };
    let tiles =
        ctx.execute_activity(SplitTiles, split, activity_options(&activities.split_tiles, dispatcher.clone())).await.map_err(failed(&outputs))?;

    // Every group scheduled in the same workflow task, so the processors get them at once;
    // join_all over the SDK's own futures keeps the workflow deterministic.
    let processors = queue(ctx, Queue::AccuracyProcessor);
    let groups = bookkeeping::tile_groups(tiles, settings.pixels_per_task).into_iter().map(|tiles| {
        let request = TileGroupRequest { tiles, blur_threshold: settings.thresholds.min_laplacian_variance };
        ctx.execute_activity(MeasureTiles, request, activity_options(&activities.tile_metrics, processors.clone()))
    });
    let measured = futures::future::join_all(groups).await.into_iter().collect::<Result<Vec<_>, _>>().map_err(failed(&outputs))?;

    let request = ReportRequest {
        image: object.clone(),
        report,
        columns: settings.tile_columns,
        rows: settings.tile_rows,
        tiles: measured.into_iter().flatten().collect(),
        thresholds: settings.thresholds.clone(),
    };
    let accuracy =
        ctx.execute_activity(WriteAccuracyReport, request, activity_options(&activities.write_report, dispatcher)).await.map_err(failed(&outputs))?;
    Ok(bookkeeping::navad_outcome(object, outputs, accuracy))
}

/// Georeferencing -> footprint GeoJSON.
async fn satellite_path(ctx: &WorkflowContext<ImagePipelineWorkflow>, job: &ImageJob) -> Result<ImageOutcome, StepFailure> {
    let object = &job.image.object;
    let geojson = bookkeeping::geojson_object(&job.output_bucket, &job.batch_id, object)
        .map_err(|e| (invalid_input_cause(object, format!("no GeoJSON key for it: {e}")), Vec::new()))?;
    let request = GeolocalizeRequest { image: object.clone(), geojson, activity: job.settings.activities.footprint.clone() };
    let options = activity_options(&job.settings.activities.footprint, queue(ctx, Queue::Geolocalization));
    let footprint = ctx.execute_activity(ComputeFootprint, request, options).await.map_err(failed(&[]))?;
    Ok(bookkeeping::satellite_outcome(object, footprint.geojson))
}
