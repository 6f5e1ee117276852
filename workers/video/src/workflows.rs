//! `VideoPipeline` (video queue): analyze -> extract frames -> process frames, with a `progress`
//! query and a `cancel` signal that stops cleanly.
//!
//! Cancelling: each stage's activity runs under a cancellation token of its own (a child of the
//! run's, so a Temporal cancellation request works the same way). When the `cancel` signal
//! arrives the token is cancelled and the workflow waits for the activity to acknowledge
//! (`WaitCancellationCompleted`: it notices on its next heartbeat and stops uploading), so the
//! cleanup that follows cannot race a late upload. The cleanup activity runs under a detached
//! token, removes everything under the output prefix, and the run ends as cancelled with a
//! [`VideoCancelled`] as details.

use contracts::settings::ActivitySettings;
use contracts::submitted::Submitted;
use contracts::video::ResolveVideoRequest;
use contracts::video::{
    AnalyzeVideo, AssembleFrames, AssembleRequest, ExtractFrames, ExtractRequest, ExtractResult, ExtractSegment, ProcessFrames, ProcessRequest,
    RemoveVideoOutputs, SegmentRequest, StageProgress, VideoCancelled, VideoMetadata, VideoOutcome, VideoPipeline, VideoProgress, VideoRequest,
    VideoStage,
};
use futures::future::{Either, select, try_join_all};
use std::future::Future;
use std::pin::pin;
use temporalio_common::ActivityDefinition;
use temporalio_common::data_converters::TemporalDeserializable;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityCancellationType, ActivityExecutionError, ActivityOptions, SyncWorkflowContext, WorkflowCancellationToken, WorkflowContext,
    WorkflowContextView, WorkflowResult, WorkflowTermination,
};

/// Shares of the overall percentage: analysis, extraction, processing.
const ANALYZE_SHARE: f64 = 5.0;
const EXTRACT_SHARE: f64 = 80.0;

/// `VideoPipeline`: one video through analysis, frame extraction and frame processing.
#[workflow]
#[derive(Default)]
pub struct VideoPipelineWorkflow {
    progress: VideoProgress,
    /// The reason given by the `cancel` signal, once one arrives.
    cancel_reason: Option<String>,
    /// Frames of the extraction segments that have finished.
    extracted_in_finished_segments: u32,
}

/// How a stage ended.
enum Stage<T> {
    Done(T),
    Cancelled,
}

impl VideoPipelineWorkflow {
    fn set_stage(&mut self, stage: VideoStage) {
        self.progress.stage = stage;
        self.progress.percent = percent(&self.progress);
    }
}

/// Overall progress, 0..100, from the stage and the frame counts.
fn percent(p: &VideoProgress) -> f64 {
    let expected = f64::from(p.frames_expected.unwrap_or(0).max(1));
    let share = |done: u32| (f64::from(done) / expected).min(1.0);
    let value = match p.stage {
        VideoStage::Starting | VideoStage::Analyzing => 0.0,
        VideoStage::Extracting => ANALYZE_SHARE + EXTRACT_SHARE * share(p.frames_extracted),
        VideoStage::Processing => ANALYZE_SHARE + EXTRACT_SHARE + (100.0 - ANALYZE_SHARE - EXTRACT_SHARE) * share(p.frames_processed),
        VideoStage::Completed => 100.0,
        // A run that stops keeps the figure it had reached.
        VideoStage::Cancelling | VideoStage::Cancelled | VideoStage::Failed => p.percent,
    };
    (value * 10.0).round() / 10.0
}

#[workflow_methods]
impl VideoPipelineWorkflow {
    /// Runs the three stages on the (prefixed) video queue.
    #[run(name = VideoPipeline::NAME)]
    pub async fn run(ctx: &mut WorkflowContext<Self>, request: Submitted<VideoRequest>) -> WorkflowResult<VideoOutcome> {
        let request = match fleet::requests::resolve(ctx, ResolveVideoRequest, request).await {
            Ok(request) => request,
            Err(e) => {
                ctx.state_mut(|s| s.set_stage(VideoStage::Failed));
                return Err(e);
            }
        };
        if let Err(reason) = request.validate() {
            ctx.state_mut(|s| s.set_stage(VideoStage::Failed));
            return Err(fleet::failure::invalid_request(format!("{}: invalid video request: {reason}", request.video)));
        }
        let queue = ctx.task_queue().to_owned();
        let settings = &request.activities;

        ctx.state_mut(|s| s.set_stage(VideoStage::Analyzing));
        let metadata = match run_stage(ctx, AnalyzeVideo, request.video.clone(), &settings.analyze, &queue).await {
            Ok(Stage::Done(metadata)) => metadata,
            Ok(Stage::Cancelled) => return cancel_run(ctx, &request, &queue).await,
            Err(e) => return fail(ctx, e),
        };
        let needed = crate::frames::expected_frames(request.sampling, metadata.duration_seconds, metadata.frame_count);
        let max_frames = request.frames.max_frames;
        // Runs recorded before this check extracted up to the cap and stopped there, silently.
        if ctx.patched(NO_SILENT_FRAME_CAP) && needed > u64::from(max_frames) {
            ctx.state_mut(|s| s.set_stage(VideoStage::Failed));
            return Err(fleet::failure::invalid_request(frame_cap_message(&request, needed, metadata.duration_seconds)));
        }
        let expected = needed.min(u64::from(max_frames)) as u32;
        ctx.state_mut(|s| {
            s.progress.frames_expected = Some(expected);
            s.set_stage(VideoStage::Extracting);
        });

        let extract =
            ExtractRequest { metadata: metadata.clone(), sampling: request.sampling, frames: request.frames.clone(), output: request.output.clone() };
        // Runs recorded before segmenting extracted in one activity, with a heartbeat that
        // carried every frame.
        let extraction = if ctx.patched(SEGMENTED_EXTRACTION) {
            extract_in_segments(ctx, extract, &request, &queue).await
        } else {
            run_stage(ctx, ExtractFrames, extract, &settings.extract, &queue).await
        };
        let extraction = match extraction {
            Ok(Stage::Done(extraction)) => extraction,
            Ok(Stage::Cancelled) => return cancel_run(ctx, &request, &queue).await,
            Err(e) => return fail(ctx, e),
        };
        ctx.state_mut(|s| {
            s.progress.frames_expected = Some(extraction.frames);
            s.progress.frames_extracted = extraction.frames;
            s.set_stage(VideoStage::Processing);
        });

        let process = ProcessRequest {
            metadata: metadata.clone(),
            manifest: extraction.manifest.clone(),
            scene_scores: extraction.scene_scores.clone(),
            frames_expected: extraction.frames_expected,
            settings: request.process.clone(),
            output: request.output.clone(),
        };
        let processed = match run_stage(ctx, ProcessFrames, process, &settings.process, &queue).await {
            Ok(Stage::Done(processed)) => processed,
            Ok(Stage::Cancelled) => return cancel_run(ctx, &request, &queue).await,
            Err(e) => return fail(ctx, e),
        };
        ctx.state_mut(|s| {
            s.progress.frames_processed = processed.frames;
            s.set_stage(VideoStage::Completed);
        });
        Ok(VideoOutcome {
            metadata,
            extraction,
            summary: processed.summary,
            contact_sheet: processed.contact_sheet,
            scene_cuts: processed.scene_cuts,
            transitions: processed.transitions,
        })
    }

    /// Stage, frame counts and percentage.
    #[query(name = "progress")]
    pub fn progress(&self, _ctx: &WorkflowContextView) -> VideoProgress {
        self.progress.clone()
    }

    /// Asks the run to stop and remove its partial outputs. Ignored once the run has ended or
    /// is already stopping.
    #[signal(name = "cancel")]
    pub fn cancel(&mut self, _ctx: &mut SyncWorkflowContext<Self>, reason: String) {
        if self.cancel_reason.is_none() && !self.progress.stage.is_final() {
            self.cancel_reason = Some(if reason.trim().is_empty() { "cancel signal".to_owned() } else { reason });
        }
    }

    /// Frames done by the running activity (sent by the activity itself, throttled). Counts only
    /// grow, and only for the stage the run is in: a late signal cannot move progress back.
    #[signal(name = "report_progress")]
    pub fn report_progress(&mut self, _ctx: &mut SyncWorkflowContext<Self>, update: StageProgress) {
        if update.stage != self.progress.stage {
            return;
        }
        match update.stage {
            VideoStage::Extracting => self.progress.frames_extracted = self.progress.frames_extracted.max(update.frames_done),
            VideoStage::Processing => self.progress.frames_processed = self.progress.frames_processed.max(update.frames_done),
            _ => return,
        }
        self.progress.percent = percent(&self.progress);
    }
}

/// Runs one activity on `queue` unless a cancel arrives first; on a cancel the activity is
/// cancelled and awaited until it has stopped.
async fn run_stage<AD>(
    ctx: &WorkflowContext<VideoPipelineWorkflow>,
    activity: AD,
    input: AD::Input,
    settings: &ActivitySettings,
    queue: &str,
) -> Result<Stage<AD::Output>, ActivityExecutionError>
where
    AD: ActivityDefinition,
    AD::Output: TemporalDeserializable + 'static,
{
    run_stage_with(ctx, settings, queue, |options| ctx.execute_activity(activity, input, options)).await
}

/// Runs the activities `start` schedules with the stage's options (one cancellation token for
/// all of them) unless a cancel arrives first; on a cancel they are cancelled and awaited until
/// they have stopped.
async fn run_stage_with<T, F>(
    ctx: &WorkflowContext<VideoPipelineWorkflow>,
    settings: &ActivitySettings,
    queue: &str,
    start: impl FnOnce(ActivityOptions) -> F,
) -> Result<Stage<T>, ActivityExecutionError>
where
    F: Future<Output = Result<T, ActivityExecutionError>>,
{
    if cancel_requested(ctx) {
        return Ok(Stage::Cancelled);
    }
    let token = ctx.cancellation_token().child_token();
    let mut options = fleet::failure::activity_options(settings, queue);
    options.cancellation_token = Some(token.clone());
    options.cancellation_type = ActivityCancellationType::WaitCancellationCompleted;
    let running = pin!(start(options));
    // Resolves on the signal, or with an error when the run itself is cancelled: either way, stop.
    let cancel = pin!(ctx.wait_condition(|s| s.cancel_reason.is_some()));
    match select(running, cancel).await {
        Either::Left((Ok(output), _)) if !cancel_requested(ctx) => Ok(Stage::Done(output)),
        Either::Left((Ok(_), _)) => Ok(Stage::Cancelled),
        Either::Left((Err(e), _)) if matches!(e, ActivityExecutionError::Cancelled(_)) || cancel_requested(ctx) => Ok(Stage::Cancelled),
        Either::Left((Err(e), _)) => Err(e),
        Either::Right((_, running)) => {
            token.cancel_with_reason("video pipeline cancelled");
            // Whatever it ends with (cancelled, or finished just before noticing), the run stops.
            let _ = running.await;
            Ok(Stage::Cancelled)
        }
    }
}

/// Extraction in time segments: one `ExtractSegment` per segment, all at once (as many run in
/// parallel as there are video workers' slots), then `AssembleFrames`. The progress query
/// counts the frames of finished segments: no signal per frame, a history whose size depends
/// on the number of segments (at most `MAX_SEGMENTS`), not on the video's length.
async fn extract_in_segments(
    ctx: &WorkflowContext<VideoPipelineWorkflow>,
    extract: ExtractRequest,
    request: &VideoRequest,
    queue: &str,
) -> Result<Stage<ExtractResult>, ActivityExecutionError> {
    let metadata: &VideoMetadata = &extract.metadata;
    let segments = crate::segments::plan(extract.sampling, metadata, extract.frames.segment_seconds);
    let settings = &request.activities;
    let done = run_stage_with(ctx, &settings.extract, queue, |options| {
        try_join_all(segments.into_iter().map(|segment| {
            let input = SegmentRequest { extract: extract.clone(), segment };
            let options = options.clone();
            async move {
                let result = ctx.execute_activity(ExtractSegment, input, options).await?;
                ctx.state_mut(|s| {
                    // A lone segment also signals its progress as it goes: never count twice.
                    s.extracted_in_finished_segments += result.frames;
                    s.progress.frames_extracted = s.progress.frames_extracted.max(s.extracted_in_finished_segments);
                    s.progress.percent = percent(&s.progress);
                });
                Ok(result)
            }
        }))
    })
    .await?;
    let Stage::Done(segments) = done else { return Ok(Stage::Cancelled) };
    run_stage(ctx, AssembleFrames, AssembleRequest { extract, segments }, &settings.assemble, queue).await
}

fn cancel_requested(ctx: &WorkflowContext<VideoPipelineWorkflow>) -> bool {
    ctx.state(|s| s.cancel_reason.is_some()) || ctx.cancellation_token().is_cancelled()
}

/// Removes the partial outputs and ends the run as cancelled.
async fn cancel_run(ctx: &WorkflowContext<VideoPipelineWorkflow>, request: &VideoRequest, queue: &str) -> WorkflowResult<VideoOutcome> {
    let interrupted = ctx.state(|s| s.progress.stage);
    let reason =
        ctx.state(|s| s.cancel_reason.clone()).or_else(|| ctx.cancellation_token().reason()).unwrap_or_else(|| "cancellation requested".to_owned());
    ctx.state_mut(|s| s.set_stage(VideoStage::Cancelling));
    let mut options = fleet::failure::activity_options(&request.activities.cleanup, queue);
    // Detached from the run's cancellation: the cleanup must run even when the run was cancelled.
    options.cancellation_token = Some(WorkflowCancellationToken::new());
    let removed_objects = ctx.execute_activity(RemoveVideoOutputs, request.output.clone(), options).await?;
    ctx.state_mut(|s| s.set_stage(VideoStage::Cancelled));
    Err(WorkflowTermination::cancelled_with_details(VideoCancelled { video: request.video.clone(), stage: interrupted, reason, removed_objects }))
}

/// Patch of the runs that extract in time segments (`ExtractSegment`, `AssembleFrames`)
/// instead of one `ExtractFrames`.
pub const SEGMENTED_EXTRACTION: &str = "segmented-extraction";

/// Patch of the runs that refuse a sampling needing more frames than `frames.max_frames`
/// instead of stopping at the cap.
pub const NO_SILENT_FRAME_CAP: &str = "no-silent-frame-cap";

/// Why a request is refused when its sampling needs more frames than a run may extract.
fn frame_cap_message(request: &VideoRequest, needed: u64, duration_seconds: f64) -> String {
    format!(
        "{}: sampling {} needs {needed} frames of this {duration_seconds:.1} s video, more than the {} a run may extract \
         (frames.max_frames; the starter's --max-frames): raise it, or sample less often",
        request.video, request.sampling, request.frames.max_frames
    )
}

fn fail(ctx: &WorkflowContext<VideoPipelineWorkflow>, error: ActivityExecutionError) -> WorkflowResult<VideoOutcome> {
    ctx.state_mut(|s| s.set_stage(VideoStage::Failed));
    Err(error.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implements_its_contract() {
        assert!(contracts::implements_submitted_workflow(&VideoPipelineWorkflow::run, &VideoPipeline));
    }

    #[test]
    fn handler_names_match_the_contracts() {
        use contracts::video::{CancelVideo, ReportStageProgress, VideoProgressQuery};
        use temporalio_common::{QueryDefinition, SignalDefinition};
        assert_eq!(VideoPipelineWorkflow::progress.name(), VideoProgressQuery.name());
        assert_eq!(VideoPipelineWorkflow::cancel.name(), CancelVideo.name());
        assert_eq!(VideoPipelineWorkflow::report_progress.name(), ReportStageProgress.name());
    }

    #[test]
    fn percentages() {
        let mut p = VideoProgress { stage: VideoStage::Extracting, frames_expected: Some(10), ..Default::default() };
        assert_eq!(percent(&p), 5.0);
        p.frames_extracted = 5;
        assert_eq!(percent(&p), 45.0);
        p.stage = VideoStage::Processing;
        p.frames_extracted = 10;
        p.frames_processed = 10;
        assert_eq!(percent(&p), 100.0);
        p.percent = 87.0;
        p.stage = VideoStage::Cancelled;
        assert_eq!(percent(&p), 87.0);
    }
}
