//! What the fault tests (`faults.rs`, on one machine, and `hosts.rs`, across network
//! namespaces) share: the automation batches they run and check (the images, the request with
//! short timeouts, what a complete batch leaves in both buckets) and the moment a video
//! extraction has checkpointed. Each test file includes it as `mod batches`.

use contracts::automation::{
    AccuracyThresholds, AutomationActivities, AutomationPipeline, AutomationRequest, AutomationSettings, AutomationSummary, BatchSource, BatchTotals,
    ImageInput, ImageKind, ImageStatus, batch_workflow_id,
};
use contracts::settings::{ActivitySettings, RetrySettings};
use contracts::{ObjectRef, Queue, buckets};
use documents::stac;
use fleet::Storage;
use orchestrator::bookkeeping;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use temporalio_client::errors::WorkflowGetResultError;
use temporalio_client::{Client, WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::WorkflowDefinition;
use temporalio_common::data_converters::TemporalDeserializable;
use testkit::history::{self, ActivityRecord};

/// Navad images per batch, and the tile grid they are cut into.
pub const NAVAD_IMAGES: usize = 4;
pub const GRID: (u32, u32) = (4, 4);
/// Size of the navad images: 400x300-pixel tiles, a moment of work each for a processor.
pub const NAVAD_SIZE: (u32, u32) = (1600, 1200);
/// Longest a batch may take under a fault before the test gives up.
pub const BATCH_DEADLINE: Duration = Duration::from_secs(300);

/// Holds the fleet-wide lock for one test: each test runs a whole fleet of processes, and two
/// fleets at once on two cores would measure contention instead of faults.
pub async fn one_fleet_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// What the batches need of a stack: its client, its storage and its queue names.
pub trait BatchStack {
    /// A client of the stack's server.
    fn client(&self) -> &Client;
    /// A client of the stack's S3 endpoint.
    fn storage(&self) -> &Storage;
    /// The (prefixed) name of `queue`.
    fn queue(&self, queue: Queue) -> String;
}

impl BatchStack for testkit::TestStack {
    fn client(&self) -> &Client {
        &self.client
    }
    fn storage(&self) -> &Storage {
        &self.storage
    }
    fn queue(&self, queue: Queue) -> String {
        testkit::TestStack::queue(self, queue)
    }
}

/// Timeouts and retries for a fleet under faults: quick retries, enough of them to outlast an
/// outage, timeouts short enough that a lost completion is redone within the test.
pub fn resilient_activities() -> AutomationActivities {
    let mut activities = AutomationActivities::default();
    let retry = RetrySettings {
        initial_interval_ms: 300,
        backoff_coefficient: 2.0,
        maximum_interval_ms: 2_000,
        maximum_attempts: 60,
        ..RetrySettings::default()
    };
    for settings in [
        &mut activities.validate,
        &mut activities.detect_kind,
        &mut activities.split_tiles,
        &mut activities.tile_metrics,
        &mut activities.write_report,
        &mut activities.footprint,
        &mut activities.batch_io,
    ] {
        *settings = ActivitySettings { start_to_close_ms: 45_000, heartbeat_ms: 0, retry: retry.clone() };
    }
    // A processor that dies mid-tile is noticed after one heartbeat timeout.
    activities.tile_metrics.heartbeat_ms = 2_000;
    activities
}

/// The images of a batch: sharp and blurred navad flights and one satellite GeoTIFF whose kind
/// is left to detection, uploaded under `faults/{area}/`.
pub async fn upload_images(stack: &impl BatchStack, area: &str) -> anyhow::Result<Vec<ImageInput>> {
    let sharp = samples::navad::sharp_jpeg(NAVAD_SIZE.0, NAVAD_SIZE.1)?;
    let blurred = samples::navad::blurred_jpeg(NAVAD_SIZE.0, NAVAD_SIZE.1)?;
    let mut images = Vec::new();
    for i in 0..NAVAD_IMAGES {
        let object = ObjectRef::new(buckets::INPUTS, format!("faults/{area}/navad-{i}.jpg"))?;
        let bytes = if i % 2 == 0 { sharp.clone() } else { blurred.clone() };
        stack.storage().put(&object, bytes, "image/jpeg").await?;
        images.push(ImageInput { object, kind: Some(ImageKind::Navad) });
    }
    let scene = ObjectRef::new(buckets::INPUTS, format!("faults/{area}/scene.tif"))?;
    stack.storage().put(&scene, samples::geotiff::geotiff_wgs84(256, 256, 11.0, 47.0, 0.0005), "image/tiff").await?;
    images.push(ImageInput { object: scene, kind: None });
    Ok(images)
}

pub fn batch_request(batch_id: &str, images: &[ImageInput]) -> AutomationRequest {
    AutomationRequest {
        batch_id: batch_id.to_owned(),
        source: BatchSource::Objects(images.to_vec()),
        output_bucket: buckets::OUTPUTS.to_owned(),
        settings: AutomationSettings {
            max_concurrent_images: 3,
            tile_columns: GRID.0,
            tile_rows: GRID.1,
            thresholds: AccuracyThresholds::default(),
            activities: resilient_activities(),
            ..AutomationSettings::default()
        },
        carried: None,
    }
}

pub async fn start_batch(stack: &impl BatchStack, batch_id: &str, images: &[ImageInput]) -> anyhow::Result<String> {
    let request = batch_request(batch_id, images);
    let options = WorkflowStartOptions::new(stack.queue(Queue::Orchestrator), batch_workflow_id(&request.batch_id)).build();
    let handle = stack.client().start_workflow(AutomationPipeline, request, options).await?;
    Ok(handle.run_id().unwrap_or_default().to_owned())
}

/// Waits for the latest run of `workflow_id` to finish, riding out a server that is down or
/// restarting (the long poll then fails with an RPC error and is simply made again).
pub async fn result_of<W>(stack: &impl BatchStack, workflow_id: &str) -> anyhow::Result<W::Output>
where
    W: WorkflowDefinition + temporalio_common::HasWorkflowDefinition,
    W::Output: TemporalDeserializable + 'static,
{
    let deadline = Instant::now() + BATCH_DEADLINE;
    loop {
        let handle = stack.client().get_workflow_handle::<W>(workflow_id);
        match handle.get_result(WorkflowGetResultOptions::default()).await {
            Ok(output) => return Ok(output),
            Err(WorkflowGetResultError::Rpc(status)) if Instant::now() < deadline => {
                eprintln!("{workflow_id}: waiting through an RPC error: {status}");
            }
            Err(WorkflowGetResultError::Other(e)) if Instant::now() < deadline => {
                eprintln!("{workflow_id}: waiting through an error: {e}");
            }
            Err(e) => anyhow::bail!("{workflow_id}: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The totals a batch of [`upload_images`] ends with: sharp images pass, blurred ones fail the
/// accuracy thresholds, the satellite scene passes.
pub fn expected_totals() -> BatchTotals {
    let sharp = NAVAD_IMAGES.div_ceil(2) as u64;
    BatchTotals {
        images: NAVAD_IMAGES as u64 + 1,
        navad: NAVAD_IMAGES as u64,
        satellite: 1,
        passed: sharp + 1,
        failed_accuracy: NAVAD_IMAGES as u64 - sharp,
        errors: 0,
    }
}

/// Every key a batch of `images` must leave in the output bucket: per navad image its tiles and
/// its report, per satellite image its GeoJSON, and the batch summary.
pub fn expected_output_keys(batch_id: &str, images: &[ImageInput]) -> BTreeSet<String> {
    let mut keys = BTreeSet::from([format!("automation/{batch_id}/summary.json")]);
    // A batch with satellite images (all of them pass here) also gets a STAC Collection.
    if images.iter().any(|i| i.kind != Some(ImageKind::Navad)) {
        keys.insert(format!("automation/{batch_id}/{}", stac::COLLECTION_NAME));
    }
    for image in images {
        let prefix = bookkeeping::image_output_prefix(batch_id, &image.object);
        if image.kind == Some(ImageKind::Navad) {
            keys.insert(format!("{prefix}/accuracy-report.json"));
            for row in 0..GRID.1 {
                for column in 0..GRID.0 {
                    keys.insert(format!("{prefix}/tiles/r{row}c{column}.png"));
                }
            }
        } else {
            keys.insert(format!("{prefix}.geojson"));
            keys.insert(stac::item_key(&format!("{prefix}.geojson")));
        }
    }
    keys
}

/// The inputs and the metadata JSON ingestion writes beside each navad image.
pub fn expected_input_keys(images: &[ImageInput]) -> BTreeSet<String> {
    images
        .iter()
        .flat_map(|image| {
            let key = image.object.key().to_owned();
            let sidecar = (image.kind == Some(ImageKind::Navad)).then(|| format!("{key}.metadata.json"));
            std::iter::once(key).chain(sidecar)
        })
        .collect()
}

pub async fn keys_under(stack: &impl BatchStack, bucket: &str, prefix: &str) -> anyhow::Result<BTreeSet<String>> {
    Ok(stack.storage().list(bucket, prefix).await?.iter().map(|o| o.key().to_owned()).collect())
}

/// Checks a finished batch: the expected totals and statuses, and exactly the expected objects
/// (no key missing, none extra) in both buckets.
pub async fn assert_complete(
    stack: &impl BatchStack,
    batch_id: &str,
    area: &str,
    images: &[ImageInput],
    summary: &AutomationSummary,
) -> anyhow::Result<()> {
    assert_eq!(summary.totals, expected_totals(), "{summary:#?}");
    for outcome in &summary.images {
        assert_ne!(outcome.status, ImageStatus::Error, "{outcome:#?}");
    }
    let outputs = keys_under(stack, buckets::OUTPUTS, &format!("automation/{batch_id}/")).await?;
    let expected = expected_output_keys(batch_id, images);
    assert_eq!(
        outputs,
        expected,
        "output keys of batch {batch_id}: missing {:?}, extra {:?}",
        expected.difference(&outputs).collect::<Vec<_>>(),
        outputs.difference(&expected).collect::<Vec<_>>()
    );
    let inputs = keys_under(stack, buckets::INPUTS, &format!("faults/{area}/")).await?;
    assert_eq!(inputs, expected_input_keys(images), "inputs and their metadata sidecars");
    Ok(())
}

// (`faults.rs` still compares inline; until it calls these, its build would call them dead.)
/// Runs a batch of `images` with no fault and checks it is complete: the reference a faulted
/// run's reports are compared with ([`assert_same_reports`]). Returns its id and summary.
pub async fn clean_batch(stack: &impl BatchStack, area: &str, images: &[ImageInput]) -> anyhow::Result<(String, AutomationSummary)> {
    let clean_id = testkit::unique_id("clean");
    start_batch(stack, &clean_id, images).await?;
    let clean = result_of::<AutomationPipeline>(stack, &batch_workflow_id(&clean_id)).await?;
    assert_complete(stack, &clean_id, area, images, &clean).await?;
    Ok((clean_id, clean))
}

/// Checks that a faulted batch ended as the clean one did: per image the same status, score and
/// accuracy failures, and per navad image the same report (less what legitimately differs,
/// see [`comparable_report`]).
pub async fn assert_same_reports(
    stack: &impl BatchStack,
    (clean_id, clean): (&str, &AutomationSummary),
    (faulted_id, faulted): (&str, &AutomationSummary),
) -> anyhow::Result<()> {
    assert_eq!(clean.images.len(), faulted.images.len());
    for (clean_image, faulted_image) in clean.images.iter().zip(&faulted.images) {
        assert_eq!((clean_image.status, clean_image.score), (faulted_image.status, faulted_image.score), "{}", clean_image.object);
        assert_eq!(clean_image.accuracy_failures, faulted_image.accuracy_failures, "{}", clean_image.object);
        if clean_image.kind == Some(ImageKind::Navad) {
            let clean_report = stack.storage().get(&clean_image.outputs[1]).await?;
            let faulted_report = stack.storage().get(&faulted_image.outputs[1]).await?;
            assert_eq!(
                comparable_report(&clean_report, clean_id)?,
                comparable_report(&faulted_report, faulted_id)?,
                "report of {} differs from the clean run's",
                clean_image.object
            );
        }
    }
    Ok(())
}

/// Every workflow id of a batch: the parent and, per image, its pipeline and the step children.
pub fn batch_workflow_ids(batch_id: &str, images: &[ImageInput]) -> Vec<String> {
    let mut ids = vec![batch_workflow_id(batch_id)];
    for (index, image) in images.iter().enumerate() {
        ids.push(bookkeeping::image_workflow_id(batch_id, index as u64, &image.object));
    }
    ids
}

/// The activities of every workflow of a batch: the batch's and each `ImagePipeline`'s.
pub async fn batch_activities(stack: &impl BatchStack, batch_id: &str, images: &[ImageInput]) -> anyhow::Result<Vec<(String, ActivityRecord)>> {
    let mut all = Vec::new();
    for id in batch_workflow_ids(batch_id, images) {
        let Ok(events) = history::events(stack.client(), &id, None).await else { continue };
        all.extend(history::activities(&events).into_iter().map(|a| (id.clone(), a)));
    }
    Ok(all)
}

/// A report with what legitimately differs between two runs of the same image taken out: which
/// processor measured each tile, and the batch id in object keys.
pub fn comparable_report(report: &[u8], batch_id: &str) -> anyhow::Result<serde_json::Value> {
    let mut value: serde_json::Value = serde_json::from_slice(report)?;
    value.as_object_mut().map(|o| o.remove("processors"));
    for tile in value["grid"].as_array_mut().into_iter().flatten().flat_map(|row| row.as_array_mut().into_iter().flatten()) {
        tile.as_object_mut().map(|o| o.remove("worker"));
    }
    Ok(serde_json::from_str(&value.to_string().replace(batch_id, "<batch>"))?)
}

/// What `ExtractSegment` heartbeats (the worker's private checkpoint): only the count of frames
/// in the pieces it has written is read here.
#[derive(serde::Deserialize)]
struct SegmentCheckpoint {
    frames: u32,
}

/// Waits until the server holds an `ExtractSegment` heartbeat of `workflow_id` recording
/// written frames (the moment to strike); returns how many.
pub async fn wait_for_segment_checkpoint(stack: &impl BatchStack, workflow_id: &str) -> anyhow::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let pending = history::pending_activities(stack.client(), workflow_id).await.unwrap_or_default();
        let recorded = pending
            .iter()
            .filter(|a| a.activity_type.as_ref().is_some_and(|t| t.name == "ExtractSegment"))
            .filter_map(|a| a.heartbeat_details.as_ref()?.payloads.first())
            .filter_map(|p| serde_json::from_slice::<SegmentCheckpoint>(&p.data).ok())
            .map(|c| c.frames as usize)
            .max()
            .unwrap_or(0);
        if recorded > 0 {
            return Ok(recorded);
        }
        anyhow::ensure!(Instant::now() < deadline, "no heartbeat recording frames within 120 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
