//! Activities of the video queue. Each downloads what it needs into a scratch directory
//! (removed when the activity ends, whatever the outcome), does its FFmpeg or pixel work on a
//! blocking thread, and writes its outputs under the run's output prefix with deterministic
//! keys, so a retry overwrites instead of duplicating.

use crate::extract::{Encoded, EncodedFrame, sample_and_encode};
use crate::frames::{ResumePoint, SampleEnd, SampleError, SamplePlan, Start, Window};
use crate::inputs::{Inputs, LocalCopy};
use crate::scenes::FrameScore;
use crate::segments::{SceneScores, SegmentCheckpoint, SegmentPiece, piece_name};
use crate::{imaging, probe};
use contracts::ObjectRef;
use contracts::object::PrefixRef;
use contracts::video::{
    AssembleRequest, ContactSheet, ExtractRequest, ExtractResult, FrameFormat, ProcessRequest, ProcessResult, ReportStageProgress, SceneCut,
    SceneTransition, SegmentRequest, SegmentResult, StageProgress, TransitionKind, VideoMetadata, VideoPipeline, VideoStage, validate_output,
};
use documents::video::{self as layout, ExtractedFrame, FrameAnalysis, FrameManifest, VideoSummary};
use fleet::failure::{invalid_input, transient};
use fleet::kit::{self, Scratch, blocking};
use fleet::{Storage, StorageError};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use temporalio_client::{Client, WorkflowHandle, WorkflowSignalOptions};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Encoded frames waiting for upload: the decoder runs at most this far ahead of the uploads,
/// which bounds memory whatever the video's length.
const UPLOAD_QUEUE: usize = 4;
/// The running activity tells its workflow how far it got at most this often...
const PROGRESS_SIGNAL_INTERVAL: Duration = Duration::from_secs(1);
/// ...and at most once per this share of the stage's frames: a stage sends at most this many
/// progress signals (each one event and a workflow task in the run's history), whatever the
/// video's length. With at most `MAX_SEGMENTS` segments, this keeps a run under 300 events.
const PROGRESS_STEPS: u32 = 10;

/// When a stage of `total` frames reports next: every `total / PROGRESS_STEPS` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ProgressSteps {
    step: u32,
    next_at: u32,
}

impl ProgressSteps {
    fn new(total: u32) -> Self {
        let step = total.div_ceil(PROGRESS_STEPS).max(1);
        Self { step, next_at: step }
    }

    /// True when `done` reached the next step; moves the step past it.
    fn due(&mut self, done: u32) -> bool {
        if done < self.next_at {
            return false;
        }
        self.next_at = (done / self.step + 1) * self.step;
        true
    }
}
/// Objects deleted at once by the cleanup.
const DELETE_CONCURRENCY: usize = 8;

/// The video worker's activities and the storage they use.
pub struct VideoPipelineActivities {
    storage: Storage,
    inputs: Inputs,
}

impl VideoPipelineActivities {
    /// Activities over the given storage, downloading into `scratch`.
    pub fn new(storage: Storage, scratch: Scratch) -> Self {
        Self { inputs: Inputs::new(storage.clone(), scratch), storage }
    }
}

/// What the extraction heartbeats (its details format): everything a retried attempt needs to
/// carry on where this one stopped. Bounded by `FrameSettings::max_frames`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtractCheckpoint {
    /// Where the next attempt resumes.
    pub next_target: u64,
    /// Frames uploaded so far, in order.
    pub frames: Vec<ExtractedFrame>,
    /// Size of the frame images, once one exists.
    pub size: Option<(u32, u32)>,
}

/// Throttled `report_progress` signals from an activity to the run that started it, so the
/// run's `progress` query moves while the activity works. Best effort: a lost signal only
/// makes the progress bar lag, the activity's result is what counts.
struct ProgressSignals {
    handle: Option<WorkflowHandle<Client, VideoPipeline>>,
    stage: VideoStage,
    steps: ProgressSteps,
    last: Option<Instant>,
}

impl ProgressSignals {
    /// Signals for a stage of `total_frames` frames.
    fn new(ctx: &ActivityContext, stage: VideoStage, total_frames: u32) -> Self {
        // Only a VideoPipeline run has the handler; another caller gets no signals.
        let handle = (ctx.info().workflow_type.as_deref() == Some(VideoPipeline::NAME)).then(|| ctx.workflow_handle::<VideoPipeline>()).flatten();
        Self { handle, stage, steps: ProgressSteps::new(total_frames), last: None }
    }

    async fn report(&mut self, frames_done: u32) {
        let Some(handle) = &self.handle else { return };
        if self.last.is_some_and(|at| at.elapsed() < PROGRESS_SIGNAL_INTERVAL) || !self.steps.due(frames_done) {
            return;
        }
        self.last = Some(Instant::now());
        let progress = StageProgress { stage: self.stage, frames_done };
        let send = handle.signal(ReportStageProgress, progress, WorkflowSignalOptions::default());
        match tokio::time::timeout(Duration::from_secs(2), send).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "progress signal not delivered"),
            Err(_) => tracing::debug!("progress signal timed out"),
        }
    }
}

/// A segment's piece `p` holds what it decoded in seconds `[p, p + 1) * PIECE_SECONDS` from the
/// segment's start: a piece's content depends on the video alone, so an attempt cut off from
/// the server that writes a piece late writes the same bytes the attempt that took over wrote.
/// A retry redoes at most this much of the video.
const PIECE_SECONDS: f64 = 10.0;

/// How `extract` samples `window`, keeping at most `max_frames` and scoring every decoded frame
/// when `score`.
fn sample_plan(extract: &ExtractRequest, max_frames: u32, window: Window, score: bool) -> SamplePlan {
    SamplePlan {
        sampling: extract.sampling,
        duration_seconds: extract.metadata.duration_seconds,
        fps: extract.metadata.fps,
        max_width: extract.frames.max_width,
        rotation_degrees: if extract.frames.apply_rotation { extract.metadata.rotation_degrees } else { 0 },
        max_frames,
        window,
        score,
    }
}

/// Decoding and encoding running on blocking threads, and how they end.
type Decoding = kit::BlockingTask<Result<SampleEnd, SampleError>>;

/// Starts decoding (and encoding) `local` on blocking threads; what they produce arrives on the
/// receiver, at most [`UPLOAD_QUEUE`] ahead of the consumer.
fn decode_in_background(
    local: Arc<LocalCopy>,
    plan: SamplePlan,
    start: Start,
    format: FrameFormat,
    quality: u8,
) -> (Decoding, tokio::sync::mpsc::Receiver<Result<Encoded, String>>) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Encoded, String>>(UPLOAD_QUEUE);
    let decoding = kit::spawn_blocking(move || {
        sample_and_encode(&local.path, &plan, start, format, quality, |encoded| {
            // A closed channel means the activity stopped (cancelled or failed): stop too.
            match sender.blocking_send(encoded) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        })
    });
    (decoding, receiver)
}

/// Cuts between consecutive sampled frames whose histogram score reached `threshold`.
fn histogram_cuts(analyses: &[FrameAnalysis], threshold: f64) -> Vec<SceneCut> {
    analyses
        .windows(2)
        .filter_map(|pair| {
            let score = pair[1].scene_score?;
            (score >= threshold).then(|| SceneCut {
                frame_index: pair[1].frame.index,
                at_seconds: pair[1].frame.timestamp_seconds,
                previous_seconds: pair[0].frame.timestamp_seconds,
                score,
            })
        })
        .collect()
}

/// The hard cuts among `transitions`, each placed between the sampled frames around it: the
/// first sampled frame of the new scene (none when the cut comes after the last one).
fn cuts_between_sampled_frames(transitions: &[SceneTransition], analyses: &[FrameAnalysis]) -> Vec<SceneCut> {
    transitions
        .iter()
        .filter(|t| t.kind == TransitionKind::Cut)
        .filter_map(|cut| {
            let after = analyses.partition_point(|a| a.frame.timestamp_seconds < cut.end_seconds);
            let (previous, first) = (after.checked_sub(1).map(|i| &analyses[i]), analyses.get(after)?);
            Some(SceneCut {
                frame_index: first.frame.index,
                at_seconds: first.frame.timestamp_seconds,
                previous_seconds: previous.map_or(cut.start_seconds, |p| p.frame.timestamp_seconds),
                score: cut.score,
            })
        })
        .collect()
}

/// How a decoding run ended, as the activity's outcome.
fn decoding_outcome(video: &ObjectRef, end: Result<SampleEnd, SampleError>) -> Result<(), ActivityError> {
    match end {
        Ok(SampleEnd::Finished { decoded }) => {
            tracing::debug!(%video, decoded, "decoding finished");
            Ok(())
        }
        Ok(SampleEnd::Stopped) => Err(transient(video, "frame decoding stopped early")),
        Err(SampleError::Probe(e)) => Err(invalid_input(video, e)),
        Err(e @ SampleError::Decode { .. }) => Err(invalid_input(video, e)),
    }
}

fn storage_error(e: StorageError) -> ActivityError {
    e.into_activity_error()
}

impl VideoPipelineActivities {
    /// Uploads an encoded frame under `output` (named by its index) and returns its entry.
    async fn upload_frame(&self, output: &PrefixRef, format: FrameFormat, encoded: EncodedFrame) -> Result<ExtractedFrame, ActivityError> {
        let object = output_object(output, &layout::frame_name(encoded.index, format))?;
        self.storage.put(&object, encoded.bytes, format.content_type()).await.map_err(storage_error)?;
        Ok(ExtractedFrame { index: encoded.index, object, timestamp_seconds: encoded.timestamp_seconds, frame_number: encoded.frame_number })
    }

    /// Writes `piece` as the segment's next piece; returns the checkpoint that covers it
    /// (`covered` is where the frames in the piece leave the sampling).
    async fn write_piece(
        &self,
        extract: &ExtractRequest,
        segment: u32,
        covered: SegmentCheckpoint,
        piece: SegmentPiece,
    ) -> Result<SegmentCheckpoint, ActivityError> {
        let object = output_object(&extract.output, &piece_name(segment, covered.pieces))?;
        let body = serde_json::to_vec(&piece).map_err(|e| transient(&object, format!("serializing: {e}")))?;
        self.storage.put(&object, body, "application/json").await.map_err(storage_error)?;
        Ok(SegmentCheckpoint {
            pieces: covered.pieces + 1,
            frames: covered.frames + piece.frames.len() as u32,
            scored_until: piece.scores.last().map(|s| s.t).or(covered.scored_until),
            ..covered
        })
    }

    async fn put_json<T: Serialize>(&self, object: &ObjectRef, value: &T) -> Result<(), ActivityError> {
        let body = serde_json::to_vec_pretty(value).map_err(|e| transient(object, format!("serializing: {e}")))?;
        self.storage.put(object, body, "application/json").await.map_err(storage_error)
    }
}

fn output_object(output: &PrefixRef, name: &str) -> Result<ObjectRef, ActivityError> {
    layout::output_object(output, name).map_err(|e| invalid_input(output, e))
}

#[activities]
impl VideoPipelineActivities {
    /// Probes the video: metadata plus an end-to-end check that it is whole. Bad files fail
    /// non-retryably with the object's URI and the reason.
    #[activity(definition = contracts::video::AnalyzeVideo)]
    pub async fn analyze_video(self: Arc<Self>, _ctx: ActivityContext, video: ObjectRef) -> Result<VideoMetadata, ActivityError> {
        let local = self.inputs.get(&video).await?;
        let size_bytes = std::fs::metadata(&local.path).map(|m| m.len()).unwrap_or(0);
        let probed = blocking(&video, move || probe::probe(&local.path)).await?.map_err(|e| invalid_input(&video, e))?;
        let (display_width, display_height) =
            if probed.rotation_degrees % 180 == 90 { (probed.height, probed.width) } else { (probed.width, probed.height) };
        tracing::info!(%video, codec = %probed.codec, width = probed.width, height = probed.height, fps = probed.fps,
            duration = probed.duration_seconds, frames = probed.frame_count, rotation = probed.rotation_degrees, "analyzed");
        Ok(VideoMetadata {
            video,
            size_bytes,
            container: probed.container,
            codec: probed.codec,
            pixel_format: probed.pixel_format,
            width: probed.width,
            height: probed.height,
            fps: probed.fps,
            duration_seconds: probed.duration_seconds,
            frame_count: probed.frame_count,
            frame_count_source: probed.frame_count_source,
            rotation_degrees: probed.rotation_degrees,
            rotation_source: probed.rotation_source,
            display_width,
            display_height,
            audio_streams: probed.audio_streams,
            bit_rate: probed.bit_rate,
        })
    }

    /// Decodes the video packet by packet, uploads each sampled frame as soon as it is encoded,
    /// and heartbeats the frames done; a retried attempt resumes from the last heartbeat.
    #[activity(definition = contracts::video::ExtractFrames)]
    pub async fn extract_frames(self: Arc<Self>, ctx: ActivityContext, request: ExtractRequest) -> Result<ExtractResult, ActivityError> {
        let video = request.metadata.video.clone();
        let attempt = ctx.info().attempt.max(1);
        // Details that do not parse (a worker of an older version wrote them) mean starting over,
        // which is always correct: uploads overwrite the same keys.
        let checkpoint: ExtractCheckpoint = ctx.heartbeat_details().deserialize().ok().flatten().unwrap_or_default();
        let resumed_from = checkpoint.frames.len() as u32;
        if resumed_from > 0 {
            tracing::info!(%video, resumed_from, attempt, "resuming frame extraction from the last heartbeat");
        }
        let format = request.frames.format;
        let quality = request.frames.jpeg_quality;
        let plan = sample_plan(&request, request.frames.max_frames, Window::WHOLE, false);
        let start = ResumePoint { next_target: checkpoint.next_target, next_index: resumed_from };

        // Heartbeats go on while a long video downloads, so the heartbeat timeout only fires
        // for a worker that is really gone, and a cancel is noticed promptly.
        let local = kit::heartbeating(&ctx, || checkpoint.clone(), self.inputs.get(&video)).await??;
        let (decoding, mut receiver) = decode_in_background(local, plan, start.into(), format, quality);

        let mut state = checkpoint;
        let mut extracted_this_attempt = 0u32;
        let expected = crate::frames::expected_frames(request.sampling, request.metadata.duration_seconds, request.metadata.frame_count)
            .min(u64::from(request.frames.max_frames)) as u32;
        let mut signals = ProgressSignals::new(&ctx, VideoStage::Extracting, expected);
        // Also between two kept frames: sparse sampling of a long video decodes for a while.
        let mut keepalive = tokio::time::interval(kit::heartbeat_interval(&ctx));
        loop {
            let next = tokio::select! {
                next = receiver.recv() => next,
                () = ctx.cancelled() => {
                    tracing::info!(%video, done = state.frames.len(), "frame extraction cancelled");
                    return Err(ActivityError::cancelled());
                }
                _ = keepalive.tick() => {
                    kit::heartbeat(&ctx, state.clone()).await;
                    continue;
                }
            };
            let Some(encoded) = next else { break };
            let Encoded::Frame(encoded) = encoded.map_err(|e| transient(&video, e))? else { continue };
            let (resume, size) = (encoded.resume, encoded.size);
            state.frames.push(self.upload_frame(&request.output, format, encoded).await?);
            state.next_target = resume.next_target;
            state.size = Some(size);
            extracted_this_attempt += 1;
            // Every frame: the SDK throttles what it sends, and a failing attempt hands its
            // latest details to the next one.
            kit::heartbeat(&ctx, state.clone()).await;
            signals.report(state.frames.len() as u32).await;
        }
        decoding_outcome(&video, decoding.join(&video).await?)?;
        let Some((width, height)) = state.size.filter(|_| !state.frames.is_empty()) else {
            return Err(invalid_input(&video, format!("no frame matches the sampling ({})", request.sampling)));
        };

        let manifest = output_object(&request.output, layout::MANIFEST_NAME)?;
        let frames = state.frames.len() as u32;
        let listing = FrameManifest { video: video.clone(), sampling: request.sampling, width, height, format, frames: state.frames };
        self.put_json(&manifest, &listing).await?;
        tracing::info!(%video, frames, resumed_from, extracted_this_attempt, attempt, "frames extracted");
        Ok(ExtractResult {
            manifest,
            frames,
            width,
            height,
            resumed_from,
            extracted_this_attempt,
            attempt,
            segments: 1,
            frames_expected: expected,
            scene_scores: None,
        })
    }

    /// Extracts one time segment: decodes it, uploads the frames its sampling keeps, scores
    /// every decoded frame for scene detection, and writes both, in order, as pieces under
    /// `segments/`. Its heartbeats say how far the pieces go, so a retried attempt resumes there.
    #[activity(definition = contracts::video::ExtractSegment)]
    pub async fn extract_segment(self: Arc<Self>, ctx: ActivityContext, request: SegmentRequest) -> Result<SegmentResult, ActivityError> {
        let SegmentRequest { extract, segment } = request;
        let video = extract.metadata.video.clone();
        let attempt = ctx.info().attempt.max(1);
        // Details that do not parse (an older worker wrote them) mean starting the segment over,
        // which is always correct: pieces and frames overwrite the same keys.
        let mut checkpoint: SegmentCheckpoint = ctx.heartbeat_details().deserialize().ok().flatten().unwrap_or_default();
        let resumed_from = checkpoint.frames;
        if checkpoint.pieces > 0 {
            tracing::info!(%video, segment = segment.index, resumed_from, pieces = checkpoint.pieces, attempt, "resuming the segment from its last piece");
        }
        let format = extract.frames.format;
        // Frames are named from their sampling target, so segments never collide.
        let first = u32::try_from(segment.first_target).map_err(|_| invalid_input(&video, "too many sampling instants"))?;
        // The run refused samplings past `frames.max_frames` before any segment started.
        let window = Window { start_seconds: segment.start_seconds, end_seconds: segment.end_seconds };
        let plan = sample_plan(&extract, u32::MAX, window, true);
        let start = Start {
            resume: checkpoint.resume.unwrap_or(ResumePoint { next_target: segment.first_target, next_index: first }),
            scored_until: checkpoint.scored_until,
        };

        let local = kit::heartbeating(&ctx, || checkpoint, self.inputs.get(&video)).await??;
        let (decoding, mut receiver) = decode_in_background(local, plan, start, format, extract.frames.jpeg_quality);
        // What the pieces written so far cover is `checkpoint`; `pending` runs ahead of it with
        // the frames not yet in a piece.
        let mut pending = checkpoint;
        let mut piece = SegmentPiece::default();
        // A video extracted in one segment has its progress signalled as it goes; with several,
        // the run counts finished segments instead (a signal stream per segment would make the
        // history grow with the video).
        let only_segment = segment.index == 0 && segment.end_seconds.is_none();
        let expected = crate::frames::expected_frames(extract.sampling, extract.metadata.duration_seconds, extract.metadata.frame_count);
        let mut signals = only_segment.then(|| ProgressSignals::new(&ctx, VideoStage::Extracting, expected.min(u64::from(u32::MAX)) as u32));
        let piece_of = |t: f64| ((t - segment.start_seconds).max(0.0) / PIECE_SECONDS).floor() as u32;
        let mut extracted_this_attempt = 0u32;
        let mut keepalive = tokio::time::interval(kit::heartbeat_interval(&ctx));
        loop {
            let next = tokio::select! {
                next = receiver.recv() => next,
                () = ctx.cancelled() => {
                    tracing::info!(%video, segment = segment.index, done = checkpoint.frames, "segment extraction cancelled");
                    return Err(ActivityError::cancelled());
                }
                _ = keepalive.tick() => {
                    kit::heartbeat(&ctx, checkpoint).await;
                    continue;
                }
            };
            let Some(item) = next else { break };
            let item = item.map_err(|e| transient(&video, e))?;
            let t = match &item {
                Encoded::Score(score) => score.t,
                Encoded::Frame(frame) => frame.timestamp_seconds,
            };
            // Past the current piece's stretch: write it (and an empty one for each stretch
            // without a decoded frame), so the checkpoint moves on.
            while piece_of(t) > pending.pieces {
                checkpoint = self.write_piece(&extract, segment.index, pending, std::mem::take(&mut piece)).await?;
                pending = checkpoint;
                kit::heartbeat(&ctx, checkpoint).await;
            }
            match item {
                Encoded::Score(score) => piece.scores.push(score),
                Encoded::Frame(encoded) => {
                    pending.resume = Some(encoded.resume);
                    pending.size = Some(encoded.size);
                    piece.frames.push(self.upload_frame(&extract.output, format, encoded).await?);
                    extracted_this_attempt += 1;
                    if let Some(signals) = signals.as_mut() {
                        signals.report(pending.frames + piece.frames.len() as u32).await;
                    }
                }
            }
        }
        decoding_outcome(&video, decoding.join(&video).await?)?;
        if !piece.frames.is_empty() || !piece.scores.is_empty() {
            checkpoint = self.write_piece(&extract, segment.index, pending, piece).await?;
            kit::heartbeat(&ctx, checkpoint).await;
        }
        tracing::info!(%video, segment = segment.index, frames = checkpoint.frames, pieces = checkpoint.pieces, resumed_from, extracted_this_attempt, attempt, "segment extracted");
        Ok(SegmentResult {
            index: segment.index,
            pieces: checkpoint.pieces,
            frames: checkpoint.frames,
            size: checkpoint.size,
            resumed_from,
            extracted_this_attempt,
            attempt,
        })
    }

    /// Joins the segments' pieces, in order, into the frame manifest (`frames.json`) and the
    /// scene scores (`scene-scores.json`).
    #[activity(definition = contracts::video::AssembleFrames)]
    pub async fn assemble_frames(self: Arc<Self>, _ctx: ActivityContext, request: AssembleRequest) -> Result<ExtractResult, ActivityError> {
        let extract = &request.extract;
        let video = extract.metadata.video.clone();
        let mut frames = Vec::new();
        let mut scores: Vec<FrameScore> = Vec::new();
        let mut segments = request.segments.clone();
        segments.sort_by_key(|s| s.index);
        for segment in &segments {
            for number in 0..segment.pieces {
                let object = output_object(&extract.output, &piece_name(segment.index, number))?;
                let bytes = self.storage.get(&object).await.map_err(storage_error)?;
                let piece: SegmentPiece = serde_json::from_slice(&bytes).map_err(|e| transient(&object, format!("not a segment piece: {e}")))?;
                frames.extend(piece.frames);
                scores.extend(piece.scores);
            }
        }
        let Some((width, height)) = segments.iter().find_map(|s| s.size).filter(|_| !frames.is_empty()) else {
            return Err(invalid_input(&video, format!("no frame matches the sampling ({})", extract.sampling)));
        };
        let count = frames.len() as u32;
        let manifest = output_object(&extract.output, layout::MANIFEST_NAME)?;
        let listing = FrameManifest { video: video.clone(), sampling: extract.sampling, width, height, format: extract.frames.format, frames };
        self.put_json(&manifest, &listing).await?;
        let scores_object = output_object(&extract.output, layout::SCENE_SCORES_NAME)?;
        let scored = scores.len();
        self.put_json(&scores_object, &SceneScores { video: video.clone(), scores }).await?;
        let frames_expected =
            crate::frames::expected_frames(extract.sampling, extract.metadata.duration_seconds, extract.metadata.frame_count) as u32;
        tracing::info!(%video, frames = count, frames_expected, scored, segments = segments.len(), "frames assembled");
        Ok(ExtractResult {
            manifest,
            frames: count,
            width,
            height,
            resumed_from: segments.iter().map(|s| s.resumed_from).sum(),
            extracted_this_attempt: segments.iter().map(|s| s.extracted_this_attempt).sum(),
            attempt: segments.iter().map(|s| s.attempt).max().unwrap_or(1),
            segments: segments.len() as u32,
            frames_expected,
            scene_scores: Some(scores_object),
        })
    }

    /// Thumbnails, histograms and scene-change scores of every extracted frame, the scene cuts,
    /// the contact sheet and the summary JSON.
    #[activity(definition = contracts::video::ProcessFrames)]
    pub async fn process_frames(self: Arc<Self>, ctx: ActivityContext, request: ProcessRequest) -> Result<ProcessResult, ActivityError> {
        let settings = request.settings.clone();
        let manifest_bytes = self.storage.get(&request.manifest).await.map_err(storage_error)?;
        let manifest: FrameManifest =
            serde_json::from_slice(&manifest_bytes).map_err(|e| invalid_input(&request.manifest, format!("not a frame manifest: {e}")))?;
        drop(manifest_bytes);
        if manifest.frames.is_empty() {
            return Err(invalid_input(&request.manifest, "the manifest lists no frames"));
        }
        let format = manifest.format;
        let thumb_width = settings.thumb_width;
        let thumb_height = imaging::thumb_height(manifest.width, manifest.height, thumb_width);
        let on_sheet = imaging::sheet_selection(manifest.frames.len() as u32, settings.sheet_max_thumbs);
        let mut sheet = imaging::SheetCanvas::new(on_sheet.len() as u32, settings.sheet_columns, thumb_width, thumb_height);
        let mut signals = ProgressSignals::new(&ctx, VideoStage::Processing, manifest.frames.len() as u32);

        let mut analyses: Vec<FrameAnalysis> = Vec::with_capacity(manifest.frames.len());
        let mut previous: Option<Vec<f64>> = None;
        for frame in manifest.frames {
            if ctx.is_cancelled() {
                return Err(ActivityError::cancelled());
            }
            let bytes = self.storage.get(&frame.object).await.map_err(storage_error)?;
            let bins = settings.histogram_bins;
            let subject = frame.object.clone();
            let (mean_luminance, histogram, thumb, thumb_bytes) = blocking(&frame.object, move || {
                let image = image::load_from_memory(&bytes).map_err(|e| e.to_string())?.to_rgb8();
                let (mean, histogram) = imaging::luminance_histogram(&image, bins);
                let thumb = imaging::thumbnail(&image, thumb_width, thumb_height);
                let encoded = imaging::encode(&thumb, format, 85).map_err(|e| e.to_string())?;
                Ok::<_, String>((mean, histogram, thumb, encoded))
            })
            .await?
            .map_err(|e| invalid_input(&subject, format!("frame image does not decode: {e}")))?;
            let thumbnail = output_object(&request.output, &layout::thumbnail_name(frame.index, format))?;
            self.storage.put(&thumbnail, thumb_bytes, format.content_type()).await.map_err(storage_error)?;
            if let Ok(position) = on_sheet.binary_search(&(analyses.len() as u32)) {
                sheet.place(position as u32, &thumb);
            }
            let scene_score = previous.as_deref().map(|p| imaging::scene_score(p, &histogram));
            previous = Some(histogram.clone());
            analyses.push(FrameAnalysis { frame, thumbnail, mean_luminance, histogram, scene_score });
            let done = analyses.len() as u32;
            kit::heartbeat(&ctx, done).await;
            signals.report(done).await;
        }

        // Segmented runs scored every decoded frame: cuts, fades and flashes come from there.
        // Runs before compare the sampled frames' histograms.
        let (scene_cuts, transitions) = match &request.scene_scores {
            Some(object) => {
                let bytes = self.storage.get(object).await.map_err(storage_error)?;
                let document: SceneScores =
                    serde_json::from_slice(&bytes).map_err(|e| transient(object, format!("not a scene-scores document: {e}")))?;
                drop(bytes);
                let transitions = crate::scenes::detect(&document.scores, &settings.scenes);
                (cuts_between_sampled_frames(&transitions, &analyses), transitions)
            }
            None => (histogram_cuts(&analyses, settings.scene_threshold), Vec::new()),
        };

        let rows = sheet.rows();
        let sheet_object = output_object(&request.output, &format!("{}.{}", layout::CONTACT_SHEET_STEM, format.extension()))?;
        let sheet_image = sheet.into_image();
        let (width, height) = sheet_image.dimensions();
        let sheet_bytes = blocking(&sheet_object, move || imaging::encode(&sheet_image, format, 90))
            .await?
            .map_err(|e| transient(&request.manifest, format!("encoding the contact sheet: {e}")))?;
        self.storage.put(&sheet_object, sheet_bytes, format.content_type()).await.map_err(storage_error)?;
        let contact_sheet = ContactSheet {
            object: sheet_object,
            columns: settings.sheet_columns,
            rows,
            thumb_width,
            thumb_height,
            width,
            height,
            frame_indices: on_sheet.iter().map(|&i| analyses[i as usize].frame.index).collect(),
        };

        let summary_object = output_object(&request.output, layout::SUMMARY_NAME)?;
        let frames = analyses.len() as u32;
        let summary = VideoSummary {
            metadata: request.metadata,
            sampling: manifest.sampling,
            scene_threshold: settings.scene_threshold,
            frames: analyses,
            frames_expected: request.frames_expected,
            frames_extracted: frames,
            scene_cuts: scene_cuts.clone(),
            transitions: transitions.clone(),
            contact_sheet: contact_sheet.clone(),
        };
        self.put_json(&summary_object, &summary).await?;
        tracing::info!(summary = %summary_object, frames, cuts = scene_cuts.len(), "frames processed");
        Ok(ProcessResult { summary: summary_object, contact_sheet, scene_cuts, frames, transitions })
    }

    /// Deletes every object under the run's output prefix (a cancelled run's partial outputs).
    #[activity(definition = contracts::video::RemoveVideoOutputs)]
    pub async fn remove_video_outputs(self: Arc<Self>, _ctx: ActivityContext, output: PrefixRef) -> Result<u32, ActivityError> {
        validate_output(&output).map_err(|e| invalid_input(&output, e))?;
        // The trailing slash keeps `video/clip` from also matching `video/clip-2/...`.
        let folder = format!("{}/", output.prefix.trim_end_matches('/'));
        let objects = self.storage.list(&output.bucket, &folder).await.map_err(storage_error)?;
        let deletions = objects.iter().cloned().map(|object| {
            let storage = self.storage.clone();
            async move { storage.delete(&object).await }
        });
        let results: Vec<Result<(), StorageError>> = futures::stream::iter(deletions).buffer_unordered(DELETE_CONCURRENCY).collect().await;
        for result in results {
            result.map_err(storage_error)?;
        }
        tracing::info!(prefix = %output, removed = objects.len(), "outputs removed");
        Ok(objects.len() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_signals_at_most_once_per_step_whatever_its_length() {
        for total in [1u32, 7, 20, 150, 3_000, 72_000] {
            let mut steps = ProgressSteps::new(total);
            let signals = (1..=total).filter(|&done| steps.due(done)).count() as u32;
            assert!(signals <= PROGRESS_STEPS && signals >= PROGRESS_STEPS.min(total) / 2, "{total} frames: {signals} signals");
        }
        // Skipped frames (a burst) still trigger once, at the next step past them (steps of 10).
        let mut steps = ProgressSteps::new(100);
        assert!(!steps.due(4));
        assert!(steps.due(12));
        assert!(!steps.due(19));
        assert!(steps.due(20));
    }
}
