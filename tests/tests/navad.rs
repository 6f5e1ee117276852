//! The navad path end to end on a real dev server and a real S3 endpoint: ingestion
//! (`IngestImage`) and accuracy analysis (`AnalyzeAccuracy`), with the ingestion, dispatcher and
//! TWO processor workers in process on prefixed queues (`navad-...`, so the dispatcher's routing
//! of tiles to the prefixed processor queue is exercised).
//! - a sharp image: metadata JSON beside it (size, SHA-256, EXIF), accuracy passes, the tiles
//!   were measured by both processors;
//! - its blurred copy: still a valid image, but accuracy fails for blur;
//! - corrupt, huge-header, text and empty files: ingestion fails non-retryably naming the object.

use accuracy_dispatcher::report::AccuracyReport;
use contracts::automation::{
    AccuracyOutcome, AccuracyRequest, AccuracyThresholds, AnalyzeAccuracy, AutomationActivities, ImageLimits, ImageMetadata, IngestImage,
    IngestRequest,
};
use contracts::settings::ActivitySettings;
use contracts::{ObjectRef, Queue, buckets};
use fleet::RunningWorker;
use samples::navad;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use testkit::{TestStack, unique_id};

const QUEUE_PREFIX: &str = "navad-";
const GRID: (u32, u32) = (4, 4);

/// The stack and the navad workers: ingestion, dispatcher and two processors.
async fn navad_stack() -> anyhow::Result<(TestStack, Vec<RunningWorker>)> {
    let stack = TestStack::start_in("default", &[("TASK_QUEUE_PREFIX", QUEUE_PREFIX)]).await?;
    let workers = vec![
        stack.worker(Queue::Ingestion, ingestion::register)?,
        stack.worker(Queue::AccuracyDispatcher, accuracy_dispatcher::register)?,
        stack.worker(Queue::AccuracyProcessor, accuracy_processor::register)?,
        stack.worker(Queue::AccuracyProcessor, accuracy_processor::register)?,
    ];
    Ok((stack, workers))
}

async fn put(stack: &TestStack, key: &str, bytes: &[u8], content_type: &str) -> anyhow::Result<ObjectRef> {
    let object = ObjectRef::new(buckets::INPUTS, key)?;
    stack.storage.put(&object, bytes.to_vec(), content_type).await?;
    Ok(object)
}

/// Runs `IngestImage`; a failed workflow comes back as the client error's full debug text
/// (failure types and retry state included), so tests can check what kind of failure it was.
async fn try_ingest(stack: &TestStack, image: &ObjectRef) -> anyhow::Result<Result<ImageMetadata, String>> {
    let request = IngestRequest { image: image.clone(), limits: ImageLimits::default(), activity: ActivitySettings::default() };
    let handle = stack
        .client
        .start_workflow(IngestImage, request, WorkflowStartOptions::new(stack.queue(Queue::Ingestion), unique_id("ingest")).build())
        .await?;
    Ok(handle.get_result(WorkflowGetResultOptions::default()).await.map_err(|e| format!("{e:?}")))
}

async fn ingest(stack: &TestStack, image: &ObjectRef) -> anyhow::Result<ImageMetadata> {
    try_ingest(stack, image).await?.map_err(|e| anyhow::anyhow!("ingesting {image} failed: {e}"))
}

async fn analyze(stack: &TestStack, image: &ObjectRef, output_prefix: &str) -> anyhow::Result<AccuracyOutcome> {
    let request = AccuracyRequest {
        image: image.clone(),
        output_bucket: buckets::OUTPUTS.to_owned(),
        output_prefix: output_prefix.to_owned(),
        tile_columns: GRID.0,
        tile_rows: GRID.1,
        thresholds: AccuracyThresholds::default(),
        activities: AutomationActivities::default(),
    };
    let handle = stack
        .client
        .start_workflow(AnalyzeAccuracy, request, WorkflowStartOptions::new(stack.queue(Queue::AccuracyDispatcher), unique_id("accuracy")).build())
        .await?;
    Ok(handle.get_result(WorkflowGetResultOptions::default()).await?)
}

async fn read_report(stack: &TestStack, outcome: &AccuracyOutcome) -> anyhow::Result<AccuracyReport> {
    Ok(serde_json::from_slice(&stack.storage.get(&outcome.report).await?)?)
}

#[tokio::test(flavor = "multi_thread")]
async fn sharp_image_is_ingested_and_passes_accuracy_on_two_processors() -> anyhow::Result<()> {
    let (stack, _workers) = navad_stack().await?;
    assert_eq!(stack.queue(Queue::AccuracyProcessor), "navad-accuracy-processor");
    let bytes = navad::sharp_jpeg(1024, 768)?;
    let image = put(&stack, "flights/sharp/IMG_0001.jpg", &bytes, "image/jpeg").await?;

    // Ingestion: the result and the JSON beside the image agree with the bytes we uploaded.
    let metadata = ingest(&stack, &image).await?;
    assert_eq!((metadata.format.as_str(), metadata.width, metadata.height), ("jpeg", 1024, 768));
    assert_eq!(metadata.size_bytes, bytes.len() as u64);
    assert_eq!(metadata.sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(metadata.metadata_object.key(), "flights/sharp/IMG_0001.jpg.metadata.json");
    assert_eq!(metadata.exif.camera_model.as_deref(), Some(navad::SAMPLE_EXIF.camera_model));
    assert_eq!(metadata.exif.capture_time.as_deref(), Some(navad::SAMPLE_EXIF.capture_time));
    assert!((metadata.exif.gps_longitude.unwrap() - navad::SAMPLE_EXIF.longitude).abs() < 1e-5);
    let written: ImageMetadata = serde_json::from_slice(&stack.storage.get(&metadata.metadata_object).await?)?;
    assert_eq!(written, metadata);

    // Accuracy.
    let outcome = analyze(&stack, &image, "navad/sharp/IMG_0001").await?;
    assert!(outcome.passed, "sharp image must pass: {:?}", outcome.failures);
    assert!(outcome.failures.is_empty());
    assert!(outcome.overall_score >= AccuracyThresholds::default().min_overall_score, "{}", outcome.overall_score);
    assert_eq!(outcome.report.bucket(), buckets::OUTPUTS);
    assert_eq!(outcome.report.key(), "navad/sharp/IMG_0001/accuracy-report.json");

    let report = read_report(&stack, &outcome).await?;
    assert_eq!((report.columns, report.rows), GRID);
    assert_eq!(report.grid.len(), GRID.1 as usize);
    assert!(report.grid.iter().all(|row| row.len() == GRID.0 as usize));
    assert_eq!(report.score.overall, outcome.overall_score);
    assert_eq!(report.processors, outcome.processors);
    let mut covered = 0u64;
    for (row, tiles) in report.grid.iter().enumerate() {
        for (column, tile) in tiles.iter().enumerate() {
            assert_eq!((tile.tile.row as usize, tile.tile.column as usize), (row, column));
            assert_eq!(tile.tile.object.key(), format!("navad/sharp/IMG_0001/tiles/r{row}c{column}.png"));
            assert!(stack.storage.size(&tile.tile.object).await?.is_some_and(|s| s > 0), "tile object {}", tile.tile.object);
            assert!(!tile.blurred && tile.laplacian_variance >= 100.0, "tile r{row}c{column}: {tile:?}");
            assert!((40.0..=220.0).contains(&tile.mean_luminance), "tile r{row}c{column}: {tile:?}");
            assert_eq!(tile.highlight_clipped_fraction + tile.shadow_clipped_fraction, 0.0);
            covered += u64::from(tile.tile.width) * u64::from(tile.tile.height);
        }
    }
    assert_eq!(covered, 1024 * 768, "the tiles cover the image exactly");

    // Both processor workers measured tiles: two distinct identities, each with work.
    let mut per_worker: BTreeMap<&str, usize> = BTreeMap::new();
    for tile in report.grid.iter().flatten() {
        *per_worker.entry(tile.worker.as_str()).or_default() += 1;
    }
    assert_eq!(per_worker.len(), 2, "tiles per processor: {per_worker:?}");
    assert_eq!(outcome.processors.len(), 2, "{:?}", outcome.processors);
    assert_eq!(outcome.processors, per_worker.keys().map(|w| w.to_string()).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn blurred_copy_is_valid_but_fails_accuracy_for_blur() -> anyhow::Result<()> {
    let (stack, _workers) = navad_stack().await?;
    let bytes = navad::blurred_jpeg(1024, 768)?;
    let image = put(&stack, "flights/blurred/IMG_0002.jpg", &bytes, "image/jpeg").await?;

    let metadata = ingest(&stack, &image).await?;
    assert_eq!((metadata.width, metadata.height), (1024, 768), "a blurred image is still a valid image");

    let outcome = analyze(&stack, &image, "navad/blurred/IMG_0002").await?;
    assert!(!outcome.passed, "blurred image must fail: {outcome:?}");
    assert!(outcome.failures.iter().any(|f| f.starts_with("blur:")), "{:?}", outcome.failures);
    assert!(outcome.overall_score < AccuracyThresholds::default().min_overall_score, "{}", outcome.overall_score);

    let report = read_report(&stack, &outcome).await?;
    assert!(!report.passed);
    assert_eq!(report.aggregate.blurred_tiles, GRID.0 * GRID.1, "{:?}", report.aggregate);
    assert!(report.grid.iter().flatten().all(|t| t.blurred && t.laplacian_variance < 100.0));
    // Exposure did not change with the blur: exposure is not among the failures.
    assert!(!outcome.failures.iter().any(|f| f.starts_with("exposure:")), "{:?}", outcome.failures);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_images_fail_ingestion_without_retry_naming_the_object() -> anyhow::Result<()> {
    let (stack, _workers) = navad_stack().await?;
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("flights/bad/truncated.jpg", navad::truncated_jpeg(640, 480)?, "corrupt or truncated jpeg data"),
        ("flights/bad/bomb.png", navad::huge_header_png(100_000, 100_000)?, "header claims 100000x100000 pixels: width above the limit of 30000"),
        ("flights/bad/notes.jpg", navad::text_file(), "not a JPEG, PNG or TIFF image"),
        ("flights/bad/empty.jpg", Vec::new(), "the file is empty"),
    ];
    for (key, bytes, reason) in cases {
        let image = put(&stack, key, &bytes, "image/jpeg").await?;
        let text = try_ingest(&stack, &image).await?.expect_err(key);
        assert!(text.contains(&format!("s3://{}/{key}: ", buckets::INPUTS)), "{key}: {text}");
        assert!(text.contains(reason), "{key}: {text}");
        assert!(text.contains("InvalidInput"), "{key}: {text}");
        assert!(text.contains("NonRetryableFailure"), "{key} must not be retried: {text}");
        let metadata = image.with_suffix(".metadata.json")?;
        assert_eq!(stack.storage.size(&metadata).await?, None, "{key}: no metadata for an invalid image");
    }
    Ok(())
}
