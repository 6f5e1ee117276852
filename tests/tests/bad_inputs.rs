//! Bad inputs across the pipelines, against the real worker binaries (child processes): every
//! case ends in a clear failure naming the input, raised once and never retried (read back from
//! the workflow histories), or, for configuration, in a start-up error naming the variable; the
//! good inputs beside them complete, and no worker process crashes.
//!
//! The per-pipeline tests already check several of these files one workflow at a time, in
//! process: `tests/tests/navad.rs` (truncated JPEG, 100000x100000 header, text, empty file
//! through `IngestImage`), `tests/tests/automation.rs` (a corrupt file in a batch, a prefix in
//! a missing bucket, an unsafe batch id), `workers/geolocalization/tests` (no georeferencing,
//! unknown EPSG code, missing object through `Geolocalize`), `workers/video/tests/pipeline.rs`
//! (truncated MP4s, audio-only, empty file), `workers/enhancement/tests` (missing source, a 400
//! refusal, a destination equal to the source) and the unit tests of `fleet::config` (bad
//! values name the variable). Here the same kinds of input go through whole batches on worker
//! processes, with new cases beside them (truncated PNG, missing bucket, an image too small
//! for its tile grid, a navad TIFF with one garbled tile (beside a good YCbCr JPEG one, which
//! GDAL decodes), a truncated GeoTIFF, a zero-frame video, a text file named `.mp4`, an
//! oversized prompt, a refused OpenAI key, unsafe keys in a workflow input, the starter's URI
//! parsing, the worker binaries' configuration), and what is checked is the fleet's promise:
//! one attempt, a non-retryable failure naming the input, the rest of the batch done.

use contracts::automation::{
    AutomationActivities, AutomationRequest, AutomationSettings, BatchSource, ImageInput, ImageKind, ImageLimits, ImageStatus,
};
use contracts::enhancement::{
    EnhanceBatch, EnhanceBatchRequest, EnhanceImage, EnhanceImageRequest, EnhanceOptions, Enhancer, MAX_PROMPT_CHARS, OpenAiParams,
};
use contracts::object::PrefixRef;
use contracts::video::{Sampling, VideoPipeline, VideoRequest};
use contracts::{ObjectRef, Queue, buckets};
use devstack::WorkerProcess;
use samples::video::{ClipSpec, Segment, write_audio_only, write_clip, write_truncated_copy};
use std::collections::BTreeMap;
use std::time::Duration;
use temporalio_client::{Client, WorkflowGetResultOptions, WorkflowStartOptions};
use testkit::history::{self, ActivityEnd};
use testkit::images_api::ImagesApi;
use testkit::{TestStack, unique_id};

// ---------------------------------------------------------------------------------------------
// Shared checks.

/// A worker process to start: its queue, its name (and log file), and settings of its own.
type WorkerSpec<'a> = (Queue, &'a str, Vec<(&'a str, &'a str)>);

/// Worker processes of one test, checked for crashes at the end.
struct Processes {
    running: BTreeMap<String, WorkerProcess>,
}

impl Processes {
    fn start(stack: &TestStack, workers: &[WorkerSpec<'_>]) -> anyhow::Result<Self> {
        let mut running = BTreeMap::new();
        for (queue, name, extra) in workers {
            running.insert(name.to_string(), stack.worker_process(*queue, name, extra)?);
        }
        Ok(Self { running })
    }

    /// Nothing crashed: every process still runs, and no log shows a panic.
    async fn assert_none_crashed(self, stack: &TestStack) {
        for (name, mut process) in self.running {
            let log = stack.worker_log(&name);
            assert!(process.try_exit_status().is_none(), "worker process {name} exited:\n{log}");
            assert!(!log.contains("panicked"), "worker process {name} panicked:\n{log}");
            process.stop(Duration::from_secs(10)).await;
        }
    }
}

/// Checks from `workflow_id`'s history that its `activity` ran exactly once and failed for good:
/// non-retryable, of `error_type`, its message naming `subject` and saying `reason`.
async fn assert_failed_once(client: &Client, workflow_id: &str, activity: &str, error_type: &str, subject: &str, reason: &str) -> anyhow::Result<()> {
    let events = history::events(client, workflow_id, None).await?;
    let records = history::activities(&events);
    let failed: Vec<_> = records.iter().filter(|a| a.activity_type == activity).collect();
    let [record] = failed.as_slice() else { anyhow::bail!("{workflow_id}: expected one {activity}, got {records:#?}") };
    assert_eq!(record.attempt, 1, "{workflow_id}: {activity} must not be retried: {record:?}");
    let ActivityEnd::Failed(failure) = &record.end else { anyhow::bail!("{workflow_id}: {activity} did not fail: {record:?}") };
    assert!(failure.non_retryable, "{workflow_id}: {activity} failed retryably: {failure:?}");
    assert_eq!(failure.error_type.as_deref(), Some(error_type), "{workflow_id}: {failure:?}");
    assert!(failure.message.contains(subject), "{workflow_id}: the message must name {subject}: {failure:?}");
    assert!(failure.message.contains(reason), "{workflow_id}: expected {reason:?} in {failure:?}");
    Ok(())
}

async fn put(stack: &TestStack, key: &str, bytes: Vec<u8>) -> anyhow::Result<ObjectRef> {
    let object = ObjectRef::new(buckets::INPUTS, key)?;
    stack.storage.put(&object, bytes, "application/octet-stream").await?;
    Ok(object)
}

/// A PNG cut off half-way (an interrupted upload).
fn truncated_png() -> anyhow::Result<Vec<u8>> {
    let mut png = samples::navad::encode_png(&samples::navad::sharp_scene(256, 192))?;
    png.truncate(png.len() / 2);
    Ok(png)
}

// ---------------------------------------------------------------------------------------------
// Image automation: one batch, good and bad images side by side.

/// Where a bad image of the automation batch fails.
enum Step {
    /// `ValidateImage`.
    Ingest,
    /// `SplitTiles` (valid image, unusable for the grid).
    Accuracy,
    /// `ComputeFootprint`.
    Geolocalize,
    /// `DetectImageKind` (kind left to detection).
    Detect,
}

#[tokio::test(flavor = "multi_thread")]
async fn an_automation_batch_reports_each_bad_image_and_completes_the_rest() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let processes = Processes::start(
        &stack,
        &[
            (Queue::Orchestrator, "orchestrator", vec![]),
            (Queue::Ingestion, "ingestion", vec![]),
            (Queue::AccuracyDispatcher, "accuracy-dispatcher", vec![]),
            (Queue::AccuracyProcessor, "accuracy-processor", vec![]),
            (Queue::Geolocalization, "geolocalization", vec![]),
        ],
    )?;
    let area = unique_id("bad-batch");
    let key = |name: &str| format!("{area}/{name}");
    let navad = Some(ImageKind::Navad);
    let satellite = Some(ImageKind::Satellite);

    // Navad TIFFs as GDAL writes them (`gdal_translate`, at test time): YCbCr JPEG in tiles.
    let tiffs = tempfile::tempdir()?;
    let source = samples::navad_tiff::write_source(tiffs.path(), &samples::navad::sharp_scene(512, 384))?;
    let ycbcr = std::fs::read(samples::navad_tiff::write_variant(&source, samples::navad_tiff::variant("ycbcr-jpeg-tiles"), tiffs.path())?)?;
    let good = [
        (put(&stack, &key("good-navad.jpg"), samples::navad::sharp_jpeg(512, 384)?).await?, navad),
        (put(&stack, &key("good-scene.tif"), samples::geotiff::geotiff_wgs84(128, 128, 5.0, 45.0, 0.001)).await?, None),
        (put(&stack, &key("good-ycbcr-jpeg.tif"), ycbcr.clone()).await?, navad),
    ];
    let mut truncated_tiff = samples::geotiff::geotiff_wgs84(256, 256, 5.0, 45.0, 0.001);
    truncated_tiff.truncate(truncated_tiff.len() / 3);
    // (object, kind given, where it fails, error type, reason in the message)
    let bad: Vec<(ObjectRef, Option<ImageKind>, Step, &str, &str)> = vec![
        (put(&stack, &key("empty.jpg"), Vec::new()).await?, navad, Step::Ingest, "InvalidInput", "the file is empty"),
        (
            put(&stack, &key("truncated.jpg"), samples::navad::truncated_jpeg(512, 384)?).await?,
            navad,
            Step::Ingest,
            "InvalidInput",
            "corrupt or truncated jpeg data",
        ),
        (put(&stack, &key("truncated.png"), truncated_png()?).await?, navad, Step::Ingest, "InvalidInput", "corrupt or truncated png data"),
        // 64x64 tiles on 512x384: tile 9 is the second of the second row.
        (
            put(&stack, &key("garbled-tile.tif"), samples::navad_tiff::with_garbled_block(&ycbcr, 9)?).await?,
            navad,
            Step::Ingest,
            "InvalidInput",
            "corrupt or truncated tiff data: cannot decode tile 9 (columns 64..128, rows 64..128), compression YCbCr JPEG",
        ),
        (
            put(&stack, &key("bomb.png"), samples::navad::huge_header_png(100_000, 100_000)?).await?,
            navad,
            Step::Ingest,
            "InvalidInput",
            "header claims 100000x100000 pixels",
        ),
        (put(&stack, &key("notes.jpg"), samples::navad::text_file()).await?, navad, Step::Ingest, "InvalidInput", "not a JPEG, PNG or TIFF image"),
        // A text file named .tif, kind left open: detected navad (no georeferencing), refused.
        (put(&stack, &key("notes.tif"), samples::navad::text_file()).await?, None, Step::Ingest, "InvalidInput", "not a JPEG, PNG or TIFF image"),
        (ObjectRef::new(buckets::INPUTS, key("never-uploaded.jpg"))?, navad, Step::Ingest, "NotFound", "object not found"),
        // The embedded endpoint (s3s-fs) answers a read in a missing bucket with NoSuchKey, so
        // the reason reads "object not found" (AWS and MinIO answer NoSuchBucket, which the
        // storage layer reports as `bucket "..." does not exist`); either way NotFound.
        (ObjectRef::new("no-such-bucket", key("flight.jpg"))?, navad, Step::Ingest, "NotFound", "not found"),
        (ObjectRef::new(buckets::INPUTS, key("never-uploaded.tif"))?, None, Step::Detect, "NotFound", "object not found"),
        (
            put(&stack, &key("tiny.png"), samples::navad::encode_png(&samples::navad::sharp_scene(8, 8))?).await?,
            navad,
            Step::Accuracy,
            "InvalidInput",
            "too small for a 4x4 grid",
        ),
        (
            put(&stack, &key("no-georef.tif"), samples::geotiff::plain_tiff(64, 64)).await?,
            satellite,
            Step::Geolocalize,
            "InvalidInput",
            "no georeferencing",
        ),
        (
            put(&stack, &key("unknown-crs.tif"), samples::geotiff::geotiff_unknown_epsg(64, 64)).await?,
            satellite,
            Step::Geolocalize,
            "InvalidInput",
            "an EPSG code GDAL does not know",
        ),
        (put(&stack, &key("truncated.tif"), truncated_tiff).await?, satellite, Step::Geolocalize, "InvalidInput", "unreadable raster header"),
    ];

    let mut images: Vec<ImageInput> = good.iter().map(|(object, kind)| ImageInput { object: object.clone(), kind: *kind }).collect();
    images.extend(bad.iter().map(|(object, kind, ..)| ImageInput { object: object.clone(), kind: *kind }));
    let batch_id = unique_id("bad");
    let request = AutomationRequest {
        batch_id: batch_id.clone(),
        source: BatchSource::Objects(images.clone()),
        output_bucket: buckets::OUTPUTS.to_owned(),
        settings: AutomationSettings {
            max_concurrent_images: 4,
            activities: AutomationActivities::default(),
            limits: ImageLimits::default(),
            ..AutomationSettings::default()
        },
        carried: None,
    };
    let summary = stack.run_automation(request).await?;

    // The good images went all the way.
    assert_eq!(summary.totals.images, images.len() as u64);
    assert_eq!(summary.totals.passed, good.len() as u64, "{summary:#?}");
    assert_eq!(summary.totals.errors, bad.len() as u64, "{summary:#?}");
    for (object, _) in &good {
        let outcome = summary.images.iter().find(|o| &o.object == object).expect("an outcome per image");
        assert_eq!(outcome.status, ImageStatus::Passed, "{outcome:#?}");
        for output in &outcome.outputs {
            assert!(stack.storage.size(output).await?.is_some(), "{output} missing");
        }
    }
    // Each bad one: an error outcome naming it, raised once, non-retryably, by the step at fault.
    for (index, image) in images.iter().enumerate().skip(good.len()) {
        let (object, _, step, error_type, reason) = &bad[index - good.len()];
        let outcome = &summary.images[index];
        assert_eq!(&outcome.object, object);
        assert_eq!(outcome.status, ImageStatus::Error, "{outcome:#?}");
        let error = outcome.error.as_deref().unwrap_or_default();
        assert!(error.contains(&object.to_string()) && error.contains(reason) && error.contains(error_type), "{object}: {error}");
        let pipeline = orchestrator::bookkeeping::image_workflow_id(&batch_id, index as u64, &image.object);
        // Every step is an activity of the image's `ImagePipeline`.
        let activity = match step {
            Step::Ingest => "ValidateImage",
            Step::Accuracy => "SplitTiles",
            Step::Geolocalize => "ComputeFootprint",
            Step::Detect => "DetectImageKind",
        };
        assert_failed_once(&stack.client, &pipeline, activity, error_type, &object.to_string(), reason).await?;
        // Nothing is written for an image that failed before its analysis; the one that failed
        // tiling keeps the metadata JSON its valid ingestion wrote.
        match step {
            Step::Accuracy => assert_eq!(outcome.outputs, vec![object.with_suffix(".metadata.json")?]),
            _ => assert!(outcome.outputs.is_empty(), "{outcome:#?}"),
        }
    }
    processes.assert_none_crashed(&stack).await;
    println!("RESILIENCE bad-inputs automation: {} bad images refused once each, non-retryably; {} good images passed", bad.len(), good.len());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Enhancement: a batch with bad images, and single runs with bad parameters and a bad key.

/// The key the enhancement worker is given, and the one the stand-in API accepts.
const ACCEPTED_KEY: &str = "sk-test-accepted-0001";
/// The key of a second enhancement worker, which the API refuses.
const REFUSED_KEY: &str = "sk-test-refused-0002";
/// The queue of that second worker (`TEMPORAL_TASK_QUEUE` names the enhancement queue).
const REFUSED_KEY_QUEUE: &str = "enhancement-refused-key";

#[tokio::test(flavor = "multi_thread")]
async fn enhancement_refuses_bad_images_parameters_and_keys() -> anyhow::Result<()> {
    let api = ImagesApi::accepting_only(ACCEPTED_KEY).await?;
    let scratch = tempfile::tempdir()?;
    let scratch_dir = scratch.path().display().to_string();
    let stack = TestStack::start_in("default", &[("OPENAI_BASE_URL", &api.base_url), ("ENHANCEMENT_SCRATCH_DIR", &scratch_dir)]).await?;
    let processes = Processes::start(
        &stack,
        &[
            (Queue::Enhancement, "enhancement", vec![("OPENAI_API_KEY", ACCEPTED_KEY)]),
            (Queue::Enhancement, "enhancement-refused-key", vec![("OPENAI_API_KEY", REFUSED_KEY), ("TEMPORAL_TASK_QUEUE", REFUSED_KEY_QUEUE)]),
        ],
    )?;
    let area = unique_id("bad-enhance");

    // A batch over a prefix: two good images, four bad ones.
    let cases: [(&str, Vec<u8>, Option<&str>); 6] = [
        ("a-good.png", samples::enhancement::low_contrast_png(96, 64)?, None),
        ("b-good.jpg", samples::enhancement::low_contrast_jpeg(96, 64)?, None),
        ("c-empty.png", Vec::new(), Some("empty file (0 bytes)")),
        ("d-truncated.png", truncated_png()?, Some("cannot decode the image")),
        ("e-bomb.png", samples::navad::huge_header_png(100_000, 100_000)?, Some("100000x100000 pixels is more than the")),
        ("f-notes.jpg", samples::navad::text_file(), Some("not an image the enhancers read")),
    ];
    for (name, bytes, _) in &cases {
        put(&stack, &format!("{area}/in/{name}"), bytes.clone()).await?;
    }
    let batch_workflow = unique_id("enhance-bad-batch");
    let request = EnhanceBatchRequest {
        source: format!("s3://{}/{area}/in/", buckets::INPUTS).parse::<PrefixRef>()?,
        destination: format!("s3://{}/{area}/out/", buckets::OUTPUTS).parse::<PrefixRef>()?,
        options: EnhanceOptions::default(),
        max_concurrent: 3,
        images_per_run: 100,
        carried: None,
    };
    let summary = stack
        .client
        .start_workflow(EnhanceBatch, request, WorkflowStartOptions::new(stack.queue(Queue::Enhancement), batch_workflow.clone()).build())
        .await?
        .get_result(WorkflowGetResultOptions::default())
        .await?;
    assert_eq!((summary.totals.images, summary.totals.enhanced, summary.totals.failed), (6, 2, 4), "{summary:#?}");
    for (index, (name, _, reason)) in cases.iter().enumerate() {
        let source = ObjectRef::new(buckets::INPUTS, format!("{area}/in/{name}"))?;
        let output = ObjectRef::new(buckets::OUTPUTS, format!("{area}/out/{name}"))?;
        match reason {
            None => assert!(stack.storage.size(&output).await?.is_some(), "{output} missing"),
            Some(reason) => {
                let failure = summary.failures.iter().find(|f| f.source == source).unwrap_or_else(|| panic!("no failure for {source}: {summary:#?}"));
                assert_eq!(failure.error_type.as_deref(), Some("InvalidInput"), "{failure:?}");
                assert!(failure.message.contains(&source.to_string()) && failure.message.contains(reason), "{failure:?}");
                // Children are numbered in listing (key) order.
                assert_failed_once(&stack.client, &format!("{batch_workflow}/{index}"), "EnhanceObject", "InvalidInput", &source.to_string(), reason)
                    .await?;
                assert_eq!(stack.storage.size(&output).await?, None, "nothing uploaded for {source}");
            }
        }
    }

    // Single runs, each failing its own way.
    let good = ObjectRef::new(buckets::INPUTS, format!("{area}/in/a-good.png"))?;
    let openai = |prompt: String, size: &str| Enhancer::Openai(OpenAiParams { model: "gpt-image-2".into(), prompt, size: size.into() });
    let single = |source: &ObjectRef, destination: &str, enhancer: Enhancer| -> anyhow::Result<EnhanceImageRequest> {
        Ok(EnhanceImageRequest {
            source: source.clone(),
            destination: ObjectRef::new(buckets::OUTPUTS, format!("{area}/single/{destination}"))?,
            options: EnhanceOptions { enhancer, ..EnhanceOptions::default() },
        })
    };
    let oversized = "enhance ".repeat(MAX_PROMPT_CHARS / 8 + 1);
    // Parameters no image can make right are refused with the request, naming the field.
    const REFUSED_AS_REQUEST: &str = "EnhanceImage input: field options.enhancer";
    let single_cases: Vec<(&str, EnhanceImageRequest, &str, &str, String)> = vec![
        // (queue, request, error type, reason, subject named)
        (
            "enhancement",
            single(&good, "long-prompt.png", openai(oversized.clone(), "256x256"))?,
            "InvalidInput",
            "more than the 32000 the API accepts",
            REFUSED_AS_REQUEST.to_owned(),
        ),
        (
            "enhancement",
            single(&good, "bad-size.png", openai("enhance".into(), "huge"))?,
            "InvalidInput",
            "expected WIDTHxHEIGHT",
            REFUSED_AS_REQUEST.to_owned(),
        ),
        (
            REFUSED_KEY_QUEUE,
            single(&good, "refused-key.png", openai("enhance".into(), "256x256"))?,
            "Rejected",
            "OpenAI refused the credentials (HTTP 401)",
            good.to_string(),
        ),
        (
            "enhancement",
            single(&good, "result.gif", Enhancer::default())?,
            "InvalidInput",
            "the extension names no format",
            format!("s3://{}/{area}/single/result.gif", buckets::OUTPUTS),
        ),
        (
            "enhancement",
            single(&ObjectRef::new("no-such-bucket", "photo.png")?, "from-missing-bucket.png", Enhancer::default())?,
            "NotFound",
            "not found",
            "s3://no-such-bucket/photo.png".to_owned(),
        ),
    ];
    for (queue, request, error_type, reason, subject) in &single_cases {
        let workflow_id = unique_id("enhance-bad");
        let err = stack
            .client
            .start_workflow(EnhanceImage, request.clone(), WorkflowStartOptions::new(*queue, workflow_id.clone()).build())
            .await?
            .get_result(WorkflowGetResultOptions::default())
            .await
            .expect_err("a bad request must fail");
        let text = format!("{err:?}");
        assert!(text.contains(subject) && text.contains(reason), "{workflow_id}: {text}");
        assert!(!text.contains(REFUSED_KEY) && !text.contains(ACCEPTED_KEY), "a key reached an error: {text}");
        if subject == REFUSED_AS_REQUEST {
            // Checked with the request, in the run's first step: no activity ran.
            assert!(text.contains(error_type) && text.contains("non_retryable: true"), "{workflow_id}: {text}");
            assert!(history::activities(&history::events(&stack.client, &workflow_id, None).await?).is_empty(), "{workflow_id}");
        } else {
            assert_failed_once(&stack.client, &workflow_id, "EnhanceObject", error_type, subject, reason).await?;
        }
        assert_eq!(stack.storage.size(&request.destination).await?, None, "nothing uploaded for {workflow_id}");
    }
    // The oversized prompt and the bad size never reached the API; the refused key reached it
    // once (a 401 is not retried), with the worker's own key.
    let seen = api.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].authorization, format!("Bearer {REFUSED_KEY}"));
    processes.assert_none_crashed(&stack).await;
    let remaining: Vec<_> = std::fs::read_dir(scratch.path())?.collect();
    assert!(remaining.is_empty(), "temporary files left behind: {remaining:?}");
    println!(
        "RESILIENCE bad-inputs enhancement: {} bad images and {} bad requests refused once each, non-retryably; 2 good images enhanced",
        cases.iter().filter(|c| c.2.is_some()).count(),
        single_cases.len()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Video: broken files beside a good clip.

#[tokio::test(flavor = "multi_thread")]
async fn video_refuses_broken_videos_and_finishes_the_good_one() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let processes = Processes::start(&stack, &[(Queue::Video, "video", vec![])])?;
    let dir = tempfile::tempdir()?;
    let area = unique_id("bad-video");
    let spec = ClipSpec::three_scenes();
    let whole = dir.path().join("good.mp4");
    write_clip(&whole, &spec)?;
    let truncated = dir.path().join("truncated.mp4");
    write_truncated_copy(&whole, &truncated, 0.5)?;
    let audio = dir.path().join("tone.m4a");
    write_audio_only(&audio, 2.0)?;
    // A valid MP4 whose video track holds no frame at all.
    let zero_frames = dir.path().join("zero-frames.mp4");
    write_clip(&zero_frames, &ClipSpec { segments: vec![Segment { color: [0, 0, 0], frames: 0 }], ..ClipSpec::three_scenes() })?;
    let upload = |name: &str, bytes: Vec<u8>| {
        let key = format!("{area}/{name}");
        let stack = &stack;
        async move { put(stack, &key, bytes).await }
    };

    let good = upload("good.mp4", std::fs::read(&whole)?).await?;
    // (object, error type, reason)
    let bad: Vec<(ObjectRef, &str, &str)> = vec![
        (upload("truncated.mp4", std::fs::read(&truncated)?).await?, "InvalidInput", "truncated or damaged video"),
        (upload("tone.m4a", std::fs::read(&audio)?).await?, "InvalidInput", "no video stream"),
        (upload("zero-frames.mp4", std::fs::read(&zero_frames)?).await?, "InvalidInput", "no video stream"),
        (upload("empty.mp4", Vec::new()).await?, "InvalidInput", "the file is empty"),
        (upload("notes.mp4", samples::navad::text_file()).await?, "InvalidInput", "not a readable video file"),
        (ObjectRef::new(buckets::INPUTS, format!("{area}/never-uploaded.mp4"))?, "NotFound", "object not found"),
    ];
    let request = |video: &ObjectRef| -> anyhow::Result<VideoRequest> {
        let output: PrefixRef = format!("s3://{}/{}/out", buckets::OUTPUTS, video.key()).parse()?;
        Ok(VideoRequest::new(video.clone(), output, Sampling::EverySeconds(1.0)))
    };
    let start = |request: VideoRequest| {
        let client = stack.client.clone();
        let queue = stack.queue(Queue::Video);
        async move {
            let workflow_id = unique_id("video-bad");
            let handle = client.start_workflow(VideoPipeline, request, WorkflowStartOptions::new(queue, workflow_id.clone()).build()).await?;
            anyhow::Ok((workflow_id, handle))
        }
    };

    // All at once: the bad files must not hold up or break the good one.
    let (_, good_run) = start(request(&good)?).await?;
    let mut bad_runs = Vec::new();
    for (object, error_type, reason) in &bad {
        bad_runs.push((object, *error_type, *reason, start(request(object)?).await?));
    }
    // A request that cannot be right whatever the file: refused by the workflow before any work.
    let mut never = request(&good)?;
    never.sampling = Sampling::EverySeconds(0.0);
    let (never_id, never_run) = start(never).await?;

    let outcome = good_run.get_result(WorkflowGetResultOptions::default()).await?;
    assert_eq!(outcome.extraction.frames, 6, "{outcome:?}");
    assert!(stack.storage.size(&outcome.summary).await?.is_some());
    for (object, error_type, reason, (workflow_id, handle)) in bad_runs {
        let err = handle.get_result(WorkflowGetResultOptions::default()).await.expect_err("a broken video must fail");
        let text = format!("{err:?}");
        assert!(text.contains(&object.to_string()) && text.contains(reason), "{object}: {text}");
        assert_failed_once(&stack.client, &workflow_id, "AnalyzeVideo", error_type, &object.to_string(), reason).await?;
        let written = stack.storage.list(buckets::OUTPUTS, &format!("{}/out/", object.key())).await?;
        assert!(written.is_empty(), "{object}: outputs written for a broken video: {written:?}");
    }
    let err = never_run.get_result(WorkflowGetResultOptions::default()).await.expect_err("an impossible request must fail");
    let text = format!("{err:?}");
    assert!(text.contains("VideoPipeline input: field sampling: sampling interval 0 s") && text.contains("InvalidInput"), "{text}");
    assert!(text.contains("non_retryable: true"), "{text}");
    assert!(history::activities(&history::events(&stack.client, &never_id, None).await?).is_empty(), "no activity ran for it");

    processes.assert_none_crashed(&stack).await;
    println!(
        "RESILIENCE bad-inputs video: {} broken videos and 1 impossible request refused once each, non-retryably; 1 good clip processed",
        bad.len()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Configuration: a worker binary with a bad setting stops at once, naming the variable.

/// Runs a worker binary with the stack's settings plus `overrides` and returns its exit status
/// and output. A binary still running after a minute is a hang, and fails the test.
async fn run_binary(stack: &TestStack, binary: &str, overrides: &[(&str, &str)]) -> anyhow::Result<(std::process::ExitStatus, String)> {
    let mut command = tokio::process::Command::new(devstack::workers::binary_dir().join(binary));
    command.envs(stack.vars.iter()).envs(overrides.iter().copied()).current_dir(stack.dir.path()).kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .map_err(|_| anyhow::anyhow!("{binary} with {overrides:?} was still running after 60 s"))??;
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Ok((output.status, text))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_with_a_bad_setting_stops_at_start_naming_the_variable() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let nobody_listens = format!("127.0.0.1:{}", devstack::ports::free_port()?);
    let file = stack.dir.path().join("a-file");
    std::fs::write(&file, b"not a directory")?;
    let under_a_file = file.join("scratch").display().to_string();
    // (binary, overrides, variable, what the message says)
    type ConfigCase<'a> = (String, Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<ConfigCase<'_>> = vec![
        (Queue::Ingestion.worker_binary(), vec![("TEMPORAL_ADDRESS", "localhost")], "TEMPORAL_ADDRESS", "must be host:port"),
        (Queue::Orchestrator.worker_binary(), vec![("TEMPORAL_ADDRESS", "http://[::1")], "TEMPORAL_ADDRESS", "is not a URL"),
        (
            Queue::Geolocalization.worker_binary(),
            vec![("TEMPORAL_ADDRESS", nobody_listens.as_str()), ("TEMPORAL_CONNECT_TIMEOUT_SECS", "1")],
            "TEMPORAL_ADDRESS",
            "could not reach Temporal",
        ),
        (Queue::Video.worker_binary(), vec![("S3_FORCE_PATH_STYLE", "maybe")], "S3_FORCE_PATH_STYLE", "is not a boolean"),
        (Queue::AccuracyDispatcher.worker_binary(), vec![("S3_ENDPOINT", "ftp://storage.example")], "S3_ENDPOINT", "is not an http(s) URL"),
        (Queue::Orchestrator.worker_binary(), vec![("TEMPORAL_NAMESPACE", "two words")], "TEMPORAL_NAMESPACE", "is not a namespace name"),
        (Queue::Ingestion.worker_binary(), vec![("LOG_FORMAT", "xml")], "LOG_FORMAT", "is not 'text' or 'json'"),
        (
            Queue::AccuracyProcessor.worker_binary(),
            vec![("ACCURACY_PROCESSOR_MAX_CONCURRENT_ACTIVITIES", "-2")],
            "ACCURACY_PROCESSOR_MAX_CONCURRENT_ACTIVITIES",
            "\"-2\"",
        ),
        (Queue::Enhancement.worker_binary(), vec![("OPENAI_BASE_URL", "not a url")], "OPENAI_BASE_URL", "\"not a url\""),
        (Queue::Enhancement.worker_binary(), vec![("ENHANCEMENT_SCRATCH_DIR", under_a_file.as_str())], "ENHANCEMENT_SCRATCH_DIR", "cannot create"),
    ];
    for (binary, overrides, variable, reason) in &cases {
        let (status, output) = run_binary(&stack, binary, overrides).await?;
        assert!(!status.success(), "{binary} with {overrides:?} must exit with an error: {output}");
        assert_eq!(status.code(), Some(1), "{binary} with {overrides:?} exits cleanly, not by a signal or a panic: {output}");
        assert!(
            output.contains(variable) && output.contains(reason),
            "{binary} with {overrides:?}: expected {variable} and {reason:?} in:\n{output}"
        );
        assert!(output.lines().any(|l| l.starts_with(binary.as_str())), "the message names the worker: {output}");
        assert!(!output.contains("panicked"), "{output}");
    }
    println!("RESILIENCE bad-inputs configuration: {} bad settings stopped their worker at start, naming the variable", cases.len());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Object references: malformed URIs and unsafe keys never become work.

contracts::workflow_contract!(
    /// `ChecksumObject` with its input as raw JSON, to send what the typed contract cannot
    /// express, as any Temporal client can.
    UncheckedChecksumObject = "ChecksumObject", serde_json::Value => serde_json::Value
);

#[tokio::test(flavor = "multi_thread")]
async fn malformed_uris_and_unsafe_keys_are_refused_before_any_work() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let processes = Processes::start(&stack, &[(Queue::Ingestion, "ingestion", vec![])])?;

    // The starter parses every object URI before it starts anything.
    let starter_cases = [
        (["video", "s3://"], "malformed S3 URI \"s3://\""),
        (["video", "s3:///clip.mp4"], "malformed S3 URI \"s3:///clip.mp4\""),
        (["checksum", "s3://Bad_Bucket/notes.bin"], "invalid bucket name \"Bad_Bucket\""),
        (["automation", "s3://fleet-inputs/../etc/passwd"], "'.' or '..' path segment"),
        (["enhance", "s3://fleet-inputs//etc/passwd"], "absolute path"),
    ];
    for (args, reason) in &starter_cases {
        let mut command = tokio::process::Command::new(devstack::workers::binary_dir().join("starter"));
        command.args(args).envs(stack.vars.iter()).current_dir(stack.dir.path()).kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(60), command.output()).await??;
        let text = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "starter {args:?}: {text}");
        assert!(text.contains(&format!("input {:?}", args[1])) && text.contains(reason), "starter {args:?}: {text}");
    }
    let started = history::executions(&stack.client, "").await?;
    assert!(started.is_empty(), "no workflow was started for a malformed input: {started:?}");

    // The same rules for any client: a workflow input naming an unsafe key (sent around the
    // typed contract) fails the run on its first workflow task, non-retryably, naming the field;
    // no workflow task is retried and no activity runs.
    for (key, reason) in [("../../etc/passwd", "'.' or '..' path segment"), ("/etc/passwd", "absolute path")] {
        let input = serde_json::json!({"object": {"bucket": buckets::INPUTS, "key": key}});
        let workflow_id = unique_id("unsafe-key");
        let handle = stack
            .client
            .start_workflow(UncheckedChecksumObject, input, WorkflowStartOptions::new(stack.queue(Queue::Ingestion), workflow_id.clone()).build())
            .await?;
        let err = tokio::time::timeout(Duration::from_secs(60), handle.get_result(WorkflowGetResultOptions::default()))
            .await?
            .expect_err("an unsafe key must fail the run");
        let text = format!("{err:?}");
        assert!(text.contains("ChecksumObject input: field object: invalid object key") && text.contains(reason), "{key}: {text}");
        assert!(text.contains("InvalidInput") && text.contains("non_retryable: true"), "{key}: {text}");
        let events = history::events(&stack.client, &workflow_id, None).await?;
        assert!(history::workflow_task_failures(&events).is_empty(), "{key}: no workflow task failed: {events:#?}");
        assert!(history::activities(&events).is_empty(), "{key}: no activity may run for it");
    }
    processes.assert_none_crashed(&stack).await;
    println!(
        "RESILIENCE bad-inputs references: {} malformed URIs refused by the starter, 2 unsafe keys sent around the starter failed their runs at once",
        starter_cases.len()
    );
    Ok(())
}
