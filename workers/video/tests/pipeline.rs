//! The video pipeline end to end: a real Temporal dev server, a real S3 endpoint, the video
//! worker in process, and clips generated with FFmpeg's encoder (crates/samples).

use contracts::object::PrefixRef;
use contracts::settings::RetrySettings;
use contracts::video::{
    AssembleRequest, CancelVideo, ExtractRequest, FrameCountSource, FrameSettings, RotationSource, Sampling, SegmentRequest, TransitionKind,
    VideoCancelled, VideoOutcome, VideoPipeline, VideoProgressQuery, VideoRequest, VideoSegment, VideoStage,
};
use contracts::{ObjectRef, Queue, buckets};
use documents::video::{FrameManifest, VideoSummary};
use samples::video::{ClipSpec, Segment, write_audio_only, write_clip, write_truncated_copy};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use temporalio_client::{
    Client, WorkflowFetchHistoryOptions, WorkflowGetResultOptions, WorkflowHandle, WorkflowQueryOptions, WorkflowSignalOptions, WorkflowStartOptions,
};
use temporalio_common::protos::temporal::api::history::v1::History;
use temporalio_sdk::testing::{ActivityEnvironment, TestActivityInfoOptions};
use testkit::{TestStack, replay, unique_id};
use video::activities::{ExtractCheckpoint, VideoPipelineActivities};
use video::scenes::FrameScore;
use video::segments::{SceneScores, SegmentCheckpoint};
use video::workflows::VideoPipelineWorkflow;

async fn start() -> anyhow::Result<(TestStack, fleet::RunningWorker)> {
    let stack = TestStack::start().await?;
    let worker = stack.worker(Queue::Video, video::register)?;
    Ok((stack, worker))
}

async fn upload(stack: &TestStack, path: &Path, key: &str) -> anyhow::Result<ObjectRef> {
    let object = ObjectRef::new(buckets::INPUTS, key)?;
    stack.storage.put_file(&object, path, "video/mp4").await?;
    Ok(object)
}

/// Default settings, with retries and heartbeats short enough for a test.
fn request(video: &ObjectRef, prefix: &str, sampling: Sampling) -> anyhow::Result<VideoRequest> {
    let output: PrefixRef = format!("s3://{}/{prefix}", buckets::OUTPUTS).parse()?;
    let mut request = VideoRequest::new(video.clone(), output, sampling);
    let fast = RetrySettings { initial_interval_ms: 200, maximum_interval_ms: 1_000, ..RetrySettings::default() };
    let activities = &mut request.activities;
    for settings in [&mut activities.analyze, &mut activities.extract, &mut activities.assemble, &mut activities.process, &mut activities.cleanup] {
        settings.retry = fast.clone();
    }
    request.activities.extract.heartbeat_ms = 2_000;
    request.activities.process.heartbeat_ms = 2_000;
    Ok(request)
}

async fn start_run(stack: &TestStack, request: VideoRequest, id: &str) -> anyhow::Result<WorkflowHandle<Client, VideoPipeline>> {
    let options = WorkflowStartOptions::new(stack.queue(Queue::Video), unique_id(id)).build();
    Ok(stack.client.start_workflow(VideoPipeline, request, options).await?)
}

async fn run(stack: &TestStack, request: VideoRequest, id: &str) -> anyhow::Result<VideoOutcome> {
    let handle = start_run(stack, request, id).await?;
    Ok(handle.get_result(WorkflowGetResultOptions::default()).await?)
}

/// Replays the run's own history against today's workflow code (signals, the cancel path and
/// the select between an activity and the cancel condition included) and records it as the
/// fixture `tests/replay.rs` replays when `RECORD_HISTORIES` asks (see `testkit::replay`).
async fn check_replay(handle: &WorkflowHandle<Client, VideoPipeline>, fixture: &str) -> anyhow::Result<()> {
    let events = handle.fetch_history(WorkflowFetchHistoryOptions::default()).into_events().await?;
    replay::replay(History { events }, |options| {
        options.register_workflow::<VideoPipelineWorkflow>()?;
        Ok(())
    })
    .await?;
    replay::record(handle.client(), &handle.info().workflow_id, handle.run_id(), &replay::histories_dir("video").join(fixture)).await?;
    Ok(())
}

async fn image_at(stack: &TestStack, object: &ObjectRef) -> anyhow::Result<image::RgbImage> {
    Ok(image::load_from_memory(&stack.storage.get(object).await?)?.to_rgb8())
}

#[tokio::test(flavor = "multi_thread")]
async fn analyzes_extracts_and_processes_generated_clips() -> anyhow::Result<()> {
    let (stack, _worker) = start().await?;
    let dir = tempfile::tempdir()?;
    let spec = ClipSpec::three_scenes();
    let clip_path = dir.path().join("three-scenes.mp4");
    write_clip(&clip_path, &spec)?;
    let clip = upload(&stack, &clip_path, "video/three-scenes.mp4").await?;

    // Every second of a 6 s clip: 6 frames.
    let handle = start_run(&stack, request(&clip, "video/three-scenes", Sampling::EverySeconds(1.0))?, "video").await?;
    let outcome = handle.get_result(WorkflowGetResultOptions::default()).await?;
    let meta = &outcome.metadata;
    assert_eq!((meta.width, meta.height), (spec.width, spec.height));
    assert_eq!(meta.codec, "mpeg4");
    assert!(meta.container.contains("mp4"), "{}", meta.container);
    assert!((meta.fps - f64::from(spec.fps)).abs() < 1e-9, "{}", meta.fps);
    assert!((meta.duration_seconds - spec.duration_seconds()).abs() < 0.05, "{}", meta.duration_seconds);
    assert_eq!(meta.frame_count, spec.frame_count());
    assert_eq!(meta.frame_count_source, FrameCountSource::Container);
    assert_eq!((meta.rotation_degrees, meta.rotation_source), (0, None));
    assert_eq!(meta.size_bytes, std::fs::metadata(&clip_path)?.len());

    let extraction = &outcome.extraction;
    assert_eq!((extraction.frames, extraction.frames_expected, extraction.segments), (6, 6, 1));
    assert_eq!((extraction.resumed_from, extraction.extracted_this_attempt, extraction.attempt), (0, 6, 1));
    let manifest: FrameManifest = serde_json::from_slice(&stack.storage.get(&extraction.manifest).await?)?;
    let times: Vec<f64> = manifest.frames.iter().map(|f| f.timestamp_seconds).collect();
    assert_eq!(times, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(manifest.frames[3].object.key(), "video/three-scenes/frames/frame-000003.jpg");
    let listed = stack.storage.list(buckets::OUTPUTS, "video/three-scenes/frames/").await?;
    assert_eq!(listed.len(), 6, "{listed:?}");
    let frame = image_at(&stack, &manifest.frames[2].object).await?;
    assert_eq!(frame.dimensions(), (320, 240));
    let [r, g, b] = frame.get_pixel(2, 2).0;
    assert!(g > 150 && r < 90 && b < 90, "frame at 2 s shows the green scene, got {r},{g},{b}");

    // Cuts at 2 s and 4 s, each found within one sampling interval.
    let cuts: Vec<(f64, f64)> = outcome.scene_cuts.iter().map(|c| (c.previous_seconds, c.at_seconds)).collect();
    assert_eq!(cuts.len(), 2, "{:?}", outcome.scene_cuts);
    for ((previous, at), truth) in cuts.into_iter().zip(spec.cut_times()) {
        assert!(previous < truth && truth <= at && at - truth <= 1.0, "cut at {truth} s reported in ({previous}, {at}]");
    }

    // Contact sheet: 5 columns of 160 px thumbnails (120 px high for 4:3), 6 frames -> 2 rows.
    let sheet = &outcome.contact_sheet;
    assert_eq!((sheet.columns, sheet.rows, sheet.thumb_width, sheet.thumb_height), (5, 2, 160, 120));
    assert_eq!(image_at(&stack, &sheet.object).await?.dimensions(), (5 * 160, 2 * 120));
    assert_eq!(sheet.frame_indices, vec![0, 1, 2, 3, 4, 5]);

    let summary: VideoSummary = serde_json::from_slice(&stack.storage.get(&outcome.summary).await?)?;
    assert_eq!(summary.metadata, outcome.metadata);
    assert_eq!(summary.frames.len(), 6);
    assert_eq!(summary.scene_cuts, outcome.scene_cuts);
    assert!(summary.frames.iter().all(|f| f.histogram.len() == 32 && (f.histogram.iter().sum::<f64>() - 1.0).abs() < 1e-9));
    assert_eq!(summary.frames[0].scene_score, None);
    assert!(summary.frames[1].scene_score.is_some_and(|s| s < 0.2), "same scene scores low: {:?}", summary.frames[1].scene_score);
    assert_eq!(image_at(&stack, &summary.frames[4].thumbnail).await?.dimensions(), (160, 120));

    let progress = handle.query(VideoProgressQuery, (), WorkflowQueryOptions::default()).await?;
    assert_eq!(progress.stage, VideoStage::Completed);
    assert_eq!((progress.frames_extracted, progress.frames_processed, progress.percent), (6, 6, 100.0));
    check_replay(&handle, "video-completed.json").await?;

    // Four frames spread evenly; a contact sheet of 4 frames in 5 columns is one row.
    let evenly = run(&stack, request(&clip, "video/three-scenes-4", Sampling::Evenly(4))?, "video-evenly").await?;
    assert_eq!(evenly.extraction.frames, 4);
    assert_eq!(stack.storage.list(buckets::OUTPUTS, "video/three-scenes-4/frames/").await?.len(), 4);
    assert_eq!(image_at(&stack, &evenly.contact_sheet.object).await?.dimensions(), (800, 120));

    // A portrait clip (display matrix: 90 degrees clockwise) gives upright 240x320 frames.
    let rotated_path = dir.path().join("portrait.mp4");
    write_clip(&rotated_path, &spec.clone().rotated(90))?;
    let rotated = upload(&stack, &rotated_path, "video/portrait.mp4").await?;
    let portrait = run(&stack, request(&rotated, "video/portrait", Sampling::EveryNthFrame(50))?, "video-portrait").await?;
    assert_eq!(portrait.metadata.rotation_degrees, 90);
    assert_eq!(portrait.metadata.rotation_source, Some(RotationSource::DisplayMatrix));
    assert_eq!((portrait.metadata.display_width, portrait.metadata.display_height), (240, 320));
    assert_eq!((portrait.extraction.frames, portrait.extraction.width, portrait.extraction.height), (3, 240, 320));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_inputs_fail_without_retrying_and_name_the_object() -> anyhow::Result<()> {
    let (stack, _worker) = start().await?;
    let dir = tempfile::tempdir()?;
    let mut spec = ClipSpec::three_scenes();
    let whole = dir.path().join("whole.mp4");
    write_clip(&whole, &spec)?;
    let truncated = dir.path().join("truncated.mp4");
    write_truncated_copy(&whole, &truncated, 0.5)?;
    spec.faststart = false;
    let index_last = dir.path().join("index-last.mp4");
    write_clip(&index_last, &spec)?;
    let truncated_index_last = dir.path().join("truncated-index-last.mp4");
    write_truncated_copy(&index_last, &truncated_index_last, 0.6)?;
    let audio = dir.path().join("tone.m4a");
    write_audio_only(&audio, 2.0)?;
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"")?;

    let cases = [
        (&truncated, "video/bad/truncated.mp4", "truncated or damaged video"),
        (&truncated_index_last, "video/bad/truncated-index-last.mp4", "truncated, damaged or not a video"),
        (&audio, "video/bad/tone.m4a", "no video stream"),
        (&empty, "video/bad/empty.mp4", "empty"),
    ];
    for (path, key, reason) in cases {
        let object = upload(&stack, path, key).await?;
        let prefix = format!("video/bad-out/{}", key.rsplit('/').next().unwrap_or(key));
        let handle = start_run(&stack, request(&object, &prefix, Sampling::EverySeconds(1.0))?, "video-bad").await?;
        let err = handle.get_result(WorkflowGetResultOptions::default()).await.expect_err("a broken input must fail");
        let text = format!("{err:?}");
        assert!(text.contains(&object.to_string()), "{key}: the failure must name the object: {text}");
        assert!(text.contains(reason), "{key}: expected {reason:?} in {text}");
        assert!(text.contains("InvalidInput"), "{key}: {text}");
        assert!(text.contains("NonRetryableFailure"), "{key}: must not be retried: {text}");
        assert!(stack.storage.list(buckets::OUTPUTS, &format!("{prefix}/")).await?.is_empty(), "{key}: no outputs");
        if key.ends_with("/truncated.mp4") {
            check_replay(&handle, "video-failed.json").await?;
        }
    }
    Ok(())
}

/// A sampling that needs more frames than a run may extract is refused at once, saying how many
/// it needs and which setting to change, instead of stopping silently at the cap.
#[tokio::test(flavor = "multi_thread")]
async fn a_sampling_beyond_the_frame_cap_is_refused_not_truncated() -> anyhow::Result<()> {
    let (stack, _worker) = start().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("every-frame.mp4");
    write_clip(&path, &ClipSpec::three_scenes())?;
    let clip = upload(&stack, &path, "video/every-frame.mp4").await?;
    let mut req = request(&clip, "video/every-frame", Sampling::EveryNthFrame(1))?;
    req.frames.max_frames = 100;
    let handle = start_run(&stack, req, "video-cap").await?;
    let err = handle.get_result(WorkflowGetResultOptions::default()).await.expect_err("150 frames cannot fit a cap of 100");
    let text = format!("{err:?}");
    for part in [
        clip.to_string().as_str(),
        "needs 150 frames",
        "more than the 100",
        "frames.max_frames",
        "--max-frames",
        "InvalidInput",
        "non_retryable: true",
    ] {
        assert!(text.contains(part), "{part:?} not in {text}");
    }
    let events = handle.fetch_history(WorkflowFetchHistoryOptions::default()).into_events().await?;
    assert_eq!(testkit::history::activities(&events).iter().map(|a| a.activity_type.as_str()).collect::<Vec<_>>(), ["AnalyzeVideo"]);
    assert!(stack.storage.list(buckets::OUTPUTS, "video/every-frame/").await?.is_empty(), "no frame is written");
    check_replay(&handle, "video-frame-cap-refused.json").await?;
    Ok(())
}

/// The resume path of `ExtractFrames`, driven through the SDK's `ActivityEnvironment` (no test
/// hook in the worker): a first attempt heartbeats its checkpoints; a second attempt handed the
/// checkpoint taken after 5 frames extracts only the other 7, and the manifest lists every
/// frame once, at the right time, with the same bytes a single attempt wrote.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_extraction_resumes_from_its_heartbeat() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("resume.mp4");
    write_clip(&path, &ClipSpec::three_scenes())?;
    let clip = upload(&stack, &path, "video/resume.mp4").await?;
    let scratch = fleet::kit::Scratch::open(dir.path().join("scratch"))?;
    let activities = || VideoPipelineActivities::new(stack.storage.clone(), scratch.clone());
    let info = |attempt| TestActivityInfoOptions::builder().attempt(attempt).heartbeat_timeout(Duration::from_secs(2)).build();

    let metadata = ActivityEnvironment::builder_with_default()
        .register_activities(activities())
        .build()
        .run(VideoPipelineActivities::analyze_video, clip.clone())
        .await?;
    let output: PrefixRef = format!("s3://{}/video/resume", buckets::OUTPUTS).parse()?;
    // 12 frames (every 0.5 s of a 6 s clip).
    let extract = ExtractRequest { metadata, sampling: Sampling::EverySeconds(0.5), frames: FrameSettings::default(), output };

    // Attempt 1, whole, keeping every checkpoint it heartbeats.
    let checkpoints = Arc::new(Mutex::new(Vec::<ExtractCheckpoint>::new()));
    let seen = checkpoints.clone();
    let first = ActivityEnvironment::builder_with_default()
        .info(info(1))
        .register_activities(activities())
        .on_heartbeat(move |details| {
            if let Ok(checkpoint) = details.downcast::<ExtractCheckpoint>() {
                seen.lock().unwrap().push(*checkpoint);
            }
        })
        .build()
        .run(VideoPipelineActivities::extract_frames, extract.clone())
        .await?;
    assert_eq!((first.frames, first.resumed_from, first.attempt), (12, 0, 1));
    let after_five = checkpoints.lock().unwrap().iter().find(|c| c.frames.len() == 5).cloned().expect("a checkpoint after 5 frames");
    let frame_keys: Vec<ObjectRef> = stack.storage.list(buckets::OUTPUTS, "video/resume/frames/").await?;
    assert_eq!(frame_keys.len(), 12);
    let mut written_once = Vec::new();
    for object in &frame_keys {
        written_once.push(stack.storage.get(object).await?);
    }
    // What attempt 1 wrote after its 5th frame is gone, as if it had died there.
    for object in &frame_keys[5..] {
        stack.storage.delete(object).await?;
    }

    // Attempt 2 from that checkpoint.
    let second = ActivityEnvironment::builder_with_default()
        .info(info(2))
        .register_activities(activities())
        .heartbeat_details(after_five)?
        .build()
        .run(VideoPipelineActivities::extract_frames, extract)
        .await?;
    assert_eq!(second.attempt, 2);
    assert_eq!(second.resumed_from, 5, "attempt 2 starts after the 5 frames of the checkpoint");
    assert_eq!(second.extracted_this_attempt, 7, "attempt 2 extracts only the remaining frames");
    assert_eq!(second.frames, 12);

    let manifest: FrameManifest = serde_json::from_slice(&stack.storage.get(&second.manifest).await?)?;
    let indices: Vec<u32> = manifest.frames.iter().map(|f| f.index).collect();
    assert_eq!(indices, (0..12).collect::<Vec<_>>());
    // The first frame at or after each half second (25 fps: 0, 0.52, 1.0, 1.52, ...): none lost
    // or repeated at the seam between the attempts.
    for (frame, k) in manifest.frames.iter().zip(0..) {
        let expected = (f64::from(k) * 0.5 * 25.0).ceil() / 25.0;
        assert!((frame.timestamp_seconds - expected).abs() < 1e-9, "frame {k}: {} s, expected {expected} s", frame.timestamp_seconds);
    }
    let frame_keys_again = stack.storage.list(buckets::OUTPUTS, "video/resume/frames/").await?;
    assert_eq!(frame_keys_again, frame_keys);
    for (object, bytes) in frame_keys.iter().zip(&written_once) {
        assert_eq!(&stack.storage.get(object).await?, bytes, "{object}: a resumed frame differs from the one-attempt frame");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_signal_stops_the_run_and_removes_partial_outputs() -> anyhow::Result<()> {
    let (stack, _worker) = start().await?;
    let dir = tempfile::tempdir()?;
    // 2 minutes at 25 fps, every frame extracted as PNG: several times longer than it takes a
    // cancel to get through (the next heartbeat, at most every 0.8 s here).
    let mut spec = ClipSpec::three_scenes();
    spec.segments = [[200, 40, 40], [40, 200, 40]].into_iter().map(|color| Segment { color, frames: 1_500 }).collect();
    let path = dir.path().join("long.mp4");
    write_clip(&path, &spec)?;
    let clip = upload(&stack, &path, "video/long.mp4").await?;
    let mut req = request(&clip, "video/long", Sampling::EveryNthFrame(1))?;
    req.frames.format = contracts::video::FrameFormat::Png;
    req.frames.max_frames = 5_000;
    req.activities.extract.heartbeat_ms = 1_000;
    let handle = start_run(&stack, req, "video-cancel").await?;

    // Wait until the extraction reports frames (a live progress signal), then cancel.
    let deadline = Instant::now() + Duration::from_secs(60);
    let seen = loop {
        let progress = handle.query(VideoProgressQuery, (), WorkflowQueryOptions::default()).await?;
        if progress.stage == VideoStage::Extracting && progress.frames_extracted > 0 {
            assert!(progress.percent >= 5.0 && progress.percent < 85.0, "{progress:?}");
            break progress.frames_extracted;
        }
        assert!(!progress.stage.is_final(), "the run ended before it could be cancelled: {progress:?}");
        assert!(Instant::now() < deadline, "no extraction progress within 60 s: {progress:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!stack.storage.list(buckets::OUTPUTS, "video/long/frames/").await?.is_empty());
    handle.signal(CancelVideo, "test asked to stop".to_owned(), WorkflowSignalOptions::default()).await?;

    let details = match handle.get_result(WorkflowGetResultOptions::default()).await {
        Err(temporalio_client::errors::WorkflowGetResultError::Cancelled { details }) => details.deserialize::<VideoCancelled>()?,
        other => anyhow::bail!("expected a cancelled run, got {other:?}"),
    };
    assert_eq!(details.stage, VideoStage::Extracting);
    assert_eq!(details.reason, "test asked to stop");
    assert!(details.removed_objects >= seen, "removed {} objects, {seen} frames were reported", details.removed_objects);
    assert!((details.removed_objects as usize) < spec.frame_count() as usize, "the extraction was stopped mid-way");
    assert!(stack.storage.list(buckets::OUTPUTS, "video/long/").await?.is_empty(), "partial outputs remain");
    let progress = handle.query(VideoProgressQuery, (), WorkflowQueryOptions::default()).await?;
    assert_eq!(progress.stage, VideoStage::Cancelled);
    check_replay(&handle, "video-cancelled.json").await?;
    Ok(())
}

/// A 30 s clip in three 10 s segments, whose scene cuts fall exactly on the segment boundaries:
/// the frames, the scene scores of every decoded frame and the cuts are those of one pass over
/// the whole clip, and the run's history holds a few events per segment, no progress signal.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_clip_is_extracted_in_parallel_segments() -> anyhow::Result<()> {
    let (stack, _worker) = start().await?;
    let dir = tempfile::tempdir()?;
    let mut spec = ClipSpec::three_scenes();
    spec.width = 160;
    spec.height = 120;
    spec.segments = [[220, 30, 30], [30, 200, 40], [30, 40, 210]].into_iter().map(|color| Segment { color, frames: 250 }).collect();
    let path = dir.path().join("thirty.mp4");
    write_clip(&path, &spec)?;
    let clip = upload(&stack, &path, "video/thirty.mp4").await?;
    let mut req = request(&clip, "video/thirty", Sampling::EverySeconds(1.0))?;
    req.frames.segment_seconds = 10.0;
    let handle = start_run(&stack, req, "video-segments").await?;
    let outcome = handle.get_result(WorkflowGetResultOptions::default()).await?;

    let extraction = &outcome.extraction;
    assert_eq!((extraction.segments, extraction.frames, extraction.frames_expected), (3, 30, 30));
    let manifest: FrameManifest = serde_json::from_slice(&stack.storage.get(&extraction.manifest).await?)?;
    assert_eq!(manifest.frames.iter().map(|f| f.index).collect::<Vec<_>>(), (0..30).collect::<Vec<_>>());
    assert_eq!(manifest.frames.iter().map(|f| f.timestamp_seconds).collect::<Vec<_>>(), (0..30).map(f64::from).collect::<Vec<_>>());
    assert_eq!(stack.storage.list(buckets::OUTPUTS, "video/thirty/frames/").await?.len(), 30);

    let scores_object = extraction.scene_scores.clone().expect("a segmented run writes scene scores");
    let scores: SceneScores = serde_json::from_slice(&stack.storage.get(&scores_object).await?)?;
    let one_pass = video::frames::score_video(&path)?;
    assert_eq!(scores.scores.len(), one_pass.len(), "every decoded frame scored once");
    // Times went through JSON, which may move them by an ulp; everything else is exact.
    let same = |a: &FrameScore, b: &FrameScore| (a.t - b.t).abs() < 1e-9 && FrameScore { t: b.t, ..*a } == *b;
    if let Some((ours, theirs)) = scores.scores.iter().zip(&one_pass).find(|(a, b)| !same(a, b)) {
        panic!("the segments' scores differ from one pass's: {ours:?} vs {theirs:?}");
    }

    let cuts: Vec<f64> = outcome.transitions.iter().filter(|t| t.kind == TransitionKind::Cut).map(|t| t.end_seconds).collect();
    assert_eq!(cuts.len(), 2, "{:?}", outcome.transitions);
    for (found, truth) in cuts.iter().zip(spec.cut_times()) {
        assert!((found - truth).abs() <= 1.0 / f64::from(spec.fps) + 1e-9, "cut at {truth} s found at {found} s");
    }
    assert_eq!(outcome.scene_cuts.iter().map(|c| c.at_seconds).collect::<Vec<_>>(), vec![10.0, 20.0]);
    let summary: VideoSummary = serde_json::from_slice(&stack.storage.get(&outcome.summary).await?)?;
    assert_eq!((summary.frames_expected, summary.frames_extracted), (30, 30));
    assert_eq!(summary.transitions, outcome.transitions);

    let events = handle.fetch_history(WorkflowFetchHistoryOptions::default()).into_events().await?;
    let activities = testkit::history::activities(&events);
    let types: Vec<&str> = activities.iter().map(|a| a.activity_type.as_str()).collect();
    assert_eq!(types, ["AnalyzeVideo", "ExtractSegment", "ExtractSegment", "ExtractSegment", "AssembleFrames", "ProcessFrames"]);
    let signals = events
        .iter()
        .filter(|e| e.event_type == temporalio_common::protos::temporal::api::enums::v1::EventType::WorkflowExecutionSignaled as i32)
        .count();
    // ProcessFrames alone may signal, at most 10 times.
    assert!(signals <= 10, "{signals} signals");
    assert!(events.len() <= 60 + 4 * signals, "{} events for 3 segments", events.len());
    // Its request resolved by the run's first step (`video-segmented.json` is a run from before).
    check_replay(&handle, "video-segmented-resolved.json").await?;
    Ok(())
}

/// The resume path of `ExtractSegment` (through the SDK's `ActivityEnvironment`): a second
/// attempt handed a checkpoint from the middle of the first carries on from its last piece,
/// and the assembled manifest and scene scores equal the one-attempt ones.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_segment_resumes_from_its_last_piece() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("segment.mp4");
    // 30 s: pieces of 10 s of video, so the first attempt checkpoints twice before its end.
    let mut spec = ClipSpec::three_scenes();
    (spec.width, spec.height) = (160, 120);
    spec.segments = [[220, 30, 30], [30, 200, 40], [30, 40, 210]].into_iter().map(|color| Segment { color, frames: 250 }).collect();
    write_clip(&path, &spec)?;
    let clip = upload(&stack, &path, "video/segment.mp4").await?;
    let scratch = fleet::kit::Scratch::open(dir.path().join("scratch"))?;
    let activities = || VideoPipelineActivities::new(stack.storage.clone(), scratch.clone());
    let info = |attempt| TestActivityInfoOptions::builder().attempt(attempt).heartbeat_timeout(Duration::from_secs(2)).build();
    let environment = || ActivityEnvironment::builder_with_default().register_activities(activities()).build();

    let metadata = environment().run(VideoPipelineActivities::analyze_video, clip.clone()).await?;
    let output: PrefixRef = format!("s3://{}/video/segment", buckets::OUTPUTS).parse()?;
    // Every 5th frame: 150, in three pieces of 50.
    let extract = ExtractRequest { metadata, sampling: Sampling::EveryNthFrame(5), frames: FrameSettings::default(), output };
    let segment =
        SegmentRequest { extract: extract.clone(), segment: VideoSegment { index: 0, first_target: 0, start_seconds: 0.0, end_seconds: None } };

    let checkpoints = Arc::new(Mutex::new(Vec::<SegmentCheckpoint>::new()));
    let seen = checkpoints.clone();
    let first = ActivityEnvironment::builder_with_default()
        .info(info(1))
        .register_activities(activities())
        .on_heartbeat(move |details| {
            if let Ok(checkpoint) = details.downcast::<SegmentCheckpoint>() {
                seen.lock().unwrap().push(*checkpoint);
            }
        })
        .build()
        .run(VideoPipelineActivities::extract_segment, segment.clone())
        .await?;
    assert_eq!((first.frames, first.resumed_from, first.attempt), (150, 0, 1));
    assert_eq!(first.pieces, 3, "{first:?}");
    let assemble = |segments| AssembleRequest { extract: extract.clone(), segments };
    let once = environment().run(VideoPipelineActivities::assemble_frames, assemble(vec![first.clone()])).await?;
    let manifest_once = stack.storage.get(&once.manifest).await?;
    let scores_once = stack.storage.get(once.scene_scores.as_ref().expect("scores")).await?;

    let pieces_once = pieces_of(&stack, "video/segment/segments/").await?;
    let middle = checkpoints.lock().unwrap().iter().copied().find(|c| c.frames > 0 && c.frames < 150).expect("a checkpoint mid-segment");
    // What attempt 1 wrote after that checkpoint is gone, as if it had died there.
    for object in stack.storage.list(buckets::OUTPUTS, "video/segment/").await? {
        let key = object.key();
        let late_frame = key.contains("/frames/frame-") && key[key.len() - 10..key.len() - 4].parse::<u32>()? >= middle.frames;
        let late_piece = key.contains("/piece-") && key[key.len() - 9..key.len() - 5].parse::<u32>()? >= middle.pieces;
        if late_frame || late_piece || key.ends_with("frames.json") || key.ends_with("scene-scores.json") {
            stack.storage.delete(&object).await?;
        }
    }
    let second = ActivityEnvironment::builder_with_default()
        .info(info(2))
        .register_activities(activities())
        .heartbeat_details(middle)?
        .build()
        .run(VideoPipelineActivities::extract_segment, segment)
        .await?;
    assert_eq!((second.resumed_from, second.extracted_this_attempt, second.frames, second.attempt), (middle.frames, 150 - middle.frames, 150, 2));
    let again = environment().run(VideoPipelineActivities::assemble_frames, assemble(vec![second])).await?;
    assert_eq!(stack.storage.get(&again.manifest).await?, manifest_once, "the manifest differs from the one-attempt manifest");
    assert_eq!(stack.storage.get(again.scene_scores.as_ref().expect("scores")).await?, scores_once, "the scene scores differ");
    // Pieces cover fixed stretches of the video: the second attempt rewrote the first one's
    // late pieces byte for byte, so a late write by a cut-off attempt changes nothing.
    assert_eq!(pieces_of(&stack, "video/segment/segments/").await?, pieces_once);
    Ok(())
}

/// Every object under `prefix` of the outputs bucket, with its bytes.
async fn pieces_of(stack: &TestStack, prefix: &str) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut pieces = Vec::new();
    for object in stack.storage.list(buckets::OUTPUTS, prefix).await? {
        pieces.push((object.key().to_owned(), stack.storage.get(&object).await?.to_vec()));
    }
    Ok(pieces)
}
