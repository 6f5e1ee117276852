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

use crate::{bookkeeping, child_steps, steps};
use batch::{Children, Cursor, Position, Progress, Source};
use contracts::automation::{
    AutomationPipeline, AutomationProgress, AutomationRequest, AutomationSummary, BatchSource, BatchTotals, CarriedState, ImageInput, ImageJob,
    ImageKind, ImageOutcome, ImagePipeline, ImageStatus, ResolveAutomationRequest, SummaryRequest, WriteBatchSummary,
};
use contracts::search;
use contracts::submitted::Submitted;
use fleet::failure::{RootCause, activity_options, child_root_cause, invalid_request};
use futures::future::LocalBoxFuture;
use temporalio_common::WorkflowDefinition;
use temporalio_common::data_converters::TemporalDeserializable;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ChildWorkflowOptions, ContinueAsNewOptions, WorkflowContext, WorkflowContextView, WorkflowResult, WorkflowTermination};

/// `PipelineStatus` values.
pub(crate) mod status {
    pub const RUNNING: &str = "running";
    pub const COMPLETED: &str = "completed";
    pub const FAILED: &str = "failed";
}

/// `PipelineStage` values.
pub(crate) mod stage {
    pub const IMAGES: &str = "images";
    pub const SUMMARY: &str = "summary";
    pub const DETECTION: &str = "detection";
    pub const INGESTION: &str = "ingestion";
    pub const ACCURACY: &str = "accuracy";
    pub const GEOLOCALIZATION: &str = "geolocalization";
    pub const DONE: &str = "done";
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
    pub async fn run(ctx: &mut WorkflowContext<Self>, request: Submitted<AutomationRequest>) -> WorkflowResult<AutomationSummary> {
        let ctx: &WorkflowContext<Self> = ctx;
        let result = match fleet::requests::resolve(ctx, ResolveAutomationRequest, request).await {
            Ok(request) => run_batch(ctx, request).await,
            Err(e) => Err(e),
        };
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
    contracts::automation::validate_batch_id(&request.batch_id).map_err(invalid_request)?;
    let batch_id = request.batch_id.clone();
    let summary_object = bookkeeping::summary_object(&request.output_bucket, &batch_id).map_err(invalid_request)?;
    let carried = request.carried.clone().unwrap_or_default();
    let run = carried.runs + 1;
    let part_object = bookkeeping::summary_part_object(&request.output_bucket, &batch_id, run).map_err(invalid_request)?;
    let orchestrator_queue = ctx.task_queue().to_owned();
    let settings = &request.settings;
    let batch_io = activity_options(&settings.activities.batch_io, orchestrator_queue.clone());

    let mut attributes =
        vec![search::PIPELINE_STATUS.value_set(status::RUNNING.to_owned()), search::PIPELINE_STAGE.value_set(stage::IMAGES.to_owned())];
    if let Some(kind) = requested_kind(&request.source) {
        attributes.push(search::IMAGE_TYPE.value_set(kind.as_str().to_owned()));
    }
    ctx.upsert_search_attributes(attributes);

    let source = match &request.source {
        BatchSource::Objects(list) => Source::List(list.clone()),
        BatchSource::Prefix { location, kind } => {
            let kind = *kind;
            Source::Prefix { location: location.clone(), wrap: Box::new(move |object| ImageInput { object, kind }) }
        }
    };
    let from = Position { next_index: carried.next_index, list_after: carried.list_after.clone() };
    let mut cursor = Cursor::new(source, from, settings.images_per_run, batch_io.clone());
    let mut images = ImageChildren { ctx, request: &request, totals: carried.totals.clone(), outcomes: Vec::new(), run };
    let per_run = u64::from(settings.images_per_run.max(1));
    batch::run_window(ctx, &mut cursor, settings.max_concurrent_images as usize, per_run, &mut images).await?;
    let ImageChildren { totals, mut outcomes, .. } = images;
    outcomes.sort_by_key(|(index, _)| *index);
    let images: Vec<ImageOutcome> = outcomes.into_iter().map(|(_, outcome)| outcome).collect();

    ctx.upsert_search_attributes([search::PIPELINE_STAGE.value_set(stage::SUMMARY.to_owned())]);
    if cursor.has_next(ctx).await? {
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
        let Position { next_index, list_after } = cursor.position();
        let next = AutomationRequest { carried: Some(CarriedState { next_index, list_after, totals, summary_parts, runs: run }), ..request };
        let never = ctx.continue_as_new(next.into(), ContinueAsNewOptions::default())?;
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
    if let Some(kind) = bookkeeping::single_kind(&totals) {
        attributes.push(search::IMAGE_TYPE.value_set(kind.as_str().to_owned()));
    }
    ctx.upsert_search_attributes(attributes);
    ctx.state_mut(|s| s.progress = AutomationProgress { done: totals.images, total: Some(totals.images), running: 0, totals: totals.clone(), run });
    Ok(AutomationSummary { batch_id, totals, images, summary, runs: run })
}

/// The batch engine's view of this batch: an `ImagePipeline` child per image, the running
/// totals and the outcomes in completion order.
struct ImageChildren<'a> {
    ctx: &'a WorkflowContext<AutomationPipelineWorkflow>,
    request: &'a AutomationRequest,
    totals: BatchTotals,
    outcomes: Vec<(u64, ImageOutcome)>,
    run: u32,
}

impl<'a> Children<'a> for ImageChildren<'a> {
    type Item = ImageInput;
    type Outcome = ImageOutcome;

    fn start(&self, index: u64, image: ImageInput) -> LocalBoxFuture<'a, ImageOutcome> {
        let request = self.request;
        let workflow_id = bookkeeping::image_workflow_id(&request.batch_id, index, &image.object);
        let job =
            ImageJob { batch_id: request.batch_id.clone(), image, output_bucket: request.output_bucket.clone(), settings: request.settings.clone() };
        Box::pin(image_child(self.ctx, job, workflow_id, self.ctx.task_queue().to_owned()))
    }

    fn finished(&mut self, index: u64, outcome: ImageOutcome) {
        bookkeeping::record(&mut self.totals, &outcome);
        self.outcomes.push((index, outcome));
    }

    fn progress(&mut self, progress: Progress) {
        let progress = AutomationProgress {
            done: self.totals.images,
            total: progress.total,
            running: progress.running as u32,
            totals: self.totals.clone(),
            run: self.run,
        };
        self.ctx.state_mut(|s| s.progress = progress);
    }
}

/// One image's child workflow, resolved to its outcome: a child that fails or cannot start
/// becomes an `Error` outcome naming the image and the root cause, never a batch failure.
async fn image_child(ctx: &WorkflowContext<AutomationPipelineWorkflow>, job: ImageJob, workflow_id: String, task_queue: String) -> ImageOutcome {
    let object = job.image.object.clone();
    let kind = job.image.kind;
    match run_child(ctx, ImagePipeline, job, workflow_id, task_queue).await {
        Ok(outcome) => outcome,
        Err(cause) => bookkeeping::error_outcome(&object, kind, &cause.message, cause.error_type.as_deref()),
    }
}

/// Starts a child workflow on `task_queue` and waits for its result. The child gets no retry
/// policy: its own activities retry what is transient, and a failed child is reported, not
/// re-run.
pub(crate) async fn run_child<W, C>(
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

/// Patch of the `ImagePipeline` runs whose every step is one task on the step's queue
/// ([`steps`]: `ValidateImage`, then `SplitTiles` -> `MeasureTiles` groups -> `WriteAccuracyReport`
/// for navad, `ComputeFootprint` for satellite). Runs recorded before it ran each step as a child
/// workflow ([`child_steps`]) and replay that way; remove that path once none is open.
pub const ONE_TASK_PER_STEP: &str = "one-task-per-step";

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
        let outcome = if ctx.patched(ONE_TASK_PER_STEP) {
            steps::process_image(ctx, &job).await
        } else {
            ctx.upsert_search_attributes([search::PIPELINE_STATUS.value_set(status::RUNNING.to_owned())]);
            child_steps::process_image(ctx, &job).await
        };
        let final_status = if outcome.status == ImageStatus::Error { status::FAILED } else { status::COMPLETED };
        ctx.upsert_search_attributes([
            search::PIPELINE_STAGE.value_set(stage::DONE.to_owned()),
            search::PIPELINE_STATUS.value_set(final_status.to_owned()),
        ]);
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contracts::automation::AutomationProgressQuery;
    use temporalio_common::QueryDefinition;

    #[test]
    fn implements_its_contracts() {
        assert!(contracts::implements_submitted_workflow(&AutomationPipelineWorkflow::run, &AutomationPipeline));
        assert!(contracts::implements_workflow(&ImagePipelineWorkflow::run, &ImagePipeline));
        assert_eq!(AutomationPipelineWorkflow::progress.name(), AutomationProgressQuery.name());
    }

    #[test]
    fn requested_kind_only_when_uniform() {
        let input = |kind| ImageInput { object: contracts::ObjectRef::new("fleet-inputs", "a.jpg").unwrap(), kind };
        assert_eq!(requested_kind(&BatchSource::Objects(vec![input(Some(ImageKind::Navad)), input(Some(ImageKind::Navad))])), Some(ImageKind::Navad));
        assert_eq!(requested_kind(&BatchSource::Objects(vec![input(Some(ImageKind::Navad)), input(None)])), None);
        assert_eq!(requested_kind(&BatchSource::Objects(vec![])), None);
    }
}
