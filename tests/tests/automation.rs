//! The image automation pipeline end to end, on a real dev server and a real S3 endpoint, with
//! every worker in process on prefixed queues (`auto-...`, so routing by prefix is exercised):
//! - a mixed batch: a sharp navad image passes, its blurred copy fails accuracy, a corrupt file
//!   ends in an error naming it while the rest completes, satellite GeoTIFFs (kind detected)
//!   get their GeoJSON; totals, summary JSON, window size, progress query and search
//!   attributes checked;
//! - a prefix batch larger than one run (`images_per_run` = 3, 7 images) completes through
//!   continue-as-new, listing the prefix page by page and skipping sidecars;
//! - a batch whose prefix is in a missing bucket, or whose id is unsafe, fails at once with a
//!   non-retryable error naming the problem;
//! - the runs recorded as the replay fixtures of the orchestrator, ingestion, dispatcher and
//!   geolocalization workers (when `RECORD_HISTORIES` asks, see `testkit::replay`).

use contracts::automation::{
    AutomationPipeline, AutomationProgressQuery, AutomationRequest, AutomationSettings, AutomationSummary, BatchSource, BatchTotals, ImageInput,
    ImageKind, ImageMetadata, ImageOutcome, ImageStatus, batch_workflow_id,
};
use contracts::object::PrefixRef;
use contracts::{ObjectRef, Queue, buckets};
use documents::automation::BatchSummaryDocument;
use fleet::{Register, RunningWorker};
use std::time::{Duration, Instant};
use temporalio_client::{WorkflowCountOptions, WorkflowGetResultOptions, WorkflowHandle, WorkflowQueryOptions};
use temporalio_common::protos::temporal::api::history::v1::{HistoryEvent, history_event::Attributes};
use testkit::{TestStack, history, replay, unique_id};

const QUEUE_PREFIX: &str = "auto-";

/// Every worker the automation pipeline touches.
const ALL_WORKERS: [(Queue, Register); 5] = [
    (Queue::Orchestrator, orchestrator::register),
    (Queue::Ingestion, ingestion::register),
    (Queue::AccuracyDispatcher, accuracy_dispatcher::register),
    (Queue::AccuracyProcessor, accuracy_processor::register),
    (Queue::Geolocalization, geolocalization::register),
];

async fn stack_with(workers: &[(Queue, Register)]) -> anyhow::Result<(TestStack, Vec<RunningWorker>)> {
    let stack = TestStack::start_in("default", &[("TASK_QUEUE_PREFIX", QUEUE_PREFIX)]).await?;
    let running = workers.iter().map(|(queue, register)| stack.worker(*queue, *register)).collect::<anyhow::Result<Vec<_>>>()?;
    Ok((stack, running))
}

async fn put(stack: &TestStack, key: &str, bytes: Vec<u8>, content_type: &str) -> anyhow::Result<ObjectRef> {
    let object = ObjectRef::new(buckets::INPUTS, key)?;
    stack.storage.put(&object, bytes, content_type).await?;
    Ok(object)
}

type BatchHandle = WorkflowHandle<temporalio_client::Client, AutomationPipeline>;

/// Starts the batch and waits for its result (across runs).
async fn run_batch(stack: &TestStack, request: AutomationRequest) -> anyhow::Result<(BatchHandle, AutomationSummary)> {
    let handle = stack.start_automation(request).await?;
    let summary = handle.get_result(WorkflowGetResultOptions::default()).await?;
    Ok((handle, summary))
}

fn outcome<'a>(images: &'a [ImageOutcome], file_name: &str) -> &'a ImageOutcome {
    images.iter().find(|i| i.object.file_name() == file_name).unwrap_or_else(|| panic!("no outcome for {file_name}: {images:#?}"))
}

async fn read_json<T: serde::de::DeserializeOwned>(stack: &TestStack, object: &ObjectRef) -> anyhow::Result<T> {
    let bytes = stack.storage.get(object).await?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Every `[lon, lat]` position of a GeoJSON Feature's polygon.
fn polygon_positions(feature: &serde_json::Value) -> Vec<(f64, f64)> {
    assert_eq!(feature["type"], "Feature", "{feature}");
    assert_eq!(feature["geometry"]["type"], "Polygon", "{feature}");
    feature["geometry"]["coordinates"][0]
        .as_array()
        .expect("a polygon ring")
        .iter()
        .map(|p| (p[0].as_f64().expect("lon"), p[1].as_f64().expect("lat")))
        .collect()
}

/// Polls a visibility count until it reaches `expected` (visibility lags the workflows a bit).
async fn wait_for_count(stack: &TestStack, query: &str, expected: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let count = stack.client.count_workflows(query, WorkflowCountOptions::default()).await?.count();
        if count == expected {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{query}: {count} workflows, expected {expected}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The most children a run had started and not yet seen finish.
fn most_children_at_once(events: &[HistoryEvent]) -> usize {
    let (mut open, mut most) = (0usize, 0usize);
    for event in events {
        match &event.attributes {
            Some(Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(_)) => open += 1,
            Some(
                Attributes::ChildWorkflowExecutionCompletedEventAttributes(_)
                | Attributes::ChildWorkflowExecutionFailedEventAttributes(_)
                | Attributes::ChildWorkflowExecutionTimedOutEventAttributes(_)
                | Attributes::ChildWorkflowExecutionCanceledEventAttributes(_)
                | Attributes::ChildWorkflowExecutionTerminatedEventAttributes(_)
                | Attributes::StartChildWorkflowExecutionFailedEventAttributes(_),
            ) => open -= 1,
            _ => {}
        }
        most = most.max(open);
    }
    most
}

#[tokio::test(flavor = "multi_thread")]
async fn mixed_batch_reports_every_path_and_survives_a_corrupt_file() -> anyhow::Result<()> {
    let (stack, _workers) = stack_with(&ALL_WORKERS).await?;
    let batch_id = unique_id("mixed");
    let area = format!("uploads/{batch_id}");
    let sharp = put(&stack, &format!("{area}/navad-sharp.jpg"), samples::navad::sharp_jpeg(512, 384)?, "image/jpeg").await?;
    let blurred = put(&stack, &format!("{area}/navad-blurred.jpg"), samples::navad::blurred_jpeg(512, 384)?, "image/jpeg").await?;
    let corrupt = put(&stack, &format!("{area}/corrupt.jpg"), samples::navad::truncated_jpeg(512, 384)?, "image/jpeg").await?;
    // 256 x 256 pixels of 0.0005 degrees from (-9.2 E, 38.8 N).
    let wgs84 =
        put(&stack, &format!("{area}/satellite-wgs84.tif"), samples::geotiff::geotiff_wgs84(256, 256, -9.2, 38.8, 0.0005), "image/tiff").await?;
    // 10 m pixels from (600000 E, 5340000 N) in UTM zone 33N: around 16.35 E, 48.2 N.
    let utm = put(
        &stack,
        &format!("{area}/satellite-utm33n.tif"),
        samples::geotiff::geotiff_utm(256, 256, samples::geotiff::UTM_33N, 600_000.0, 5_340_000.0, 10.0),
        "image/tiff",
    )
    .await?;
    // Navad kinds given, satellite kinds left to detection.
    let images = vec![
        ImageInput { object: sharp.clone(), kind: Some(ImageKind::Navad) },
        ImageInput { object: blurred.clone(), kind: Some(ImageKind::Navad) },
        ImageInput { object: corrupt.clone(), kind: Some(ImageKind::Navad) },
        ImageInput { object: wgs84.clone(), kind: None },
        ImageInput { object: utm.clone(), kind: None },
    ];
    let request = AutomationRequest {
        batch_id: batch_id.clone(),
        source: BatchSource::Objects(images),
        output_bucket: buckets::OUTPUTS.to_owned(),
        settings: AutomationSettings { max_concurrent_images: 3, ..AutomationSettings::default() },
        carried: None,
    };
    let (handle, summary) = run_batch(&stack, request).await?;

    assert_eq!(summary.batch_id, batch_id);
    assert_eq!(summary.runs, 1);
    assert_eq!(summary.totals, BatchTotals { images: 5, navad: 3, satellite: 2, passed: 3, failed_accuracy: 1, errors: 1 }, "{summary:#?}");
    let order: Vec<&str> = summary.images.iter().map(|i| i.object.file_name()).collect();
    assert_eq!(order, ["navad-sharp.jpg", "navad-blurred.jpg", "corrupt.jpg", "satellite-wgs84.tif", "satellite-utm33n.tif"]);

    // Sharp navad: validated (metadata JSON beside it) and passing accuracy (report written).
    let sharp_outcome = outcome(&summary.images, "navad-sharp.jpg");
    assert_eq!(sharp_outcome.status, ImageStatus::Passed, "{sharp_outcome:#?}");
    assert_eq!(sharp_outcome.kind, Some(ImageKind::Navad));
    assert_eq!(sharp_outcome.error, None);
    let [metadata_object, report_object] = sharp_outcome.outputs.as_slice() else { panic!("{sharp_outcome:#?}") };
    assert_eq!(metadata_object, &sharp.with_suffix(".metadata.json")?);
    let metadata: ImageMetadata = read_json(&stack, metadata_object).await?;
    assert_eq!((metadata.width, metadata.height), (512, 384));
    assert_eq!(metadata.image, sharp);
    assert_eq!(report_object.bucket(), buckets::OUTPUTS);
    assert!(report_object.key().starts_with(&format!("automation/{batch_id}/{}", sharp.key())), "{report_object}");
    let report: serde_json::Value = read_json(&stack, report_object).await?;
    assert!(report.is_object(), "{report}");

    // Blurred copy: analysed, failing the thresholds, with a lower score and the reasons.
    let blurred_outcome = outcome(&summary.images, "navad-blurred.jpg");
    assert_eq!(blurred_outcome.status, ImageStatus::FailedAccuracy, "{blurred_outcome:#?}");
    assert!(!blurred_outcome.accuracy_failures.is_empty(), "{blurred_outcome:#?}");
    assert!(blurred_outcome.score.expect("score") < sharp_outcome.score.expect("score"));
    assert_eq!(blurred_outcome.outputs.len(), 2);
    for output in &blurred_outcome.outputs {
        assert!(stack.storage.size(output).await?.is_some(), "{output} missing");
    }

    // Corrupt file: an error naming it, nothing written for it.
    let corrupt_outcome = outcome(&summary.images, "corrupt.jpg");
    assert_eq!(corrupt_outcome.status, ImageStatus::Error, "{corrupt_outcome:#?}");
    let error = corrupt_outcome.error.as_deref().expect("an error message");
    assert!(error.contains(corrupt.key()), "{error}");
    assert!(error.contains("InvalidInput"), "{error}");
    assert!(corrupt_outcome.outputs.is_empty());

    // Satellites: detected, GeoJSON at the deterministic key, footprint where the tags put it.
    for (name, object) in [("satellite-wgs84.tif", &wgs84), ("satellite-utm33n.tif", &utm)] {
        let o = outcome(&summary.images, name);
        assert_eq!((o.status, o.kind), (ImageStatus::Passed, Some(ImageKind::Satellite)), "{o:#?}");
        assert_eq!(o.outputs, [ObjectRef::new(buckets::OUTPUTS, format!("automation/{batch_id}/{}.geojson", object.key()))?]);
    }
    let wgs84_feature: serde_json::Value = read_json(&stack, &outcome(&summary.images, "satellite-wgs84.tif").outputs[0]).await?;
    let positions = polygon_positions(&wgs84_feature);
    let near = |(lon, lat): (f64, f64), (x, y): (f64, f64)| (lon - x).abs() < 1e-6 && (lat - y).abs() < 1e-6;
    let (east, south) = (-9.2 + 256.0 * 0.0005, 38.8 - 256.0 * 0.0005);
    for corner in [(-9.2, 38.8), (east, 38.8), (east, south), (-9.2, south)] {
        assert!(positions.iter().any(|&p| near(p, corner)), "corner {corner:?} not in {positions:?}");
    }
    let utm_feature: serde_json::Value = read_json(&stack, &outcome(&summary.images, "satellite-utm33n.tif").outputs[0]).await?;
    for (lon, lat) in polygon_positions(&utm_feature) {
        assert!((16.0..16.8).contains(&lon) && (48.0..48.3).contains(&lat), "({lon}, {lat}) is not near Vienna");
    }

    // The summary JSON lists every image, as the result does.
    assert_eq!(summary.summary, ObjectRef::new(buckets::OUTPUTS, format!("automation/{batch_id}/summary.json"))?);
    let document: BatchSummaryDocument = read_json(&stack, &summary.summary).await?;
    assert_eq!(document.images, summary.images);
    assert_eq!(document.totals, summary.totals);

    // Five images through a window of three: three children at once, never more.
    let run_id = handle.run_id().expect("the start handle names its run").to_owned();
    assert_eq!(most_children_at_once(&history::events(&stack.client, &batch_workflow_id(&batch_id), Some(&run_id)).await?), 3);

    // The progress query answers on the finished batch too.
    let progress = handle.query(AutomationProgressQuery, (), WorkflowQueryOptions::default()).await?;
    assert_eq!((progress.done, progress.total, progress.running, progress.run), (5, Some(5), 0, 1));
    assert_eq!(progress.totals, summary.totals);

    // Search attributes make the paths filterable in the Web UI.
    wait_for_count(&stack, "WorkflowType = 'ImagePipeline' AND ImageType = 'satellite' AND PipelineStatus = 'completed'", 2).await?;
    wait_for_count(&stack, "WorkflowType = 'ImagePipeline' AND ImageType = 'navad' AND PipelineStatus = 'failed'", 1).await?;
    wait_for_count(&stack, "WorkflowType = 'AutomationPipeline' AND PipelineStatus = 'completed' AND PipelineStage = 'done'", 1).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn prefix_batch_larger_than_a_run_continues_as_new() -> anyhow::Result<()> {
    let (stack, _workers) = stack_with(&[(Queue::Orchestrator, orchestrator::register), (Queue::Geolocalization, geolocalization::register)]).await?;
    let batch_id = unique_id("large");
    let area = format!("scenes/{batch_id}");
    for i in 0..7 {
        let tiff = samples::geotiff::geotiff_wgs84(32, 32, 10.0 + i as f64, 45.0, 0.001);
        put(&stack, &format!("{area}/scene-{i}.tif"), tiff, "image/tiff").await?;
    }
    // Sidecars and notes under the same prefix must be skipped, not counted.
    put(&stack, &format!("{area}/notes.json"), b"{}".to_vec(), "application/json").await?;
    put(&stack, &format!("{area}/scene-0.tfw"), samples::geotiff::world_file(10.0, 45.0, 0.001).into_bytes(), "text/plain").await?;
    put(&stack, &format!("{area}/scene-1.tif.sha256"), b"0  scene-1.tif\n".to_vec(), "text/plain").await?;

    let request = AutomationRequest {
        batch_id: batch_id.clone(),
        source: BatchSource::Prefix {
            location: PrefixRef { bucket: buckets::INPUTS.to_owned(), prefix: format!("{area}/") },
            kind: Some(ImageKind::Satellite),
        },
        output_bucket: buckets::OUTPUTS.to_owned(),
        settings: AutomationSettings { images_per_run: 3, max_concurrent_images: 2, ..AutomationSettings::default() },
        carried: None,
    };
    let (handle, summary) = run_batch(&stack, request).await?;

    assert_eq!(summary.runs, 3, "{summary:#?}");
    assert_eq!(summary.totals, BatchTotals { images: 7, navad: 0, satellite: 7, passed: 7, failed_accuracy: 0, errors: 0 });
    // The result carries the last run's images; the summary JSON the whole batch, in key order.
    let last: Vec<&str> = summary.images.iter().map(|i| i.object.file_name()).collect();
    assert_eq!(last, ["scene-6.tif"]);
    let document: BatchSummaryDocument = read_json(&stack, &summary.summary).await?;
    let all: Vec<&str> = document.images.iter().map(|i| i.object.file_name()).collect();
    assert_eq!(all, ["scene-0.tif", "scene-1.tif", "scene-2.tif", "scene-3.tif", "scene-4.tif", "scene-5.tif", "scene-6.tif"]);
    assert_eq!(document.totals, summary.totals);
    for image in &document.images {
        assert_eq!(image.status, ImageStatus::Passed, "{image:#?}");
        assert!(stack.storage.size(&image.outputs[0]).await?.is_some(), "{} missing", image.outputs[0]);
    }
    for (run, expected) in [(1, ["scene-0.tif", "scene-1.tif", "scene-2.tif"]), (2, ["scene-3.tif", "scene-4.tif", "scene-5.tif"])] {
        let part = ObjectRef::new(buckets::OUTPUTS, format!("automation/{batch_id}/summary/part-{run:04}.json"))?;
        let part: BatchSummaryDocument = read_json(&stack, &part).await?;
        let names: Vec<&str> = part.images.iter().map(|i| i.object.file_name()).collect();
        assert_eq!(names, expected, "part {run}");
    }

    // The current (last) run answers the progress query with the batch-wide numbers.
    let latest = stack.client.get_workflow_handle::<AutomationPipeline>(batch_workflow_id(&batch_id));
    let progress = latest.query(AutomationProgressQuery, (), WorkflowQueryOptions::default()).await?;
    assert_eq!((progress.done, progress.total, progress.run), (7, Some(7), 3));

    // The first run listed the prefix in pages of `images_per_run` keys: with the sidecars in
    // between, it took more than one page to find its three images. Its sliding window ran two
    // children at once, never more.
    let first_run = handle.run_id().expect("the start handle names the first run").to_owned();
    let events = history::events(&stack.client, &batch_workflow_id(&batch_id), Some(&first_run)).await?;
    let activities: Vec<String> = history::activities(&events).into_iter().map(|a| a.activity_type).collect();
    let pages = activities.iter().filter(|a| *a == "ListBatchPage").count();
    assert!(pages >= 2, "{activities:?}");
    assert_eq!(activities.last().map(String::as_str), Some("WriteBatchSummary"));
    assert_eq!(most_children_at_once(&events), 2);

    // The batch's STAC Collection beside its summary: an Item link per satellite image of every
    // run, the extent spanning them, valid against the STAC JSON Schemas (vendored with the
    // geolocalization tests) like each Item.
    let collection_object = ObjectRef::new(buckets::OUTPUTS, format!("automation/{batch_id}/collection.json"))?;
    let collection: serde_json::Value = read_json(&stack, &collection_object).await?;
    let item_links: Vec<&str> =
        collection["links"].as_array().into_iter().flatten().filter(|l| l["rel"] == "item").filter_map(|l| l["href"].as_str()).collect();
    let expected: Vec<String> = (0..7).map(|i| format!("./{area}/scene-{i}.tif.stac-item.json")).collect();
    assert_eq!(item_links, expected);
    let bbox = &collection["extent"]["spatial"]["bbox"][0];
    let (west, east) = (bbox[0].as_f64().unwrap_or(f64::NAN), bbox[2].as_f64().unwrap_or(f64::NAN));
    assert!((west - 10.0).abs() < 1e-9 && (east - (16.0 + 32.0 * 0.001)).abs() < 1e-9, "{bbox}");
    let scratch = tempfile::tempdir()?;
    let mut files = vec![scratch.path().join("collection.json")];
    std::fs::write(&files[0], serde_json::to_vec(&collection)?)?;
    for (i, href) in item_links.iter().enumerate() {
        let item = ObjectRef::new(buckets::OUTPUTS, format!("automation/{batch_id}/{}", href.trim_start_matches("./")))?;
        let path = scratch.path().join(format!("item-{i}.json"));
        std::fs::write(&path, stack.storage.get(&item).await?)?;
        files.push(path);
    }
    let geolocalization_tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../workers/geolocalization/tests");
    let output = std::process::Command::new("python3")
        .arg(geolocalization_tests.join("support/validate.py"))
        .arg("stac")
        .arg(geolocalization_tests.join("stac-schemas"))
        .args(&files)
        .output()?;
    assert!(output.status.success(), "STAC validation: {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_batches_fail_at_once_naming_the_problem() -> anyhow::Result<()> {
    let (stack, _workers) = stack_with(&[(Queue::Orchestrator, orchestrator::register)]).await?;
    let request = |batch_id: &str, bucket: &str| AutomationRequest {
        batch_id: batch_id.to_owned(),
        source: BatchSource::Prefix { location: PrefixRef { bucket: bucket.to_owned(), prefix: "flights/".to_owned() }, kind: None },
        output_bucket: buckets::OUTPUTS.to_owned(),
        settings: AutomationSettings::default(),
        carried: None,
    };
    for (batch_id, bucket, expected) in [
        // A prefix in a bucket that does not exist: the listing fails for good, naming it.
        (unique_id("missing"), "no-such-bucket", ["s3://no-such-bucket/flights/", "NotFound"]),
        // A batch id that cannot name output keys.
        ("../escape".to_owned(), buckets::INPUTS, ["invalid batch id", "InvalidInput"]),
    ] {
        let handle = stack.start_automation(request(&batch_id, bucket)).await?;
        let err = handle.get_result(WorkflowGetResultOptions::default()).await.expect_err("the batch must fail");
        let text = format!("{err:?}");
        for part in expected {
            assert!(text.contains(part), "{part:?} not in {text}");
        }
        assert!(text.contains("non_retryable: true"), "the failure must not be retried: {text}");
    }
    wait_for_count(&stack, "WorkflowType = 'AutomationPipeline' AND PipelineStatus = 'failed'", 2).await?;
    Ok(())
}

/// The runs behind the orchestrator's replay fixtures: both runs of a batch that continues as
/// new once, and the `ImagePipeline` runs (one task per step) of a navad image, a detected
/// satellite image and a corrupt file. Recorded when `RECORD_HISTORIES` asks (see
/// `testkit::replay`): `RECORD_HISTORIES=1 cargo test -p fleet-tests --test automation`. The
/// `IngestImage`, `AnalyzeAccuracy` and `Geolocalize` fixtures of the other workers were
/// recorded from this test when `ImagePipeline` still ran its steps as children; they stay as
/// they are, the proof that such runs still replay.
#[tokio::test(flavor = "multi_thread")]
async fn replay_fixture_runs() -> anyhow::Result<()> {
    let (stack, _workers) = stack_with(&ALL_WORKERS).await?;
    let batch_id = "replay-fixture".to_owned();
    let area = format!("uploads/{batch_id}");
    let sharp = put(&stack, &format!("{area}/navad-sharp.jpg"), samples::navad::sharp_jpeg(256, 192)?, "image/jpeg").await?;
    let satellite =
        put(&stack, &format!("{area}/satellite-wgs84.tif"), samples::geotiff::geotiff_wgs84(64, 64, -9.2, 38.8, 0.001), "image/tiff").await?;
    let corrupt = put(&stack, &format!("{area}/corrupt.jpg"), samples::navad::truncated_jpeg(256, 192)?, "image/jpeg").await?;
    let request = AutomationRequest {
        batch_id: batch_id.clone(),
        source: BatchSource::Objects(vec![
            ImageInput { object: sharp, kind: Some(ImageKind::Navad) },
            ImageInput { object: satellite, kind: None },
            ImageInput { object: corrupt, kind: Some(ImageKind::Navad) },
        ]),
        output_bucket: buckets::OUTPUTS.to_owned(),
        settings: AutomationSettings { images_per_run: 2, max_concurrent_images: 2, tile_columns: 2, tile_rows: 2, ..AutomationSettings::default() },
        carried: None,
    };
    let (handle, summary) = run_batch(&stack, request).await?;
    assert_eq!((summary.runs, summary.totals.images, summary.totals.errors), (2, 3, 1), "{summary:#?}");

    let batch = batch_workflow_id(&batch_id);
    let image = |child: &str| format!("{batch_id}/{child}");
    let runs = [
        // Requests resolved in the runs' first step (`automation-pipeline-run-*.json`: from before).
        ("orchestrator", "automation-pipeline-resolved-run-1.json", batch.clone(), handle.run_id()),
        ("orchestrator", "automation-pipeline-resolved-run-2.json", batch.clone(), None),
        ("orchestrator", "image-pipeline-tasks-navad.json", image("0-navad-sharp.jpg"), None),
        ("orchestrator", "image-pipeline-tasks-satellite-detected.json", image("1-satellite-wgs84.tif"), None),
        ("orchestrator", "image-pipeline-tasks-error.json", image("2-corrupt.jpg"), None),
    ];
    for (worker, file, workflow_id, run_id) in &runs {
        replay::record(&stack.client, workflow_id, *run_id, &replay::histories_dir(worker).join(file)).await?;
    }
    Ok(())
}
