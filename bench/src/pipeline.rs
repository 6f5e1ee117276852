//! Section 3, end to end (and the fleet half of section 5, memory): a batch of generated
//! 1-megapixel navad images (`samples::navad`, three sharp for every blurred one) through the
//! whole automation pipeline on the embedded stack (`devstack::Stack`: dev server, S3 endpoint,
//! and the real worker binaries as processes). Reports images per second, where each image's
//! wall time went (activities running, activities queued, orchestration), from the workflow
//! histories of the whole tree (batch -> ImagePipeline -> IngestImage / AnalyzeAccuracy), and
//! each worker process's resident memory idle and at its peak.

use crate::history::{self, ActivitySpan, ActivityStats, HistoryStats, RunTimeline, TimeSplit};
use crate::machine::{self, Rss};
use crate::stackutil;
use anyhow::Context as _;
use contracts::automation::{AutomationPipeline, AutomationRequest, AutomationSettings, BatchSource, ImageInput, ImageKind};
use contracts::{ObjectRef, Queue, buckets};
use devstack::{Stack, StackConfig, ports};
use fleet::Storage;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};
use temporalio_client::{Client, WorkflowExecutionInfo, WorkflowGetResultOptions, WorkflowStartOptions};

/// The worker binaries the navad path needs (the others are not started).
pub const NAVAD_QUEUES: [Queue; 4] = [Queue::Orchestrator, Queue::Ingestion, Queue::AccuracyDispatcher, Queue::AccuracyProcessor];

/// Task-queue prefix of the benchmark's stack.
const QUEUE_PREFIX: &str = "bench-";

/// Sizes of the section.
#[derive(Debug, Clone, Serialize)]
pub struct EndToEndSettings {
    /// Images in the batch.
    pub images: usize,
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
}

/// One worker process's memory.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerMemory {
    /// The binary.
    pub binary: String,
    /// Once polling, before the batch.
    pub idle: Rss,
    /// After the batch (`peak_kib` is the high-water mark of the run).
    pub after: Rss,
    /// CPU time it used during the batch, seconds.
    pub cpu_seconds: f64,
}

/// The section's result.
#[derive(Debug, Clone, Serialize)]
pub struct EndToEndResult {
    /// Sizes used.
    pub settings: EndToEndSettings,
    /// The batch's settings (concurrency, tile grid, thresholds).
    pub automation: AutomationSettings,
    /// Megapixels per image.
    pub megapixels_per_image: f64,
    /// From starting the batch to its result, as the client saw it.
    pub seconds: f64,
    /// Images over `seconds`.
    pub images_per_second: f64,
    /// Megapixels over `seconds`.
    pub megapixels_per_second: f64,
    /// The batch's first event to its last (all runs), from the history.
    pub batch_history_seconds: f64,
    /// Images that passed the accuracy thresholds.
    pub passed: u64,
    /// Images analysed and below the thresholds (the blurred ones).
    pub failed_accuracy: u64,
    /// Where the per-image wall time went.
    pub per_image: TimeSplit,
    /// Per activity type.
    pub activities: BTreeMap<String, ActivityStats>,
    /// Per workflow type.
    pub histories: BTreeMap<String, HistoryStats>,
    /// Each worker process.
    pub workers: Vec<WorkerMemory>,
}

/// Runs the section with the stack's data under `dir`.
pub async fn run(settings: &EndToEndSettings, dir: &Path) -> anyhow::Result<EndToEndResult> {
    let (access_key, secret_key) = ("bench".to_owned(), "bench-secret-key".to_owned());
    let mut scale = BTreeMap::new();
    for queue in Queue::ALL {
        scale.insert(queue, usize::from(NAVAD_QUEUES.contains(&queue)));
    }
    let no_profile = dir.join("no-temporal.toml").display().to_string();
    let stack_config = StackConfig {
        data_dir: dir.to_owned(),
        temporal_port: ports::free_port()?,
        ui_port: None,
        s3_port: ports::free_port()?,
        namespace: "default".to_owned(),
        s3_access_key: access_key.clone(),
        s3_secret_key: secret_key.clone(),
        scale,
        start_workers: true,
        worker_env: vec![
            ("LOG_LEVEL".to_owned(), "warn".to_owned()),
            ("TASK_QUEUE_PREFIX".to_owned(), QUEUE_PREFIX.to_owned()),
            ("TEMPORAL_CONFIG_FILE".to_owned(), no_profile),
        ],
        metrics_base_port: None,
    };
    let mut stack = Stack::start(&stack_config).await.context("starting the embedded stack (run bench/run.sh: it builds the worker binaries)")?;
    let outcome = measure(settings, &mut stack, &access_key, &secret_key).await;
    stack.stop(Duration::from_secs(10)).await;
    outcome
}

async fn measure(settings: &EndToEndSettings, stack: &mut Stack, access_key: &str, secret_key: &str) -> anyhow::Result<EndToEndResult> {
    let config = bench::config::fleet_config(
        &stack.temporal.address(),
        "default",
        &[
            ("S3_ENDPOINT", stack.s3.endpoint()),
            ("AWS_ACCESS_KEY_ID", access_key.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", secret_key.to_owned()),
            ("TASK_QUEUE_PREFIX", QUEUE_PREFIX.to_owned()),
        ],
    )?;
    let client = fleet::temporal::connect(&config).await?;
    let storage = Storage::new(&config.s3);
    for queue in NAVAD_QUEUES {
        let waited =
            stackutil::wait_for_pollers(&client, "default", &config.queue(queue), queue == Queue::AccuracyProcessor, Duration::from_secs(90)).await;
        if let Err(e) = waited {
            let exited = stack.exited_workers();
            anyhow::bail!("{e:#}; exited workers: {exited:?}; logs in {}", stack.log_dir.display());
        }
    }

    let batch_id = format!("bench-{}", stackutil::nonce());
    let images = upload_images(settings, &storage, &batch_id).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pids: Vec<(String, u32)> = stack
        .workers
        .iter()
        .map(|w| Ok((w.name.clone(), w.pid().with_context(|| format!("worker {} has exited", w.name))?)))
        .collect::<anyhow::Result<_>>()?;
    let idle: Vec<Rss> = pids.iter().map(|(_, pid)| machine::rss(*pid)).collect::<anyhow::Result<_>>()?;
    let cpu_before: Vec<f64> = pids.iter().map(|(_, pid)| machine::cpu_seconds(*pid)).collect::<anyhow::Result<_>>()?;

    let automation = AutomationSettings::default();
    let request = AutomationRequest {
        batch_id: batch_id.clone(),
        source: BatchSource::Objects(images.into_iter().map(|object| ImageInput { object, kind: Some(ImageKind::Navad) }).collect()),
        output_bucket: buckets::OUTPUTS.to_owned(),
        settings: automation.clone(),
        carried: None,
    };
    let workflow_id = contracts::automation::batch_workflow_id(&batch_id);
    println!("  running batch {workflow_id}: {} images of {}x{}", settings.images, settings.width, settings.height);
    let started = Instant::now();
    let options = WorkflowStartOptions::new(config.queue(Queue::Orchestrator), workflow_id.clone()).build();
    let handle = client.start_workflow(AutomationPipeline, request, options).await?;
    let first_run = handle.info().run_id.clone().context("the started batch has no run id")?;
    let summary = handle.get_result(WorkflowGetResultOptions::default()).await.context("the batch failed")?;
    let seconds = started.elapsed().as_secs_f64();
    let after: Vec<Rss> = pids.iter().map(|(_, pid)| machine::rss(*pid)).collect::<anyhow::Result<_>>()?;
    let cpu_after: Vec<f64> = pids.iter().map(|(_, pid)| machine::cpu_seconds(*pid)).collect::<anyhow::Result<_>>()?;
    let totals = &summary.totals;
    anyhow::ensure!(
        totals.images == settings.images as u64 && totals.errors == 0 && totals.passed + totals.failed_accuracy == totals.images,
        "the batch did not handle every image cleanly: {totals:?} (logs in {})",
        stack.log_dir.display()
    );

    let runs = fetch_tree(&client, &workflow_id, &first_run).await?;
    let mut per_image = TimeSplit::default();
    for (key, run) in &runs {
        if run.workflow_type == contracts::automation::ImagePipeline::NAME {
            let mut spans = Vec::new();
            descendant_activities(&runs, key, &mut spans);
            per_image.add(run.start, run.end, &spans);
        }
    }
    anyhow::ensure!(per_image.workflows == settings.images, "found {} ImagePipeline histories for {} images", per_image.workflows, settings.images);
    let batch_runs: Vec<&RunTimeline> = runs.values().filter(|r| r.workflow_type == AutomationPipeline::NAME).collect();
    let batch_start = batch_runs.iter().map(|r| r.start).fold(f64::INFINITY, f64::min);
    let batch_end = batch_runs.iter().map(|r| r.end).fold(f64::NEG_INFINITY, f64::max);

    let megapixels_per_image = f64::from(settings.width) * f64::from(settings.height) / 1e6;
    Ok(EndToEndResult {
        settings: settings.clone(),
        automation,
        megapixels_per_image,
        seconds,
        images_per_second: settings.images as f64 / seconds,
        megapixels_per_second: settings.images as f64 * megapixels_per_image / seconds,
        batch_history_seconds: batch_end - batch_start,
        passed: totals.passed,
        failed_accuracy: totals.failed_accuracy,
        per_image,
        activities: history::activity_stats(runs.values()),
        histories: history::history_stats(runs.values()),
        workers: pids
            .into_iter()
            .zip(idle.into_iter().zip(after))
            .zip(cpu_before.into_iter().zip(cpu_after))
            .map(|(((name, _), (idle, after)), (before, after_cpu))| WorkerMemory {
                binary: format!("{name}-worker"),
                idle,
                after,
                cpu_seconds: after_cpu - before,
            })
            .collect(),
    })
}

/// Generates the images once (three sharp for every blurred one) and uploads the batch.
async fn upload_images(settings: &EndToEndSettings, storage: &Storage, batch_id: &str) -> anyhow::Result<Vec<ObjectRef>> {
    let (width, height) = (settings.width, settings.height);
    let (sharp, blurred) =
        tokio::task::spawn_blocking(move || anyhow::Ok((samples::navad::sharp_jpeg(width, height)?, samples::navad::blurred_jpeg(width, height)?)))
            .await??;
    let objects: Vec<(ObjectRef, Vec<u8>)> = (0..settings.images)
        .map(|i| {
            let (kind, bytes) = if i % 4 == 3 { ("blurred", &blurred) } else { ("sharp", &sharp) };
            Ok((ObjectRef::new(buckets::INPUTS, format!("bench/{batch_id}/navad-{i:04}-{kind}.jpg"))?, bytes.clone()))
        })
        .collect::<anyhow::Result<_>>()?;
    let refs = objects.iter().map(|(o, _)| o.clone()).collect();
    futures::stream::iter(objects)
        .map(|(object, bytes)| async move { storage.put(&object, bytes, "image/jpeg").await.with_context(|| format!("uploading {object}")) })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(refs)
}

type RunKey = (String, String);

/// Every run of the tree under the batch: its continued runs and all descendants.
async fn fetch_tree(client: &Client, workflow_id: &str, run_id: &str) -> anyhow::Result<HashMap<RunKey, RunTimeline>> {
    let mut runs = HashMap::new();
    let mut frontier: Vec<RunKey> = vec![(workflow_id.to_owned(), run_id.to_owned())];
    while !frontier.is_empty() {
        let fetched: Vec<(RunKey, RunTimeline)> = futures::stream::iter(std::mem::take(&mut frontier))
            .map(|key| async move {
                let info = WorkflowExecutionInfo::builder().namespace("default").workflow_id(key.0.clone()).run_id(key.1.clone()).build();
                let events = info
                    .bind_untyped(client.clone())
                    .fetch_history(Default::default())
                    .into_events()
                    .await
                    .with_context(|| format!("history of {} ({})", key.0, key.1))?;
                anyhow::Ok((key, history::timeline(&events)))
            })
            .buffer_unordered(16)
            .try_collect()
            .await?;
        for (key, run) in fetched {
            if let Some(next) = &run.continued_as {
                frontier.push((key.0.clone(), next.clone()));
            }
            frontier.extend(run.children.iter().cloned());
            runs.insert(key, run);
        }
    }
    Ok(runs)
}

/// The activities of a run and of all its descendants.
fn descendant_activities<'a>(runs: &'a HashMap<RunKey, RunTimeline>, key: &RunKey, out: &mut Vec<&'a ActivitySpan>) {
    let Some(run) = runs.get(key) else { return };
    out.extend(run.activities.iter());
    for child in &run.children {
        descendant_activities(runs, child, out);
    }
}
