//! The enhancement pipeline end to end: a real Temporal dev server, a real S3 endpoint, the
//! enhancement worker in process, and, for the OpenAI path, the images edit API that
//! `testkit::images_api` serves over HTTP (it parses the multipart request the worker sends
//! and answers like the real API: base64 images, or error bodies with OpenAI's status codes).

use contracts::enhancement::{
    BatchProgress, EnhanceBatch, EnhanceBatchProgress, EnhanceBatchRequest, EnhanceImage, EnhanceImageRequest, EnhanceOptions, EnhancementActivities,
    Enhancer, LocalParams, OpenAiParams, TargetSize, VerifyPolicy,
};
use contracts::object::PrefixRef;
use contracts::settings::ActivitySettings;
use contracts::{ObjectRef, Queue, buckets};
use fleet::RunningWorker;
use image::DynamicImage;
use std::path::Path;
use std::time::Duration;
use temporalio_client::{Client, WorkflowCancelOptions, WorkflowGetResultOptions, WorkflowHandle, WorkflowQueryOptions, WorkflowStartOptions};
use testkit::history::{self, ActivityEnd, ActivityRecord};
use testkit::images_api::{ImagesApi, Reply};
use testkit::{TestStack, replay, unique_id};

/// The key the worker is given; it must reach the API's Authorization header and nothing else.
const TEST_KEY: &str = "sk-test-MARKER-4242";

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A stack, an enhancement worker, and the directory its temporary files go under.
struct Harness {
    stack: TestStack,
    scratch: tempfile::TempDir,
    _worker: RunningWorker,
}

async fn harness(api: Option<&ImagesApi>) -> anyhow::Result<Harness> {
    let scratch = tempfile::tempdir()?;
    let scratch_path = scratch.path().display().to_string();
    let mut extra = vec![("ENHANCEMENT_SCRATCH_DIR", scratch_path.as_str()), ("OPENAI_API_KEY", TEST_KEY)];
    if let Some(api) = api {
        extra.push(("OPENAI_BASE_URL", api.base_url.as_str()));
    }
    let stack = TestStack::start_in("default", &extra).await?;
    let worker = stack.worker(Queue::Enhancement, enhancement::register)?;
    Ok(Harness { stack, scratch, _worker: worker })
}

impl Harness {
    async fn upload(&self, key: &str, bytes: Vec<u8>) -> anyhow::Result<ObjectRef> {
        let object = ObjectRef::new(buckets::INPUTS, key)?;
        self.stack.storage.put(&object, bytes, "application/octet-stream").await?;
        Ok(object)
    }

    async fn start(
        &self,
        request: EnhanceImageRequest,
    ) -> anyhow::Result<temporalio_client::WorkflowHandle<temporalio_client::Client, EnhanceImage>> {
        let options = WorkflowStartOptions::new(self.stack.queue(Queue::Enhancement), unique_id("enhance")).build();
        Ok(self.stack.client.start_workflow(EnhanceImage, request, options).await?)
    }

    /// Names left under the temporary root.
    fn scratch_entries(&self) -> Vec<String> {
        entries(self.scratch.path())
    }

    /// Waits (with a deadline) for the temporary root to be empty, and says what is left if not.
    async fn assert_scratch_empty(&self, after: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !self.scratch_entries().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(self.scratch_entries().is_empty(), "temporary files left after {after}: {:?}", self.scratch_entries());
    }
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).map(|d| d.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

fn request(source: &ObjectRef, destination_key: &str, enhancer: Enhancer) -> anyhow::Result<EnhanceImageRequest> {
    let mut activities = EnhancementActivities::default();
    // Quick retries so the tests that retry stay short.
    for settings in [&mut activities.enhance, &mut activities.verify, &mut activities.withdraw] {
        settings.retry.initial_interval_ms = 200;
        settings.retry.maximum_interval_ms = 1_000;
    }
    Ok(EnhanceImageRequest {
        source: source.clone(),
        destination: ObjectRef::new(buckets::OUTPUTS, destination_key)?,
        options: EnhanceOptions { enhancer, activities, ..EnhanceOptions::default() },
    })
}

/// Spread between the 1st and 99th percentile of the luminance, computed here independently of
/// the worker's own measure.
fn luminance_spread(image: &DynamicImage) -> u32 {
    let mut values: Vec<u8> = image.to_luma8().into_raw();
    values.sort_unstable();
    let at = |pct: f64| values[((values.len() - 1) as f64 * pct).round() as usize] as u32;
    at(0.99) - at(0.01)
}

fn openai(prompt: &str, size: &str) -> Enhancer {
    Enhancer::Openai(OpenAiParams { model: "gpt-image-2".into(), prompt: prompt.into(), size: size.into() })
}

/// The activities of the enhancement run behind `handle`.
async fn run_activities(stack: &TestStack, handle: &WorkflowHandle<Client, EnhanceImage>) -> anyhow::Result<Vec<ActivityRecord>> {
    Ok(history::activities(&history::events(&stack.client, &handle.info().workflow_id, handle.info().run_id.as_deref()).await?))
}

/// `activity_type` ended as `end` says in `activities`.
fn ended(activities: &[ActivityRecord], activity_type: &str, end: fn(&ActivityEnd) -> bool) -> bool {
    activities.iter().any(|a| a.activity_type == activity_type && end(&a.end))
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[tokio::test(flavor = "multi_thread")]
async fn local_enhancer_widens_a_low_contrast_image_and_resizes_it() -> anyhow::Result<()> {
    let h = harness(None).await?;
    let input = samples::enhancement::low_contrast_png(320, 240)?;
    let source = h.upload("enhance/low-contrast.png", input.clone()).await?;
    let mut req = request(&source, "enhanced/low-contrast.png", Enhancer::Local(LocalParams::default()))?;
    req.options.size = TargetSize { width: Some(640), height: Some(480) };

    let result = h.start(req.clone()).await?.get_result(WorkflowGetResultOptions::default()).await?;

    assert_eq!(
        result.message,
        "Successfully processed image: s3://fleet-inputs/enhance/low-contrast.png -> s3://fleet-outputs/enhanced/low-contrast.png"
    );
    let written = h.stack.storage.get(&req.destination).await?;
    assert_ne!(written.as_ref(), input.as_slice(), "the output differs from the input");
    let before = image::load_from_memory(&input)?;
    let after = image::load_from_memory(&written)?;
    assert_eq!((after.width(), after.height()), (640, 480), "the configured size");
    let (spread_before, spread_after) = (luminance_spread(&before), luminance_spread(&after));
    assert!(spread_before < 60, "the sample is low-contrast: {spread_before}");
    assert!(spread_after >= spread_before + 120, "histogram widened: {spread_before} -> {spread_after}");
    assert_eq!(result.enhanced.output_size.width, 640);
    assert_eq!(result.verification.bytes, written.len() as u64);
    assert_eq!(result.enhanced.enhancer, "local");
    h.assert_scratch_empty("a success").await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_edit_goes_through_the_images_api() -> anyhow::Result<()> {
    let api = ImagesApi::start(vec![]).await?;
    let h = harness(Some(&api)).await?;
    let input = samples::enhancement::low_contrast_png(300, 200)?;
    let source = h.upload("enhance/for-openai.png", input.clone()).await?;
    let req = request(&source, "enhanced/for-openai.jpg", openai("Make this aerial photo crisp", "512x512"))?;

    let result = h.start(req.clone()).await?.get_result(WorkflowGetResultOptions::default()).await?;

    let seen = api.seen();
    assert_eq!(seen.len(), 1, "one request");
    let sent = &seen[0];
    assert_eq!(sent.path, "/v1/images/edits");
    assert_eq!(sent.authorization, format!("Bearer {TEST_KEY}"));
    assert_eq!(sent.fields.get("model").map(String::as_str), Some("gpt-image-2"));
    assert_eq!(sent.fields.get("prompt").map(String::as_str), Some("Make this aerial photo crisp"));
    assert_eq!(sent.fields.get("size").map(String::as_str), Some("512x512"));
    assert_eq!(sent.image_content_type.as_deref(), Some("image/png"));
    assert_eq!(sent.image_file_name.as_deref(), Some("image.png"));
    let uploaded = image::load_from_memory_with_format(sent.image.as_deref().expect("an image part"), image::ImageFormat::Png)?;
    assert_eq!(uploaded.width(), uploaded.height(), "a square PNG");
    assert!(sent.image.as_ref().unwrap().len() < 4 * 1024 * 1024);

    // The answer (the canvas inverted) was cropped back to the source's frame and size.
    let written = image::load_from_memory(&h.stack.storage.get(&req.destination).await?)?.to_rgb8();
    assert_eq!((written.width(), written.height()), (300, 200));
    let source_pixels = image::load_from_memory(&input)?.to_rgb8();
    let mean_error: f64 = written
        .pixels()
        .zip(source_pixels.pixels())
        .map(|(out, src)| (0..3).map(|c| (out.0[c] as f64 - (255.0 - src.0[c] as f64)).abs()).sum::<f64>() / 3.0)
        .sum::<f64>()
        / (300.0 * 200.0);
    assert!(mean_error < 12.0, "the output is the API's answer in the source's frame (mean error {mean_error:.1})");
    assert!(result.enhanced.enhancer.starts_with("openai:gpt-image-2"));
    h.assert_scratch_empty("an OpenAI success").await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_bad_request_fails_at_once_with_the_api_message() -> anyhow::Result<()> {
    let refusal = "Your request was rejected as a result of our safety system.";
    let api = ImagesApi::start(vec![Reply::Error(
        400,
        serde_json::json!({"error": {"message": refusal, "type": "image_generation_user_error", "param": null, "code": "moderation_blocked"}}),
    )])
    .await?;
    let h = harness(Some(&api)).await?;
    let source = h.upload("enhance/refused.png", samples::enhancement::low_contrast_png(64, 64)?).await?;
    let req = request(&source, "enhanced/refused.png", openai("anything", "1024x1024"))?;

    let err = h.start(req.clone()).await?.get_result(WorkflowGetResultOptions::default()).await.expect_err("must fail");

    let text = format!("{err:?}");
    assert!(text.contains(refusal), "the API's message: {text}");
    assert!(text.contains("Rejected"), "{text}");
    assert!(text.contains("NonRetryableFailure"), "not retried: {text}");
    assert!(text.contains("s3://fleet-inputs/enhance/refused.png"), "names the input: {text}");
    assert!(!text.contains(TEST_KEY), "the key never appears in an error");
    assert_eq!(api.seen().len(), 1, "a 400 is not retried");
    assert_eq!(h.stack.storage.size(&req.destination).await?, None, "nothing uploaded");
    h.assert_scratch_empty("a failure").await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_rate_limit_is_retried_by_temporal() -> anyhow::Result<()> {
    let api = ImagesApi::start(vec![Reply::Error(
        429,
        serde_json::json!({"error": {"message": "Rate limit reached for images per minute", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
    )])
    .await?;
    let h = harness(Some(&api)).await?;
    let source = h.upload("enhance/throttled.png", samples::enhancement::low_contrast_png(96, 64)?).await?;
    let req = request(&source, "enhanced/throttled.png", openai("enhance", "256x256"))?;

    let handle = h.start(req.clone()).await?;
    let result = handle.get_result(WorkflowGetResultOptions::default()).await?;

    assert_eq!(api.seen().len(), 2, "the 429, then the request that succeeded");
    assert!(result.message.starts_with("Successfully processed image:"));
    let activities = run_activities(&h.stack, &handle).await?;
    let enhance = activities.iter().find(|a| a.activity_type == "EnhanceObject").expect("EnhanceObject scheduled");
    assert_eq!((enhance.attempt, &enhance.end), (2, &ActivityEnd::Completed), "the success was Temporal's second attempt: {activities:?}");
    assert!(h.stack.storage.size(&req.destination).await?.is_some());
    h.assert_scratch_empty("a retried success").await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_source_fails_without_retrying_and_names_the_key() -> anyhow::Result<()> {
    let h = harness(None).await?;
    let source = ObjectRef::new(buckets::INPUTS, "enhance/does-not-exist.png")?;
    let req = request(&source, "enhanced/does-not-exist.png", Enhancer::default())?;

    let handle = h.start(req).await?;
    let err = handle.get_result(WorkflowGetResultOptions::default()).await.expect_err("must fail");

    let text = format!("{err:?}");
    assert!(text.contains("s3://fleet-inputs/enhance/does-not-exist.png"), "{text}");
    assert!(text.contains("NotFound"), "{text}");
    assert!(text.contains("NonRetryableFailure"), "{text}");
    let activities = run_activities(&h.stack, &handle).await?;
    assert!(!activities.iter().any(|a| a.activity_type == "WithdrawEnhanced"), "nothing was uploaded, nothing to withdraw");
    h.assert_scratch_empty("a failed download").await;

    // Writing over the source is refused up front: a withdrawn result would delete the original.
    let original = h.upload("enhance/original.png", samples::enhancement::low_contrast_png(32, 32)?).await?;
    let mut in_place = request(&original, "unused.png", Enhancer::default())?;
    in_place.destination = original.clone();
    let err = h.start(in_place).await?.get_result(WorkflowGetResultOptions::default()).await.expect_err("must fail");
    let text = format!("{err:?}");
    assert!(text.contains("is the source itself") && text.contains("InvalidInput"), "{text}");
    assert!(h.stack.storage.size(&original).await?.is_some(), "the original is untouched");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_verification_withdraws_the_upload() -> anyhow::Result<()> {
    let h = harness(None).await?;
    // A flat image has no contrast to recover: the upload happens, then the quality gate fails.
    let source = h.upload("enhance/flat.png", samples::enhancement::flat_png(64, 48)?).await?;
    let mut req = request(&source, "enhanced/flat.png", Enhancer::default())?;
    req.options.verify = VerifyPolicy { min_contrast_spread: 10 };

    let handle = h.start(req.clone()).await?;
    let err = handle.get_result(WorkflowGetResultOptions::default()).await.expect_err("must fail");

    let text = format!("{err:?}");
    assert!(text.contains("contrast spread 0 is below the required 10"), "{text}");
    assert!(text.contains("s3://fleet-outputs/enhanced/flat.png"), "{text}");
    assert_eq!(h.stack.storage.size(&req.destination).await?, None, "the upload was withdrawn");
    let activities = run_activities(&h.stack, &handle).await?;
    let completed = |end: &ActivityEnd| *end == ActivityEnd::Completed;
    assert!(ended(&activities, "EnhanceObject", completed), "{activities:?}");
    assert!(ended(&activities, "VerifyEnhanced", |end| matches!(end, ActivityEnd::Failed(_))), "{activities:?}");
    assert!(ended(&activities, "WithdrawEnhanced", completed), "the compensation is in the history: {activities:?}");
    h.assert_scratch_empty("a withdrawn run").await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn cancellation_removes_temporary_files() -> anyhow::Result<()> {
    let api = ImagesApi::start(vec![Reply::Stall]).await?;
    let h = harness(Some(&api)).await?;
    let source = h.upload("enhance/slow.png", samples::enhancement::low_contrast_png(128, 96)?).await?;
    let mut req = request(&source, "enhanced/slow.png", openai("enhance", "256x256"))?;
    req.options.activities.enhance = ActivitySettings::with_timeout(Duration::from_secs(120)).heartbeat(Duration::from_secs(2));

    let handle = h.start(req.clone()).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while api.seen().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the worker never called the API");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(h.scratch_entries().len(), 1, "the activity's temporary directory exists while it works");
    handle.cancel(WorkflowCancelOptions::default()).await?;
    let err = handle.get_result(WorkflowGetResultOptions::default()).await.expect_err("cancelled");

    assert!(format!("{err:?}").to_lowercase().contains("cancel"), "{err:?}");
    h.assert_scratch_empty("a cancellation").await;
    assert_eq!(h.stack.storage.size(&req.destination).await?, None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_enhances_every_image_under_a_prefix() -> anyhow::Result<()> {
    let h = harness(None).await?;
    h.upload("batch/a.png", samples::enhancement::low_contrast_png(96, 64)?).await?;
    h.upload("batch/b.jpg", samples::enhancement::low_contrast_jpeg(96, 64)?).await?;
    h.upload("batch/broken.jpg", samples::navad::truncated_jpeg(96, 64)?).await?;
    h.upload("batch/nested/c.png", samples::enhancement::low_contrast_png(80, 80)?).await?;
    h.upload("batch/notes.txt", b"not an image".to_vec()).await?;
    let mut activities = EnhancementActivities::default();
    activities.enhance.retry.initial_interval_ms = 200;
    let request = EnhanceBatchRequest {
        source: "s3://fleet-inputs/batch/".parse::<PrefixRef>()?,
        destination: "s3://fleet-outputs/batch-enhanced/".parse::<PrefixRef>()?,
        options: EnhanceOptions { size: TargetSize { width: Some(128), height: None }, activities, ..EnhanceOptions::default() },
        max_concurrent: 2,
        images_per_run: 2,
        carried: None,
    };
    let workflow_id = unique_id("enhance-batch");
    let handle = h
        .stack
        .client
        .start_workflow(EnhanceBatch, request, WorkflowStartOptions::new(h.stack.queue(Queue::Enhancement), workflow_id.clone()).build())
        .await?;
    let summary = handle.get_result(WorkflowGetResultOptions::default()).await?;

    assert_eq!(summary.totals.images, 4, "{summary:?}");
    assert_eq!(summary.totals.enhanced, 3);
    assert_eq!(summary.totals.failed, 1);
    assert_eq!(summary.totals.skipped, 1, "notes.txt");
    assert!(summary.runs >= 2, "continued as new: {} runs", summary.runs);
    assert_eq!(summary.failures.len(), 1);
    let failure = &summary.failures[0];
    assert_eq!(failure.source.key(), "batch/broken.jpg");
    assert_eq!(failure.error_type.as_deref(), Some("InvalidInput"));
    assert!(failure.message.contains("s3://fleet-inputs/batch/broken.jpg"), "{}", failure.message);
    for key in ["batch-enhanced/a.png", "batch-enhanced/b.jpg", "batch-enhanced/nested/c.png"] {
        let written = h.stack.storage.get(&ObjectRef::new(buckets::OUTPUTS, key)?).await?;
        assert_eq!(image::load_from_memory(&written)?.width(), 128, "{key}");
    }
    assert_eq!(h.stack.storage.size(&ObjectRef::new(buckets::OUTPUTS, "batch-enhanced/broken.jpg")?).await?, None);

    let latest = h.stack.client.get_workflow_handle::<EnhanceBatch>(workflow_id);
    let progress: BatchProgress = latest.query(EnhanceBatchProgress, (), WorkflowQueryOptions::default()).await?;
    assert_eq!(progress.totals, summary.totals, "the progress query reports the same totals");
    h.assert_scratch_empty("a batch").await;
    Ok(())
}

/// The runs behind the fixtures `tests/replay.rs` replays: a withdrawn `EnhanceImage` (the
/// saga), a batch of two runs, and two of its children (enhanced, failed). Recorded when
/// `RECORD_HISTORIES` asks (see `testkit::replay`), e.g. re-recorded after an intended change
/// to the workflows' commands by `RECORD_HISTORIES=all cargo test -p enhancement --test enhancement`.
#[tokio::test(flavor = "multi_thread")]
async fn replay_fixture_runs() -> anyhow::Result<()> {
    let h = harness(None).await?;
    let flat = h.upload("replay/flat.png", samples::enhancement::flat_png(32, 32)?).await?;
    let mut saga = request(&flat, "replay-out/flat.png", Enhancer::default())?;
    saga.options.verify = VerifyPolicy { min_contrast_spread: 10 };
    let withdrawn = h.start(saga).await?;
    withdrawn.get_result(WorkflowGetResultOptions::default()).await.expect_err("the quality gate fails");

    h.upload("replay/batch/a.png", samples::enhancement::low_contrast_png(48, 32)?).await?;
    h.upload("replay/batch/b.png", samples::enhancement::low_contrast_png(48, 32)?).await?;
    h.upload("replay/batch/c-broken.jpg", samples::navad::truncated_jpeg(64, 48)?).await?;
    let batch = EnhanceBatchRequest {
        source: "s3://fleet-inputs/replay/batch/".parse()?,
        destination: "s3://fleet-outputs/replay-out/batch/".parse()?,
        options: EnhanceOptions::default(),
        max_concurrent: 2,
        images_per_run: 2,
        carried: None,
    };
    let batch_id = "replay-fixture-batch";
    let first =
        h.stack.client.start_workflow(EnhanceBatch, batch, WorkflowStartOptions::new(h.stack.queue(Queue::Enhancement), batch_id).build()).await?;
    let summary = first.get_result(WorkflowGetResultOptions::default()).await?;
    assert_eq!((summary.runs, summary.totals.enhanced, summary.totals.failed), (2, 2, 1), "{summary:?}");

    let dir = replay::histories_dir("enhancement");
    let (image_0, image_2) = (format!("{batch_id}/0"), format!("{batch_id}/2"));
    let runs = [
        ("enhance-image-withdrawn.json", withdrawn.info().workflow_id.as_str(), withdrawn.run_id()),
        // Requests resolved in the runs' first step (`enhance-batch-run-*.json`,
        // `enhance-image-enhanced.json`: from before).
        ("enhance-batch-resolved-run-1.json", batch_id, first.run_id()),
        ("enhance-batch-resolved-run-2.json", batch_id, None),
        ("enhance-image-resolved-enhanced.json", image_0.as_str(), None),
        ("enhance-image-failed.json", image_2.as_str(), None),
    ];
    for (file, workflow_id, run_id) in runs {
        replay::record(&h.stack.client, workflow_id, run_id, &dir.join(file)).await?;
    }
    Ok(())
}
