//! Workflows of the orchestrator queue.
//!
//! - [`AutomationPipelineWorkflow`] (`AutomationPipeline`): a batch of images, one
//!   `ImagePipeline` child per image in a sliding window of at most `max_concurrent_images`,
//!   continuing as new every `images_per_run` images so no history outgrows Temporal's limits
//!   however large the batch; the running totals and the summary parts travel in
//!   [`CarriedState`].
//! - [`ImagePipelineWorkflow`] (`ImagePipeline`): one image down its path, navad (ingestion then
//!   accuracy) or satellite (geolocalization), each step a child on its worker's queue. A failed
//!   step ends the image with an `Error` outcome carrying the root cause, so the batch goes on.

use crate::batch;
use contracts::automation::{
    AccuracyRequest, AnalyzeAccuracy, AutomationPipeline, AutomationProgress, AutomationRequest, AutomationSummary, BatchSource, BatchTotals,
    CarriedState, DetectImageKind, Geolocalize, GeolocalizeRequest, ImageInput, ImageJob, ImageKind, ImageOutcome, ImagePipeline, ImageStatus,
    IngestImage, IngestRequest, ListBatchPage, ListPageRequest, SummaryRequest, WriteBatchSummary,
};
use contracts::object::PrefixRef;
use contracts::{ObjectRef, Queue, errors, search};
use fleet::failure::{RootCause, activity_options, activity_root_cause, child_root_cause};
use futures::future::{LocalBoxFuture, select_all};
use std::collections::VecDeque;
use temporalio_common::WorkflowDefinition;
use temporalio_common::data_converters::TemporalDeserializable;
use temporalio_common::error::ApplicationFailure;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ChildWorkflowOptions, ContinueAsNewOptions, WorkflowContext, WorkflowContextView, WorkflowResult, WorkflowTermination};

/// `PipelineStatus` values.
mod status {
    pub const RUNNING: &str = "running";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
}

/// `PipelineStage` values.
mod stage {
    pub const IMAGES: &str = "images";
    pub const SUMMARY: &str = "summary";
    pub const DETECTION: &str = "detection";
    pub const INGESTION: &str = "ingestion";
    pub const ACCURACY: &str = "accuracy";
    pub const GEOLOCALIZATION: &str = "geolocalization";
    pub const DONE: &str = "done";
}

/// The deployment prefix of the fleet's queues, read from the queue this workflow runs on
/// (`{prefix}orchestrator`): it is recorded in the history, so replays see the same value.
fn queue_prefix(task_queue: &str) -> String {
    task_queue.strip_suffix(Queue::Orchestrator.base_name()).unwrap_or_default().to_owned()
}

/// A request no retry can fix: the batch fails at once with a message naming the problem.
fn bad_request(message: impl std::fmt::Display) -> WorkflowTermination {
    ApplicationFailure::builder(message.to_string()).type_name(errors::INVALID_INPUT.to_owned()).non_retryable(true).build().into()
}

/// `AutomationPipeline`: the batch.
#[workflow]
#[derive(Default)]
pub struct AutomationPipelineWorkflow {
    progress: AutomationProgress,
}

#[workflow_methods]
impl AutomationPipelineWorkflow {
    /// Runs (this run's share of) the batch; see the module docs.
    #[run(name = AutomationPipeline::NAME)]
    pub async fn run(ctx: &mut WorkflowContext<Self>, request: AutomationRequest) -> WorkflowResult<AutomationSummary> {
        let ctx: &WorkflowContext<Self> = ctx;
        let result = run_batch(ctx, request).await;
        if let Err(WorkflowTermination::Failed(_)) = &result {
            ctx.upsert_search_attributes([search::PIPELINE_STATUS.value_set(status::FAILED.to_owned())]);
        }
        result
    }

    /// Live progress (the `progress` query).
    #[query(name = "progress")]
    pub fn progress(&self, _ctx: &WorkflowContextView) -> AutomationProgress {
        self.progress.clone()
    }
}

/// Where the next images come from: an explicit list (by index) or a prefix listed page by
/// page as the batch advances.
struct BatchCursor {
    /// Batch index of the next image handed out.
    next_index: u64,
    source: CursorSource,
}

enum CursorSource {
    List(Vec<ImageInput>),
    Prefix {
        location: PrefixRef,
        kind: Option<ImageKind>,
        /// Images listed and not handed out yet, in key order.
        buffer: VecDeque<ObjectRef>,
        /// Where the next listing call starts.
        fetch_after: Option<String>,
        /// Key of the last image handed out: the next run starts listing after it.
        last_handed_out: Option<String>,
        listing_done: bool,
        page_size: u32,
        /// Images in the batch, once the listing reached its end.
        total: Option<u64>,
    },
}

impl BatchCursor {
    fn new(request: &AutomationRequest, carried: &CarriedState) -> Self {
        let source = match &request.source {
            BatchSource::Objects(list) => CursorSource::List(list.clone()),
            BatchSource::Prefix { location, kind } => CursorSource::Prefix {
                location: location.clone(),
                kind: *kind,
                buffer: VecDeque::new(),
                fetch_after: carried.list_after.clone(),
                last_handed_out: carried.list_after.clone(),
                listing_done: false,
                // A run takes at most `images_per_run` images: listing more would be wasted.
                page_size: request.settings.images_per_run.clamp(1, 1000),
                total: None,
            },
        };
        Self { next_index: carried.next_index, source }
    }

    /// Images in the batch, when known.
    fn total(&self) -> Option<u64> {
        match &self.source {
            CursorSource::List(list) => Some(list.len() as u64),
            CursorSource::Prefix { total, .. } => *total,
        }
    }

    /// Start-after key for the next run (prefix sources).
    fn resume_after(&self) -> Option<String> {
        match &self.source {
            CursorSource::List(_) => None,
            CursorSource::Prefix { last_handed_out, .. } => last_handed_out.clone(),
        }
    }

    /// True when another image is available, listing further pages if needed (a page may hold
    /// only sidecars).
    async fn has_next<W>(&mut self, ctx: &WorkflowContext<W>, request: &AutomationRequest) -> WorkflowResult<bool> {
        let next_index = self.next_index;
        match &mut self.source {
            CursorSource::List(list) => Ok(next_index < list.len() as u64),
            CursorSource::Prefix { location, buffer, fetch_after, listing_done, page_size, total, .. } => {
                while buffer.is_empty() && !*listing_done {
                    let page = ctx
                        .execute_activity(
                            ListBatchPage,
                            ListPageRequest { location: location.clone(), start_after: fetch_after.clone(), max_keys: *page_size },
                            activity_options(&request.settings.activities.batch_io, ctx.task_queue().to_owned()),
                        )
                        .await?;
                    buffer.extend(page.objects);
                    *fetch_after = page.next_after;
                    if fetch_after.is_none() {
                        *listing_done = true;
                        *total = Some(next_index + buffer.len() as u64);
                    }
                }
                Ok(!buffer.is_empty())
            }
        }
    }

    /// The next image and its batch index, if any.
    async fn next<W>(&mut self, ctx: &WorkflowContext<W>, request: &AutomationRequest) -> WorkflowResult<Option<(u64, ImageInput)>> {
        if !self.has_next(ctx, request).await? {
            return Ok(None);
        }
        let index = self.next_index;
        let image = match &mut self.source {
            CursorSource::List(list) => list[index as usize].clone(),
            CursorSource::Prefix { buffer, kind, last_handed_out, .. } => {
                let Some(object) = buffer.pop_front() else { return Ok(None) };
                *last_handed_out = Some(object.key().to_owned());
                ImageInput { object, kind: *kind }
            }
        };
        self.next_index += 1;
        Ok(Some((index, image)))
    }
}

/// The kind every image of the request has, when the request says so.
fn requested_kind(source: &BatchSource) -> Option<ImageKind> {
    match source {
        BatchSource::Prefix { kind, .. } => *kind,
        BatchSource::Objects(list) => {
            let first = list.first()?.kind?;
            list.iter().all(|i| i.kind == Some(first)).then_some(first)
        }
    }
}

async fn run_batch(ctx: &WorkflowContext<AutomationPipelineWorkflow>, request: AutomationRequest) -> WorkflowResult<AutomationSummary> {
    contracts::automation::validate_batch_id(&request.batch_id).map_err(bad_request)?;
    let batch_id = request.batch_id.clone();
    let summary_object = batch::summary_object(&request.output_bucket, &batch_id).map_err(bad_request)?;
    let carried = request.carried.clone().unwrap_or_default();
    let run = carried.runs + 1;
    let part_object = batch::summary_part_object(&request.output_bucket, &batch_id, run).map_err(bad_request)?;
    let queue_prefix = queue_prefix(ctx.task_queue());
    let orchestrator_queue = ctx.task_queue().to_owned();
    let settings = &request.settings;
    let per_run = u64::from(settings.images_per_run.max(1));
    let window = settings.max_concurrent_images.max(1) as usize;

    let mut attributes =
        vec![search::PIPELINE_STATUS.value_set(status::RUNNING.to_owned()), search::PIPELINE_STAGE.value_set(stage::IMAGES.to_owned())];
    if let Some(kind) = requested_kind(&request.source) {
        attributes.push(search::IMAGE_TYPE.value_set(kind.as_str().to_owned()));
    }
    ctx.upsert_search_attributes(attributes);

    let mut cursor = BatchCursor::new(&request, &carried);
    let mut totals = carried.totals.clone();
    let publish = |totals: &BatchTotals, running: usize, total: Option<u64>| {
        ctx.state_mut(|s| {
            s.progress = AutomationProgress { done: totals.images, total, running: running as u32, totals: totals.clone(), run };
        })
    };
    publish(&totals, 0, cursor.total());

    // The sliding window: children run concurrently, a new one starts as soon as one finishes.
    let mut running: Vec<LocalBoxFuture<'_, (u64, ImageOutcome)>> = Vec::new();
    let mut outcomes: Vec<(u64, ImageOutcome)> = Vec::new();
    let mut started = 0u64;
    loop {
        while running.len() < window && started < per_run {
            let Some((index, image)) = cursor.next(ctx, &request).await? else { break };
            started += 1;
            let workflow_id = batch::image_workflow_id(&batch_id, index, &image.object);
            let job = ImageJob {
                batch_id: batch_id.clone(),
                image,
                output_bucket: request.output_bucket.clone(),
                settings: settings.clone(),
                queue_prefix: queue_prefix.clone(),
            };
            running.push(Box::pin(image_child(ctx, job, workflow_id, orchestrator_queue.clone(), index)));
            publish(&totals, running.len(), cursor.total());
        }
        if running.is_empty() {
            break;
        }
        let ((index, outcome), _, rest) = select_all(running).await;
        running = rest;
        batch::record(&mut totals, &outcome);
        outcomes.push((index, outcome));
        publish(&totals, running.len(), cursor.total());
    }
    outcomes.sort_by_key(|(index, _)| *index);
    let images: Vec<ImageOutcome> = outcomes.into_iter().map(|(_, outcome)| outcome).collect();
    let batch_io = activity_options(&settings.activities.batch_io, orchestrator_queue.clone());

    ctx.upsert_search_attributes([search::PIPELINE_STAGE.value_set(stage::SUMMARY.to_owned())]);
    if cursor.has_next(ctx, &request).await? {
        // This run's share is done and images remain: record this run's outcomes and start a
        // fresh history for the rest.
        let part = ctx
            .execute_activity(
                WriteBatchSummary,
                SummaryRequest { object: part_object, images, merge_parts: Vec::new(), totals: totals.clone() },
                batch_io,
            )
            .await?;
        let mut summary_parts = carried.summary_parts;
        summary_parts.push(part);
        let list_after = cursor.resume_after();
        let next = AutomationRequest {
            carried: Some(CarriedState { next_index: cursor.next_index, list_after, totals, summary_parts, runs: run }),
            ..request
        };
        let never = ctx.continue_as_new(next, ContinueAsNewOptions::default())?;
        match never {}
    }

    let summary = ctx
        .execute_activity(
            WriteBatchSummary,
            SummaryRequest { object: summary_object, images: images.clone(), merge_parts: carried.summary_parts, totals: totals.clone() },
            batch_io,
        )
        .await?;
    let mut attributes =
        vec![search::PIPELINE_STATUS.value_set(status::COMPLETED.to_owned()), search::PIPELINE_STAGE.value_set(stage::DONE.to_owned())];
    if let Some(kind) = batch::single_kind(&totals) {
        attributes.push(search::IMAGE_TYPE.value_set(kind.as_str().to_owned()));
    }
    ctx.upsert_search_attributes(attributes);
    publish(&totals, 0, Some(totals.images));
    Ok(AutomationSummary { batch_id, totals, images, summary, runs: run })
}

/// One image's child workflow, resolved to its outcome: a child that fails or cannot start
/// becomes an `Error` outcome naming the image and the root cause, never a batch failure.
async fn image_child(
    ctx: &WorkflowContext<AutomationPipelineWorkflow>,
    job: ImageJob,
    workflow_id: String,
    task_queue: String,
    index: u64,
) -> (u64, ImageOutcome) {
    let object = job.image.object.clone();
    let kind = job.image.kind;
    let outcome = match run_child(ctx, ImagePipeline, job, workflow_id, task_queue).await {
        Ok(outcome) => outcome,
        Err(cause) => batch::error_outcome(&object, kind, &cause.message, cause.error_type.as_deref()),
    };
    (index, outcome)
}

/// Starts a child workflow on `task_queue` and waits for its result. The child gets no retry
/// policy: its own activities retry what is transient, and a failed child is reported, not
/// re-run.
async fn run_child<W, C>(
    ctx: &WorkflowContext<C>,
    workflow: W,
    input: W::Input,
    workflow_id: String,
    task_queue: String,
) -> Result<W::Output, RootCause>
where
    W: WorkflowDefinition + 'static,
    W::Output: TemporalDeserializable + 'static,
{
    let name = workflow.name().to_owned();
    let options = ChildWorkflowOptions::builder().workflow_id(workflow_id.clone()).task_queue(task_queue).build();
    let started = ctx
        .start_child_workflow(workflow, input, options)
        .await
        .map_err(|e| RootCause { error_type: None, message: format!("could not start {name} child {workflow_id}: {e}") })?;
    started.result().await.map_err(|e| child_root_cause(&e))
}

/// `ImagePipeline`: one image.
#[workflow]
#[derive(Default)]
pub struct ImagePipelineWorkflow;

#[workflow_methods]
impl ImagePipelineWorkflow {
    /// Detects the kind when needed, runs the image's path and reports its outcome. Failures of
    /// a step are part of the outcome (status `Error`), so this workflow itself completes.
    #[run(name = ImagePipeline::NAME)]
    pub async fn run(ctx: &mut WorkflowContext<Self>, job: ImageJob) -> WorkflowResult<ImageOutcome> {
        let ctx: &WorkflowContext<Self> = ctx;
        ctx.upsert_search_attributes([search::PIPELINE_STATUS.value_set(status::RUNNING.to_owned())]);
        let outcome = process_image(ctx, &job).await;
        let final_status = if outcome.status == ImageStatus::Error { status::FAILED } else { status::COMPLETED };
        ctx.upsert_search_attributes([
            search::PIPELINE_STAGE.value_set(stage::DONE.to_owned()),
            search::PIPELINE_STATUS.value_set(final_status.to_owned()),
        ]);
        Ok(outcome)
    }
}

fn set_stage(ctx: &WorkflowContext<ImagePipelineWorkflow>, value: &str) {
    ctx.upsert_search_attributes([search::PIPELINE_STAGE.value_set(value.to_owned())]);
}

async fn process_image(ctx: &WorkflowContext<ImagePipelineWorkflow>, job: &ImageJob) -> ImageOutcome {
    let object = &job.image.object;
    let kind = match job.image.kind {
        Some(kind) => kind,
        None => {
            set_stage(ctx, stage::DETECTION);
            let options = activity_options(&job.settings.activities.detect_kind, Queue::Geolocalization.with_prefix(&job.queue_prefix));
            match ctx.execute_activity(DetectImageKind, object.clone(), options).await {
                Ok(kind) => kind,
                Err(e) => {
                    let cause = activity_root_cause(&e);
                    return batch::error_outcome(object, None, &cause.message, cause.error_type.as_deref());
                }
            }
        }
    };
    ctx.upsert_search_attributes([search::IMAGE_TYPE.value_set(kind.as_str().to_owned())]);
    let result = match kind {
        ImageKind::Navad => navad_path(ctx, job).await,
        ImageKind::Satellite => satellite_path(ctx, job).await,
    };
    result.unwrap_or_else(|(cause, outputs)| ImageOutcome {
        outputs,
        ..batch::error_outcome(object, Some(kind), &cause.message, cause.error_type.as_deref())
    })
}

/// A failed step: its root cause and the outputs written before it failed.
type StepFailure = (RootCause, Vec<ObjectRef>);

/// Ingestion (validation + metadata JSON), then accuracy analysis.
async fn navad_path(ctx: &WorkflowContext<ImagePipelineWorkflow>, job: &ImageJob) -> Result<ImageOutcome, StepFailure> {
    let object = &job.image.object;
    let prefix = &job.queue_prefix;
    let settings = &job.settings;
    let id = ctx.workflow_id().to_owned();

    set_stage(ctx, stage::INGESTION);
    let ingest = IngestRequest { image: object.clone(), limits: settings.limits.clone(), activity: settings.activities.validate.clone() };
    let metadata = run_child(ctx, IngestImage, ingest, format!("{id}/ingest"), Queue::Ingestion.with_prefix(prefix))
        .await
        .map_err(|cause| (cause, Vec::new()))?;
    let mut outputs = vec![metadata.metadata_object];

    set_stage(ctx, stage::ACCURACY);
    let analyze = AccuracyRequest {
        image: object.clone(),
        output_bucket: job.output_bucket.clone(),
        output_prefix: batch::image_output_prefix(&job.batch_id, object),
        tile_columns: settings.tile_columns,
        tile_rows: settings.tile_rows,
        thresholds: settings.thresholds.clone(),
        activities: settings.activities.clone(),
        queue_prefix: prefix.clone(),
    };
    let accuracy = match run_child(ctx, AnalyzeAccuracy, analyze, format!("{id}/accuracy"), Queue::AccuracyDispatcher.with_prefix(prefix)).await {
        Ok(accuracy) => accuracy,
        Err(cause) => return Err((cause, outputs)),
    };
    outputs.push(accuracy.report);
    Ok(ImageOutcome {
        object: object.clone(),
        kind: Some(ImageKind::Navad),
        status: if accuracy.passed { ImageStatus::Passed } else { ImageStatus::FailedAccuracy },
        outputs,
        score: Some(accuracy.overall_score),
        error: None,
        accuracy_failures: accuracy.failures,
    })
}

/// Geolocalization: georeferencing -> footprint GeoJSON.
async fn satellite_path(ctx: &WorkflowContext<ImagePipelineWorkflow>, job: &ImageJob) -> Result<ImageOutcome, StepFailure> {
    let object = &job.image.object;
    set_stage(ctx, stage::GEOLOCALIZATION);
    let geojson = batch::geojson_object(&job.output_bucket, &job.batch_id, object).map_err(|e| {
        (RootCause { error_type: Some(errors::INVALID_INPUT.to_owned()), message: format!("no GeoJSON key for it: {e}") }, Vec::new())
    })?;
    let request = GeolocalizeRequest { image: object.clone(), geojson, activity: job.settings.activities.footprint.clone() };
    let id = format!("{}/geolocalize", ctx.workflow_id());
    let footprint =
        run_child(ctx, Geolocalize, request, id, Queue::Geolocalization.with_prefix(&job.queue_prefix)).await.map_err(|cause| (cause, Vec::new()))?;
    Ok(ImageOutcome {
        object: object.clone(),
        kind: Some(ImageKind::Satellite),
        status: ImageStatus::Passed,
        outputs: vec![footprint.geojson],
        score: None,
        error: None,
        accuracy_failures: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::automation::AutomationProgressQuery;
    use temporalio_common::QueryDefinition;

    #[test]
    fn implements_its_contracts() {
        assert!(contracts::implements_workflow(&AutomationPipelineWorkflow::run, &AutomationPipeline));
        assert!(contracts::implements_workflow(&ImagePipelineWorkflow::run, &ImagePipeline));
        assert_eq!(AutomationPipelineWorkflow::progress.name(), AutomationProgressQuery.name());
    }

    #[test]
    fn prefix_comes_from_the_queue_name() {
        assert_eq!(queue_prefix("orchestrator"), "");
        assert_eq!(queue_prefix("blue-orchestrator"), "blue-");
        assert_eq!(queue_prefix("elsewhere"), "");
    }

    #[test]
    fn requested_kind_only_when_uniform() {
        let input = |kind| ImageInput { object: ObjectRef::new("fleet-inputs", "a.jpg").unwrap(), kind };
        assert_eq!(requested_kind(&BatchSource::Objects(vec![input(Some(ImageKind::Navad)), input(Some(ImageKind::Navad))])), Some(ImageKind::Navad));
        assert_eq!(requested_kind(&BatchSource::Objects(vec![input(Some(ImageKind::Navad)), input(None)])), None);
        assert_eq!(requested_kind(&BatchSource::Objects(vec![])), None);
    }
}
