//! Workflows of the enhancement queue: [`EnhanceImageWorkflow`] (one object, with its saga)
//! and [`EnhanceBatchWorkflow`] (every image under a prefix, as children).

use crate::batch_keys::{batch_destination, batch_overlap};
use batch::{Children, Cursor, Position, Progress, Source};
use contracts::ObjectRef;
use contracts::enhancement::{
    BatchCarried, BatchProgress, BatchTotals, COMPENSATION_FAILED, EnhanceBatch, EnhanceBatchRequest, EnhanceBatchSummary, EnhanceImage,
    EnhanceImageRequest, EnhanceImageResult, EnhanceObject, EnhanceObjectInput, ImageFailure, ListEnhanceable, ListRequest, MAX_REPORTED_FAILURES,
    VerifyEnhanced, VerifyInput, WithdrawEnhanced,
};
use contracts::enhancement::{ResolveEnhanceBatchRequest, ResolveEnhanceImageRequest};
use contracts::submitted::Submitted;
use fleet::failure::{self, RootCause, invalid_request};
use futures::future::{LocalBoxFuture, select_all};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityCancellationType, ApplicationFailure, ChildWorkflowOptions, ContinueAsNewOptions, WorkflowCancellationToken, WorkflowContext,
    WorkflowContextView, WorkflowResult, WorkflowTermination,
};

/// The message of a successful run (the original system's words).
fn success_message(source: &ObjectRef, destination: &ObjectRef) -> String {
    format!("Successfully processed image: {source} -> {destination}")
}

/// `EnhanceImage`: enhance and upload ([`EnhanceObject`]), read the upload back
/// ([`VerifyEnhanced`]); if verification fails or the run is cancelled after the upload, the
/// compensation [`WithdrawEnhanced`] deletes it.
#[workflow]
#[derive(Default)]
pub struct EnhanceImageWorkflow;

#[workflow_methods]
impl EnhanceImageWorkflow {
    /// Runs the saga.
    #[run(name = EnhanceImage::NAME)]
    pub async fn run(ctx: &mut WorkflowContext<Self>, request: Submitted<EnhanceImageRequest>) -> WorkflowResult<EnhanceImageResult> {
        let request = fleet::requests::resolve(ctx, ResolveEnhanceImageRequest, request).await?;
        let queue = ctx.task_queue().to_owned();
        let settings = &request.options.activities;

        // Waiting for the activity to acknowledge a cancellation means an upload in flight is
        // reported, so it can be withdrawn below.
        let mut enhance = failure::activity_options(&settings.enhance, queue.clone());
        enhance.cancellation_type = ActivityCancellationType::WaitCancellationCompleted;
        let input = EnhanceObjectInput {
            source: request.source.clone(),
            destination: request.destination.clone(),
            enhancer: request.options.enhancer.clone(),
            size: request.options.size,
        };
        let enhanced = match ctx.execute_activity(EnhanceObject, input, enhance).await {
            Ok(enhanced) => enhanced,
            Err(_) if ctx.cancellation_token().is_cancelled() => return Err(WorkflowTermination::cancelled()),
            Err(e) => return Err(e.into()),
        };

        // From here on the uploaded object is this run's to withdraw if anything fails.
        let verified = if ctx.cancellation_token().is_cancelled() {
            Err(Step::Cancelled)
        } else {
            let check = VerifyInput { object: enhanced.destination.clone(), expected_size: enhanced.output_size, policy: request.options.verify };
            ctx.execute_activity(VerifyEnhanced, check, failure::activity_options(&settings.verify, queue.clone()))
                .await
                .map_err(|e| if ctx.cancellation_token().is_cancelled() { Step::Cancelled } else { Step::Failed(e.into()) })
        };
        match verified {
            Ok(verification) => Ok(EnhanceImageResult { message: success_message(&request.source, &request.destination), enhanced, verification }),
            Err(step) => {
                // A detached token: the compensation must run even when the cause is the run's
                // own cancellation.
                let mut withdraw = failure::activity_options(&settings.withdraw, queue);
                withdraw.cancellation_token = Some(WorkflowCancellationToken::new());
                if let Err(e) = ctx.execute_activity(WithdrawEnhanced, enhanced.destination.clone(), withdraw).await {
                    let cause = failure::activity_root_cause(&e);
                    return Err(ApplicationFailure::builder(format!(
                        "{}: a step after the upload failed and withdrawing the upload failed too ({}); delete it by hand",
                        enhanced.destination, cause.message
                    ))
                    .type_name(COMPENSATION_FAILED.to_owned())
                    .non_retryable(true)
                    .build()
                    .into());
                }
                Err(match step {
                    Step::Cancelled => WorkflowTermination::cancelled(),
                    Step::Failed(termination) => termination,
                })
            }
        }
    }
}

/// Why the saga stopped after the upload.
enum Step {
    Cancelled,
    Failed(WorkflowTermination),
}

/// `EnhanceBatch`: lists up to `images_per_run` images, runs one [`EnhanceImage`] child per
/// image with at most `max_concurrent` running, then continues as new until the listing is
/// done. A failed image is recorded and the batch goes on.
#[workflow]
#[derive(Default)]
pub struct EnhanceBatchWorkflow {
    progress: BatchProgress,
}

type ChildOutcome = (ObjectRef, Result<EnhanceImageResult, RootCause>);

/// Patch of the runs that go through the batch engine (listing as the window advances, through
/// `ListBatchPage`). Runs recorded before it listed their whole share first through
/// `ListEnhanceable`: [`EnhanceBatchWorkflow::run_listing_first`] replays them. Remove that path
/// once no such run is open (`temporal workflow list --query 'WorkflowType="EnhanceBatch"'`).
pub const ONE_BATCH_ENGINE: &str = "one-batch-engine";

#[workflow_methods]
impl EnhanceBatchWorkflow {
    /// Runs one run of the batch.
    #[run(name = EnhanceBatch::NAME)]
    pub async fn run(ctx: &mut WorkflowContext<Self>, request: Submitted<EnhanceBatchRequest>) -> WorkflowResult<EnhanceBatchSummary> {
        let request = fleet::requests::resolve(ctx, ResolveEnhanceBatchRequest, request).await?;
        if request.max_concurrent == 0 || request.images_per_run == 0 {
            return Err(invalid_request(format!("{}: max_concurrent and images_per_run must be at least 1", request.source)));
        }
        if let Some(reason) = batch_overlap(&request.source, &request.destination) {
            return Err(invalid_request(reason));
        }
        if !ctx.patched(ONE_BATCH_ENGINE) {
            return Self::run_listing_first(ctx, request).await;
        }
        let ctx: &WorkflowContext<Self> = ctx;
        let queue = ctx.task_queue().to_owned();
        let carried = request.carried.clone().unwrap_or_default();
        let run = carried.runs + 1;
        let list = failure::activity_options(&request.options.activities.list, queue.clone());
        // Every image of an earlier run was counted before it continued as new.
        let from = Position { next_index: carried.totals.images, list_after: carried.list_after.clone() };
        let source = Source::Prefix { location: request.source.clone(), wrap: Box::new(|object| object) };
        let mut cursor = Cursor::new(source, from, request.images_per_run, list);
        let mut children =
            EnhanceChildren { ctx, request: &request, totals: carried.totals.clone(), failures: carried.failures.clone(), results: Vec::new(), run };
        batch::run_window(ctx, &mut cursor, request.max_concurrent as usize, u64::from(request.images_per_run), &mut children).await?;
        let more = cursor.has_next(ctx).await?;
        let EnhanceChildren { mut totals, failures, results, .. } = children;
        totals.skipped += cursor.skipped();
        if more {
            let list_after = cursor.position().list_after;
            let next = EnhanceBatchRequest { carried: Some(BatchCarried { list_after, totals, failures, runs: run }), ..request };
            let never = ctx.continue_as_new(next.into(), ContinueAsNewOptions::default())?;
            match never {}
        }
        ctx.state_mut(|s| s.progress = BatchProgress { totals: totals.clone(), running: 0, run });
        Ok(EnhanceBatchSummary { source: request.source, destination: request.destination, totals, failures, results, runs: run })
    }

    /// Live progress.
    #[query(name = "progress")]
    pub fn progress(&self, _ctx: &WorkflowContextView) -> BatchProgress {
        self.progress.clone()
    }
}

/// The batch engine's view of an enhancement batch: an `EnhanceImage` child per image.
struct EnhanceChildren<'a> {
    ctx: &'a WorkflowContext<EnhanceBatchWorkflow>,
    request: &'a EnhanceBatchRequest,
    totals: BatchTotals,
    failures: Vec<ImageFailure>,
    results: Vec<EnhanceImageResult>,
    run: u32,
}

impl<'a> Children<'a> for EnhanceChildren<'a> {
    type Item = ObjectRef;
    type Outcome = ChildOutcome;

    fn start(&self, index: u64, source: ObjectRef) -> LocalBoxFuture<'a, ChildOutcome> {
        EnhanceBatchWorkflow::child(self.ctx, self.request, self.ctx.task_queue(), index, source)
    }

    fn finished(&mut self, _index: u64, (source, outcome): ChildOutcome) {
        record(&mut self.totals, &mut self.failures, &mut self.results, source, outcome);
    }

    fn progress(&mut self, progress: Progress) {
        let totals = BatchTotals { skipped: self.totals.skipped + progress.skipped, ..self.totals.clone() };
        let (running, run) = (progress.running as u32, self.run);
        self.ctx.state_mut(|s| s.progress = BatchProgress { totals, running, run });
    }
}

/// Counts one image's outcome; the first [`MAX_REPORTED_FAILURES`] failures are kept.
fn record(
    totals: &mut BatchTotals,
    failures: &mut Vec<ImageFailure>,
    results: &mut Vec<EnhanceImageResult>,
    source: ObjectRef,
    outcome: Result<EnhanceImageResult, RootCause>,
) {
    totals.images += 1;
    match outcome {
        Ok(result) => {
            totals.enhanced += 1;
            results.push(result);
        }
        Err(cause) => {
            totals.failed += 1;
            if failures.len() < MAX_REPORTED_FAILURES {
                failures.push(ImageFailure { source, error_type: cause.error_type, message: cause.message });
            }
        }
    }
}

impl EnhanceBatchWorkflow {
    /// The path of runs recorded before [`ONE_BATCH_ENGINE`]: lists the run's whole share
    /// through `ListEnhanceable`, then runs the window. Kept, unchanged in its commands, so
    /// those histories replay and such runs still open finish on this code.
    async fn run_listing_first(ctx: &mut WorkflowContext<Self>, request: EnhanceBatchRequest) -> WorkflowResult<EnhanceBatchSummary> {
        let queue = ctx.task_queue().to_owned();
        let carried = request.carried.clone().unwrap_or_default();
        let run = carried.runs + 1;
        let mut totals = carried.totals.clone();
        let mut failures = carried.failures.clone();
        ctx.state_mut(|s| s.progress = BatchProgress { totals: totals.clone(), running: 0, run });

        let mut images = Vec::new();
        let mut list_after = carried.list_after.clone();
        let mut listing_done = false;
        let list = failure::activity_options(&request.options.activities.list, queue.clone());
        while (images.len() as u32) < request.images_per_run {
            let wanted = (request.images_per_run - images.len() as u32).min(1000);
            let page = ctx
                .execute_activity(
                    ListEnhanceable,
                    ListRequest { location: request.source.clone(), start_after: list_after.clone(), max_keys: wanted },
                    list.clone(),
                )
                .await?;
            totals.skipped += page.skipped;
            images.extend(page.images);
            match page.next_after {
                Some(next) => list_after = Some(next),
                None => {
                    listing_done = true;
                    break;
                }
            }
        }

        let first_index = carried.totals.images;
        let mut pending = images.into_iter().enumerate();
        let mut running: Vec<LocalBoxFuture<'static, ChildOutcome>> = Vec::new();
        let mut results = Vec::new();
        loop {
            while running.len() < request.max_concurrent as usize {
                let Some((i, source)) = pending.next() else { break };
                running.push(Self::child(ctx, &request, &queue, first_index + i as u64, source));
            }
            ctx.state_mut(|s| s.progress = BatchProgress { totals: totals.clone(), running: running.len() as u32, run });
            if running.is_empty() {
                break;
            }
            let ((source, outcome), _, rest) = select_all(running).await;
            running = rest;
            record(&mut totals, &mut failures, &mut results, source, outcome);
        }

        if !listing_done {
            let next = EnhanceBatchRequest { carried: Some(BatchCarried { list_after, totals, failures, runs: run }), ..request };
            ctx.continue_as_new(next.into(), ContinueAsNewOptions::default())?;
            unreachable!("continue_as_new always ends the run");
        }
        Ok(EnhanceBatchSummary { source: request.source, destination: request.destination, totals, failures, results, runs: run })
    }

    /// Starts the child of one image and resolves to its outcome (a failure is an outcome, not
    /// an error of the batch).
    fn child(
        ctx: &WorkflowContext<Self>,
        request: &EnhanceBatchRequest,
        queue: &str,
        index: u64,
        source: ObjectRef,
    ) -> LocalBoxFuture<'static, ChildOutcome> {
        let destination = match batch_destination(&source, &request.source, &request.destination) {
            Ok(destination) => destination,
            Err(e) => {
                let cause = failure::invalid_input_cause(&source, format!("no valid destination key: {e}"));
                return Box::pin(std::future::ready((source, Err(cause))));
            }
        };
        let child = EnhanceImageRequest { source: source.clone(), destination, options: request.options.clone() };
        let options = ChildWorkflowOptions::builder()
            .workflow_id(format!("{}/{index}", ctx.workflow_id()))
            .task_queue(queue.to_owned())
            .static_summary(source.to_string())
            .build();
        let ctx = ctx.clone();
        Box::pin(async move {
            let outcome = match ctx.start_child_workflow(EnhanceImage, child, options).await {
                Ok(started) => started.result().await.map_err(|e| failure::child_root_cause(&e)),
                Err(e) => Err(RootCause { error_type: None, message: format!("{source}: the child workflow did not start: {e}") }),
            };
            (source, outcome)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implement_their_contracts() {
        assert!(contracts::implements_submitted_workflow(&EnhanceImageWorkflow::run, &EnhanceImage));
        assert!(contracts::implements_submitted_workflow(&EnhanceBatchWorkflow::run, &EnhanceBatch));
    }
}
