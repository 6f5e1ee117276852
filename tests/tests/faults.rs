//! Fault tests: the fleet's real worker binaries run as child processes against a real dev
//! server and a real S3 endpoint, and the faults are real too.
//! 1. `kill -9` of one of two accuracy-processor processes while it measures tiles of an image
//!    automation batch: every workflow completes, the output keys are exactly the expected
//!    ones, and the reports equal those of a clean run of the same images;
//! 2. `kill -9` of the video worker mid-extraction, then a fresh process: the run finishes, and
//!    the segment resumed from the pieces its heartbeat details recorded;
//! 3. the Temporal dev server killed (SIGKILL) and restarted on its database mid-batch;
//! 4. the S3 endpoint down for seconds mid-batch: activities fail, are retried, complete;
//! 5. a batch re-submitted under the same workflow id: every output rewritten in place, none
//!    added.
//!
//! Each proves that the fault hit work in flight (a retried attempt, with the failure that
//! caused it, in the histories), not just that the batch finished. The tests are slow (a fleet
//! of processes each), so they are `#[ignore]`d for a plain `cargo test` and run by
//! `scripts/test.sh` (`-- --ignored`), one at a time.

use contracts::automation::{AutomationPipeline, AutomationProgressQuery, ImageKind, batch_workflow_id};
use contracts::object::PrefixRef;
use contracts::settings::RetrySettings;
use contracts::video::{Sampling, VideoPipeline, VideoRequest};
use contracts::{ObjectRef, Queue, buckets};
use devstack::WorkerProcess;
use documents::video::FrameManifest;
use orchestrator::bookkeeping;
use samples::video::{ClipSpec, Segment, write_clip};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use temporalio_client::{WorkflowQueryOptions, WorkflowStartOptions};
use testkit::history::{self, ActivityRecord};
use testkit::{TestStack, unique_id};

#[path = "support/batches.rs"]
mod batches;
use batches::*;

// ---------------------------------------------------------------------------------------------
// The fleet: a stack and the automation path's worker binaries as processes.

struct Fleet {
    stack: TestStack,
    workers: BTreeMap<String, WorkerProcess>,
}

impl Fleet {
    /// The stack and the automation workers (orchestrator, ingestion, dispatcher,
    /// geolocalization, and `processors` accuracy processors named `processor-1`, ...).
    async fn automation(processors: usize) -> anyhow::Result<Self> {
        let stack = TestStack::start().await?;
        let mut fleet = Self { stack, workers: BTreeMap::new() };
        for queue in [Queue::Orchestrator, Queue::Ingestion, Queue::AccuracyDispatcher, Queue::Geolocalization] {
            fleet.spawn(queue, queue.base_name(), &[])?;
        }
        for n in 1..=processors {
            // Two slots each: a processor never holds the whole grid, so killing one leaves
            // tiles for the other and catches some of its own mid-flight.
            fleet.spawn(Queue::AccuracyProcessor, &format!("processor-{n}"), &[("ACCURACY_PROCESSOR_MAX_CONCURRENT_ACTIVITIES", "2")])?;
        }
        Ok(fleet)
    }

    fn spawn(&mut self, queue: Queue, name: &str, extra: &[(&str, &str)]) -> anyhow::Result<()> {
        let process = self.stack.worker_process(queue, name, extra)?;
        self.workers.insert(name.to_owned(), process);
        Ok(())
    }

    /// Fails naming any worker process that has exited (crashed, or quit on a fault it should
    /// have ridden out), with the end of its log.
    fn assert_all_running(&mut self) {
        for (name, process) in &mut self.workers {
            if let Some(status) = process.try_exit_status() {
                let log = self.stack.worker_log(name);
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                panic!("worker process {name} exited ({status}):\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            }
        }
    }

    /// Stops every process gracefully.
    async fn stop(mut self) {
        let workers = std::mem::take(&mut self.workers);
        futures_util::future::join_all(workers.into_values().map(|w| w.stop(Duration::from_secs(10)))).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Batches.

/// Polls the batch's progress query until `ready` holds (the test's moment to strike).
async fn wait_for_progress(
    stack: &TestStack,
    batch_id: &str,
    what: &str,
    ready: impl Fn(&contracts::automation::AutomationProgress) -> bool,
) -> anyhow::Result<contracts::automation::AutomationProgress> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let handle = stack.client.get_workflow_handle::<AutomationPipeline>(batch_workflow_id(batch_id));
    loop {
        if let Ok(progress) = handle.query(AutomationProgressQuery, (), WorkflowQueryOptions::default()).await {
            if ready(&progress) {
                return Ok(progress);
            }
            anyhow::ensure!(progress.done < progress.total.unwrap_or(u64::MAX), "the batch finished before {what}: {progress:?}");
        }
        anyhow::ensure!(Instant::now() < deadline, "no {what} within 120 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 1. A processor process killed mid-batch.

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow: a fleet of worker processes; scripts/test.sh runs it"]
async fn killing_a_processor_mid_batch_loses_no_tile_and_changes_no_report() -> anyhow::Result<()> {
    let _fleet_lock = one_fleet_at_a_time().await;
    let mut fleet = Fleet::automation(2).await?;
    let area = unique_id("kill");
    let images = upload_images(&fleet.stack, &area).await?;

    // The reference: the same images through the same fleet, no fault.
    let (clean_id, clean) = clean_batch(&fleet.stack, &area, &images).await?;

    // The faulted run: kill processor-1 while it holds a started tile activity.
    let faulted_id = unique_id("faulted");
    start_batch(&fleet.stack, &faulted_id, &images).await?;
    let victim = fleet.workers.remove("processor-1").expect("processor-1");
    let victim_identity = format!("{}@", victim.pid().expect("a running process has a pid"));
    let accuracy_ids: Vec<String> = images
        .iter()
        .enumerate()
        .filter(|(_, i)| i.kind == Some(ImageKind::Navad))
        .map(|(index, i)| bookkeeping::image_workflow_id(&faulted_id, index as u64, &i.object))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let held = 'found: loop {
        for id in &accuracy_ids {
            let Ok(pending) = history::pending_activities(&fleet.stack.client, id).await else { continue };
            // State 2 is STARTED: the victim has the task and is working on it.
            let held: Vec<String> = pending
                .iter()
                .filter(|a| a.state == 2 && a.last_worker_identity.starts_with(&victim_identity))
                .map(|a| a.activity_id.clone())
                .collect();
            if !held.is_empty() {
                break 'found (id.clone(), held);
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "processor-1 never picked up a tile");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    victim.kill().await;
    eprintln!("killed processor-1 ({victim_identity}) holding tile activities {:?} of {}", held.1, held.0);

    let faulted = result_of::<AutomationPipeline>(&fleet.stack, &batch_workflow_id(&faulted_id)).await?;
    assert_complete(&fleet.stack, &faulted_id, &area, &images, &faulted).await?;
    fleet.assert_all_running();

    // The kill caught tiles in flight: they were measured again, by the surviving processor,
    // after their heartbeat timed out.
    let activities = batch_activities(&fleet.stack, &faulted_id, &images).await?;
    let redone: Vec<&ActivityRecord> = activities.iter().map(|(_, a)| a).filter(|a| a.activity_type == "MeasureTiles" && a.attempt >= 2).collect();
    assert!(!redone.is_empty(), "no tile activity was retried after the kill: {activities:#?}");
    for tile in &redone {
        assert!(!tile.identity.starts_with(&victim_identity), "a dead process cannot finish a tile: {tile:?}");
        let cause = tile.retried_after.as_ref().expect("a retried attempt records why the previous one failed");
        assert_eq!(cause.error_type.as_deref(), Some("Timeout"), "{tile:?}");
    }
    let retried_elsewhere = activities.iter().filter(|(_, a)| a.attempt >= 2 && a.activity_type != "MeasureTiles").count();
    assert_eq!(retried_elsewhere, 0, "only the killed processor's work is redone: {activities:#?}");

    // Same images, same reports: nothing measured twice is counted twice, nothing is missing.
    assert_same_reports(&fleet.stack, (&clean_id, &clean), (&faulted_id, &faulted)).await?;
    println!("RESILIENCE processor-kill: batch of {} images, {} tile activities redone, outputs lost 0", images.len(), redone.len());
    fleet.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. The video worker killed mid-extraction.

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow: a fleet of worker processes; scripts/test.sh runs it"]
async fn killing_the_video_worker_mid_extraction_resumes_from_the_heartbeat() -> anyhow::Result<()> {
    let _fleet_lock = one_fleet_at_a_time().await;
    let stack = TestStack::start().await?;
    let video_env = [("LOG_LEVEL", "warn,video=info")];
    let first = stack.worker_process(Queue::Video, "video-1", &video_env)?;

    // 1 minute at 25 fps, every frame kept: several heartbeat intervals of extraction, long
    // enough to be killed mid-way.
    let started = Instant::now();
    let mut spec = ClipSpec::three_scenes();
    spec.segments = [[200, 40, 40], [40, 200, 40]].into_iter().map(|color| Segment { color, frames: 750 }).collect();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("long.mp4");
    write_clip(&path, &spec)?;
    let clip = ObjectRef::new(buckets::INPUTS, "faults/video/long.mp4")?;
    stack.storage.put_file(&clip, &path, "video/mp4").await?;

    let output: PrefixRef = format!("s3://{}/faults/video/long", buckets::OUTPUTS).parse()?;
    let mut request = VideoRequest::new(clip.clone(), output, Sampling::EveryNthFrame(1));
    request.frames.format = contracts::video::FrameFormat::Png;
    request.frames.max_frames = 5_000;
    // Small frames and thumbnails: the extraction's pace is set by the decoding and the uploads,
    // and processing them all stays short.
    request.frames.max_width = 64;
    request.process.thumb_width = 32;
    request.activities.extract.heartbeat_ms = 1_000;
    request.activities.extract.retry = RetrySettings { initial_interval_ms: 300, maximum_interval_ms: 1_000, ..RetrySettings::default() };
    let workflow_id = unique_id("video-kill");
    stack.client.start_workflow(VideoPipeline, request, WorkflowStartOptions::new(stack.queue(Queue::Video), workflow_id.clone()).build()).await?;

    eprintln!("clip ready after {:?}", started.elapsed());
    // Strike as soon as the server holds heartbeat details recording uploaded frames.
    let checkpointed = wait_for_segment_checkpoint(&stack, &workflow_id).await?;
    first.kill().await;
    let uploaded_at_kill = stack.storage.list(buckets::OUTPUTS, "faults/video/long/frames/").await?.len();
    assert!(uploaded_at_kill < spec.frame_count() as usize, "the extraction was still going when it was killed");
    let mut second = stack.worker_process(Queue::Video, "video-2", &video_env)?;
    eprintln!("killed after {:?}: {checkpointed} frames checkpointed, {uploaded_at_kill} uploaded", started.elapsed());

    let outcome = result_of::<VideoPipeline>(&stack, &workflow_id).await?;
    eprintln!("finished after {:?}", started.elapsed());
    let extraction = &outcome.extraction;
    assert_eq!(extraction.frames as u64, spec.frame_count(), "{extraction:?}");
    assert_eq!(extraction.attempt, 2, "the killed attempt was retried once: {extraction:?}");
    assert!(
        extraction.resumed_from as usize >= checkpointed,
        "resumed from at least the {checkpointed} frames checkpointed before the kill: {extraction:?}"
    );
    assert!((extraction.resumed_from as usize) <= uploaded_at_kill, "no frame is claimed that was never uploaded: {extraction:?}");
    assert_eq!(
        extraction.resumed_from + extraction.extracted_this_attempt,
        extraction.frames,
        "the new attempt extracted only the rest: {extraction:?}"
    );
    assert!(stack.worker_log("video-2").contains("resuming the segment from its last piece"), "{}", stack.worker_log("video-2"));

    // Every frame exactly once: contiguous indices, one object each, time always moving on.
    let manifest: FrameManifest = serde_json::from_slice(&stack.storage.get(&extraction.manifest).await?)?;
    assert_eq!(manifest.frames.iter().map(|f| f.index).collect::<Vec<_>>(), (0..extraction.frames).collect::<Vec<_>>());
    assert!(manifest.frames.windows(2).all(|w| w[1].frame_number == w[0].frame_number + 1), "no frame lost or repeated at the seam");
    let frame_keys = keys_under(&stack, buckets::OUTPUTS, "faults/video/long/frames/").await?;
    let expected: BTreeSet<String> = manifest.frames.iter().map(|f| f.object.key().to_owned()).collect();
    assert_eq!(frame_keys, expected);
    assert_eq!(outcome.scene_cuts.len(), 1, "{:?}", outcome.scene_cuts);

    // The history shows why: the first attempt's heartbeat timed out when its process died.
    let events = history::events(&stack.client, &workflow_id, None).await?;
    let extract = history::activities(&events).into_iter().find(|a| a.activity_type == "ExtractSegment").expect("ExtractSegment");
    assert_eq!(extract.retried_after.as_ref().and_then(|f| f.error_type.as_deref()), Some("Timeout"), "{extract:?}");
    assert!(second.try_exit_status().is_none(), "the new worker is still running");
    println!(
        "RESILIENCE video-kill: {} frames, {} checkpointed before the kill, resumed from {}, {} extracted again, outputs lost 0",
        extraction.frames, checkpointed, extraction.resumed_from, extraction.extracted_this_attempt
    );
    second.stop(Duration::from_secs(10)).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. The Temporal server restarted mid-batch.

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow: a fleet of worker processes; scripts/test.sh runs it"]
async fn restarting_the_temporal_server_mid_batch_completes_every_workflow() -> anyhow::Result<()> {
    let _fleet_lock = one_fleet_at_a_time().await;
    let mut fleet = Fleet::automation(1).await?;
    let area = unique_id("restart");
    let images = upload_images(&fleet.stack, &area).await?;
    let batch_id = unique_id("restart");
    start_batch(&fleet.stack, &batch_id, &images).await?;
    let before = wait_for_progress(&fleet.stack, &batch_id, "a finished image", |p| p.done >= 1).await?;

    fleet.stack.restart_temporal(Duration::from_secs(2)).await?;
    eprintln!("dev server restarted with {} of {} images done", before.done, images.len());

    let summary = result_of::<AutomationPipeline>(&fleet.stack, &batch_workflow_id(&batch_id)).await?;
    assert_complete(&fleet.stack, &batch_id, &area, &images, &summary).await?;
    fleet.assert_all_running();
    // Every workflow of the batch (the parent and the per-image pipelines) completed.
    let expected_workflows = 1 + images.len();
    let deadline = Instant::now() + Duration::from_secs(30);
    let completed = loop {
        // Visibility trails the histories a little: poll until every close is indexed.
        let completed = history::executions(&fleet.stack.client, "ExecutionStatus = 'Completed'").await?;
        if completed.len() >= expected_workflows || Instant::now() > deadline {
            break completed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(completed.len(), expected_workflows, "{completed:?}");
    let others = history::executions(&fleet.stack.client, "ExecutionStatus != 'Completed'").await?;
    assert!(others.is_empty(), "workflows not completed after the restart: {others:?}");
    println!(
        "RESILIENCE temporal-restart: {} workflows completed across the restart ({} of {} images done before it), outputs lost 0",
        completed.len(),
        before.done,
        images.len()
    );
    fleet.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 4. The S3 endpoint down mid-batch.

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow: a fleet of worker processes; scripts/test.sh runs it"]
async fn an_s3_outage_mid_batch_is_retried_through() -> anyhow::Result<()> {
    let _fleet_lock = one_fleet_at_a_time().await;
    let mut fleet = Fleet::automation(2).await?;
    let area = unique_id("outage");
    let images = upload_images(&fleet.stack, &area).await?;
    let batch_id = unique_id("outage");
    start_batch(&fleet.stack, &batch_id, &images).await?;
    // Strike while images are in flight: the first tiles are written, the batch is not done.
    let first_tiles = format!("automation/{batch_id}/");
    let deadline = Instant::now() + Duration::from_secs(120);
    while fleet.stack.storage.list(buckets::OUTPUTS, &first_tiles).await?.is_empty() {
        anyhow::ensure!(Instant::now() < deadline, "no tile written within 120 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Longer than the S3 client's own retries (3 attempts), so activities fail and Temporal
    // retries them.
    fleet.stack.s3_outage(Duration::from_secs(6)).await?;

    let summary = result_of::<AutomationPipeline>(&fleet.stack, &batch_workflow_id(&batch_id)).await?;
    assert_complete(&fleet.stack, &batch_id, &area, &images, &summary).await?;
    fleet.assert_all_running();

    let activities = batch_activities(&fleet.stack, &batch_id, &images).await?;
    let retried: Vec<&ActivityRecord> = activities.iter().map(|(_, a)| a).filter(|a| a.attempt >= 2).collect();
    assert!(!retried.is_empty(), "no activity was retried: the outage hit nothing in flight: {activities:#?}");
    let storage_faults = retried
        .iter()
        .filter(|a| a.retried_after.as_ref().is_some_and(|f| f.error_type.as_deref() == Some("Transient") && f.message.contains("storage")))
        .count();
    assert!(storage_faults >= 1, "no retry was caused by the storage outage: {retried:#?}");
    for (_, activity) in &activities {
        assert_eq!(activity.end, history::ActivityEnd::Completed, "{activity:?}");
    }
    println!(
        "RESILIENCE s3-outage: {} activities retried after the 6 s outage ({storage_faults} on a storage failure), outputs lost 0",
        retried.len()
    );
    fleet.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 5. The same batch submitted twice.

/// SHA-256 of every object under a prefix, by key.
async fn snapshot(stack: &TestStack, bucket: &str, prefix: &str) -> anyhow::Result<BTreeMap<String, String>> {
    use sha2::{Digest, Sha256};
    let mut out = BTreeMap::new();
    for object in stack.storage.list(bucket, prefix).await? {
        let bytes = stack.storage.get(&object).await?;
        out.insert(object.key().to_owned(), hex::encode(Sha256::digest(&bytes)));
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow: a fleet of worker processes; scripts/test.sh runs it"]
async fn resubmitting_a_batch_overwrites_its_outputs_and_adds_none() -> anyhow::Result<()> {
    let _fleet_lock = one_fleet_at_a_time().await;
    let mut fleet = Fleet::automation(1).await?;
    let area = unique_id("resubmit");
    let images = upload_images(&fleet.stack, &area).await?;
    let batch_id = unique_id("resubmit");
    let first_run = start_batch(&fleet.stack, &batch_id, &images).await?;
    let first = result_of::<AutomationPipeline>(&fleet.stack, &batch_workflow_id(&batch_id)).await?;
    assert_complete(&fleet.stack, &batch_id, &area, &images, &first).await?;
    let outputs_before = snapshot(&fleet.stack, buckets::OUTPUTS, &format!("automation/{batch_id}/")).await?;
    let inputs_before = snapshot(&fleet.stack, buckets::INPUTS, &format!("faults/{area}/")).await?;

    // Same batch id, so the same workflow ids, child ids and output keys.
    let resubmitted_at = std::time::SystemTime::now();
    let second_run = start_batch(&fleet.stack, &batch_id, &images).await?;
    assert_ne!(first_run, second_run, "the resubmission is a new run of the same workflow id");
    let second = result_of::<AutomationPipeline>(&fleet.stack, &batch_workflow_id(&batch_id)).await?;
    assert_complete(&fleet.stack, &batch_id, &area, &images, &second).await?;
    assert_eq!(second.images, first.images, "same outcomes, same output references");

    let outputs_after = snapshot(&fleet.stack, buckets::OUTPUTS, &format!("automation/{batch_id}/")).await?;
    let inputs_after = snapshot(&fleet.stack, buckets::INPUTS, &format!("faults/{area}/")).await?;
    assert_eq!(outputs_after.len(), outputs_before.len(), "no output added");
    assert_eq!(outputs_after, outputs_before, "every output has the same key and the same bytes");
    assert_eq!(inputs_after, inputs_before, "no sidecar added beside the inputs");

    // The second run did the work again (it did not find the old results and stop): every
    // output file was written again after the resubmission.
    let root = fleet.stack.s3.root().join(buckets::OUTPUTS);
    for key in outputs_after.keys() {
        let modified = std::fs::metadata(root.join(key))?.modified()?;
        assert!(modified >= resubmitted_at, "{key} was not rewritten by the second run");
    }
    let mut validations = 0;
    for (id, run, _) in history::executions(&fleet.stack.client, "WorkflowType = 'ImagePipeline'").await? {
        let events = history::events(&fleet.stack.client, &id, Some(&run)).await?;
        validations += history::activities(&events).iter().filter(|a| a.activity_type == "ValidateImage").count();
    }
    assert_eq!(validations, 2 * NAVAD_IMAGES, "each image ingested once per submission");
    println!("RESILIENCE resubmit: {} outputs before and after the second submission, 0 added", outputs_after.len());
    fleet.assert_all_running();
    fleet.stop().await;
    Ok(())
}
