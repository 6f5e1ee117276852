//! The path of `ImagePipeline` runs recorded before `ONE_TASK_PER_STEP`: each step a child
//! workflow on its worker's queue (`IngestImage`, `AnalyzeAccuracy`, `Geolocalize`). Kept
//! unchanged in its commands so those histories replay and such runs still open finish.

use crate::bookkeeping;
use crate::steps::{self, StepFailure};
use crate::workflows::{ImagePipelineWorkflow, run_child, stage};
use contracts::automation::{
    AccuracyRequest, AnalyzeAccuracy, Geolocalize, GeolocalizeRequest, ImageJob, ImageKind, ImageOutcome, IngestImage, IngestRequest,
};
use contracts::{Queue, search};
use fleet::failure::invalid_input_cause;
use temporalio_sdk::WorkflowContext;

fn set_stage(ctx: &WorkflowContext<ImagePipelineWorkflow>, value: &str) {
    ctx.upsert_search_attributes([search::PIPELINE_STAGE.value_set(value.to_owned())]);
}

pub(crate) async fn process_image(ctx: &WorkflowContext<ImagePipelineWorkflow>, job: &ImageJob) -> ImageOutcome {
    let object = &job.image.object;
    let kind = match job.image.kind {
        Some(kind) => kind,
        None => {
            set_stage(ctx, stage::DETECTION);
            match steps::detect_kind(ctx, job).await {
                Ok(kind) => kind,
                Err(outcome) => return outcome,
            }
        }
    };
    ctx.upsert_search_attributes([search::IMAGE_TYPE.value_set(kind.as_str().to_owned())]);
    let result = match kind {
        ImageKind::Navad => navad_path(ctx, job).await,
        ImageKind::Satellite => satellite_path(ctx, job).await,
    };
    steps::outcome_of(object, kind, result)
}

/// Ingestion (validation + metadata JSON), then accuracy analysis.
async fn navad_path(ctx: &WorkflowContext<ImagePipelineWorkflow>, job: &ImageJob) -> Result<ImageOutcome, StepFailure> {
    let object = &job.image.object;
    let queue = |worker: Queue| worker.beside(Queue::Orchestrator, ctx.task_queue());
    let settings = &job.settings;
    let id = ctx.workflow_id().to_owned();

    set_stage(ctx, stage::INGESTION);
    let ingest = IngestRequest { image: object.clone(), limits: settings.limits.clone(), activity: settings.activities.validate.clone() };
    let metadata = run_child(ctx, IngestImage, ingest, format!("{id}/ingest"), queue(Queue::Ingestion)).await.map_err(|cause| (cause, Vec::new()))?;
    let outputs = vec![metadata.metadata_object];

    set_stage(ctx, stage::ACCURACY);
    let analyze = AccuracyRequest {
        image: object.clone(),
        output_bucket: job.output_bucket.clone(),
        output_prefix: bookkeeping::image_output_prefix(&job.batch_id, object),
        tile_columns: settings.tile_columns,
        tile_rows: settings.tile_rows,
        thresholds: settings.thresholds.clone(),
        activities: settings.activities.clone(),
    };
    let accuracy = match run_child(ctx, AnalyzeAccuracy, analyze, format!("{id}/accuracy"), queue(Queue::AccuracyDispatcher)).await {
        Ok(accuracy) => accuracy,
        Err(cause) => return Err((cause, outputs)),
    };
    Ok(bookkeeping::navad_outcome(object, outputs, accuracy))
}

/// Geolocalization: georeferencing -> footprint GeoJSON.
async fn satellite_path(ctx: &WorkflowContext<ImagePipelineWorkflow>, job: &ImageJob) -> Result<ImageOutcome, StepFailure> {
    let object = &job.image.object;
    set_stage(ctx, stage::GEOLOCALIZATION);
    let geojson = bookkeeping::geojson_object(&job.output_bucket, &job.batch_id, object)
        .map_err(|e| (invalid_input_cause(object, format!("no GeoJSON key for it: {e}")), Vec::new()))?;
    let request = GeolocalizeRequest { image: object.clone(), geojson, activity: job.settings.activities.footprint.clone() };
    let id = format!("{}/geolocalize", ctx.workflow_id());
    let footprint = run_child(ctx, Geolocalize, request, id, Queue::Geolocalization.beside(Queue::Orchestrator, ctx.task_queue()))
        .await
        .map_err(|cause| (cause, Vec::new()))?;
    Ok(bookkeeping::satellite_outcome(object, footprint.geojson))
}
