//! Section 3, end to end (and the fleets' half of section 5, memory): batches of images through
//! the whole automation pipeline (`AutomationPipeline` -> `ImagePipeline` -> `IngestImage`,
//! `AnalyzeAccuracy` or `Geolocalize`), served once by the Rust fleet and once by its Python
//! twin (bench/peer/fleet_twin), each on a stack of its own ([`crate::fleet_stack`]: the same
//! `temporal` dev server build, the same embedded S3 endpoint, one process per role). The same
//! request, with the same image bytes under the same keys, goes to both.
//!
//! Per batch and fleet: images per second as the client sees it; the CPU seconds per image of
//! every process of the stack (dev server, S3 endpoint, each worker, from /proc); the sum of
//! the workers' peak RSS during the batch; history events and Temporal Cloud billable actions
//! per image, counted over the histories of every workflow of the batch; and each image's wall
//! time split into activities running, activities queued, and orchestration (the rest). Both
//! fleets must give every image the same status and score, or the run fails (after writing its
//! report, which lists the differences): scores within 1e-6 for lossless inputs and within 1e-3
//! for JPEGs, whose decoders differ (the Rust workers decode with zune-jpeg, Pillow with
//! libjpeg-turbo: about 1 % of the pixels of the sample JPEGs differ by 1-3 grey levels, which
//! moves the noise estimate and so the score by about 1e-4; PNG and TIFF tiles are identical and
//! their scores agree within 1e-13).

use crate::fleet_stack::{FleetKind, FleetStack, IMAGE_ROLES, Part, Twin};
use crate::history::{self, ActionCounts, ActivitySpan, ActivityStats, HistoryStats, RunTimeline, TimeSplit};
use crate::machine::{self, Rss};
use crate::stackutil;
use anyhow::Context as _;
use contracts::automation::{
    AutomationPipeline, AutomationRequest, AutomationSettings, BatchSource, BatchTotals, ImageInput, ImageKind, ImageStatus,
};
use contracts::{ObjectRef, Queue, buckets};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use temporalio_client::{Client, WorkflowExecutionInfo, WorkflowGetResultOptions, WorkflowStartOptions};

/// Largest difference between the fleets' scores of one lossless image (PNG, TIFF).
const SCORE_TOLERANCE: f64 = 1e-6;
/// Largest difference between the fleets' scores of one JPEG (see the module docs).
const JPEG_SCORE_TOLERANCE: f64 = 1e-3;

/// The score tolerance of an image, by its key's extension.
fn score_tolerance(key: &str) -> f64 {
    let lower = key.to_ascii_lowercase();
    if lower.ends_with(".jpg") || lower.ends_with(".jpeg") { JPEG_SCORE_TOLERANCE } else { SCORE_TOLERANCE }
}

/// One batch of the section.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSpec {
    /// Short name (`navad-1mp`, `navad-12mp`, `mix`): batch ids and the table.
    pub name: String,
    /// Images in the batch.
    pub images: usize,
    /// Navad JPEG size (three sharp for every blurred one, `samples::navad`).
    pub navad_width: u32,
    /// Navad JPEG height.
    pub navad_height: u32,
    /// Every `satellite_every`-th image (the last of each group) is a satellite GeoTIFF
    /// (`samples::geotiff`, EPSG:4326 and UTM 33N in turn); 0 for none.
    pub satellite_every: usize,
    /// Satellite GeoTIFF side (square, 8-bit grayscale).
    pub satellite_side: u32,
}

impl BatchSpec {
    /// How the table names it.
    pub fn describe(&self) -> String {
        let mp = f64::from(self.navad_width) * f64::from(self.navad_height) / 1e6;
        let mp = if mp >= 10.0 { format!("{mp:.0} MP") } else { format!("{mp:.1} MP") };
        match self.images.checked_div(self.satellite_every) {
            None => format!("{} navad JPEGs of {mp} ({}x{})", self.images, self.navad_width, self.navad_height),
            Some(satellites) => {
                let side = self.satellite_side;
                format!("{} images: {} navad JPEGs of {mp}, {satellites} satellite GeoTIFFs of {side}x{side}", self.images, self.images - satellites)
            }
        }
    }
}

/// Sizes of the section.
#[derive(Debug, Clone, Serialize)]
pub struct EndToEndSettings {
    /// The batches, run in this order on each fleet's stack.
    pub batches: Vec<BatchSpec>,
}

/// CPU seconds per image, by part of the stack.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuPerImage {
    /// Every process of the stack.
    pub total: f64,
    /// The Temporal dev server.
    pub server: f64,
    /// The S3 endpoint.
    pub s3: f64,
    /// The workers together.
    pub workers: f64,
}

/// One process during one batch.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessUsage {
    /// The process (`temporal server`, `S3 endpoint`, or the worker's role).
    pub name: String,
    /// Its part of the stack.
    pub part: Part,
    /// CPU time during the batch (its descendants included), seconds.
    pub cpu_seconds: f64,
    /// Peak RSS during the batch (its descendants included), MiB.
    pub peak_mib: f64,
    /// Processes in its tree (more than 1: the process has children, e.g. a process pool).
    pub processes: usize,
}

/// One fleet's numbers for one batch.
#[derive(Debug, Clone, Serialize)]
pub struct FleetBatch {
    /// Which fleet.
    pub fleet: FleetKind,
    /// From starting the batch to its result, as the client saw it.
    pub seconds: f64,
    /// Images over `seconds`.
    pub images_per_second: f64,
    /// Megapixels over `seconds`.
    pub megapixels_per_second: f64,
    /// The batch's first event to its last (all runs), from the history.
    pub batch_history_seconds: f64,
    /// The batch's totals.
    pub totals: BatchTotals,
    /// Where each image's wall time went (over the `ImagePipeline` runs and their subtrees).
    pub per_image: TimeSplit,
    /// `per_image.orchestration_seconds` per image.
    pub orchestration_seconds_per_image: f64,
    /// Per activity type.
    pub activities: BTreeMap<String, ActivityStats>,
    /// Per workflow type.
    pub histories: BTreeMap<String, HistoryStats>,
    /// Workflow runs in the batch's tree.
    pub runs: usize,
    /// History events of every run, per image.
    pub events_per_image: f64,
    /// Billable actions of every run, by kind.
    pub actions: ActionCounts,
    /// `actions.total()` per image.
    pub actions_per_image: f64,
    /// The server's own `action` counter over the batch, by action type (heartbeats and every
    /// other action the server counts); `None` when its metrics were not found.
    pub server_actions: Option<BTreeMap<String, u64>>,
    /// All of `server_actions` per image.
    pub server_actions_per_image: Option<f64>,
    /// The heartbeat action types of `server_actions` per image.
    pub server_heartbeats_per_image: Option<f64>,
    /// Every process of the stack.
    pub processes: Vec<ProcessUsage>,
    /// CPU seconds per image.
    pub cpu_seconds_per_image: CpuPerImage,
    /// Sum of the workers' peak RSS during the batch, MiB.
    pub workers_peak_rss_mib: f64,
    /// Whether every peak was reset before the batch (else the peaks are since start).
    pub peaks_reset: bool,
    /// CPU time of the harness (the client waiting for the result) during the batch, seconds.
    pub harness_cpu_seconds: f64,
}

/// One batch on both fleets.
#[derive(Debug, Clone, Serialize)]
pub struct BatchResult {
    /// What the batch was.
    pub spec: BatchSpec,
    /// Megapixels in the batch.
    pub megapixels: f64,
    /// Input bytes in the batch.
    pub input_bytes: u64,
    /// The Rust fleet.
    pub rust: FleetBatch,
    /// The Python twin, when it ran.
    pub twin: Option<FleetBatch>,
    /// Images whose verdicts were compared (0 without the twin).
    pub verdicts_compared: usize,
    /// Images on which the fleets disagree (status, or score beyond its tolerance), one line each:
    /// any makes the run fail, after the report is written.
    pub verdict_differences: Vec<String>,
}

/// One worker process's memory over the section.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerMemory {
    /// Its role (task queue base name).
    pub role: String,
    /// Once polling, before any batch.
    pub idle: Rss,
    /// Highest peak RSS over the batches, KiB.
    pub peak_kib: u64,
    /// Its CPU time over every batch, seconds.
    pub cpu_seconds: f64,
}

/// The section's result.
#[derive(Debug, Clone, Serialize)]
pub struct EndToEndResult {
    /// Sizes used.
    pub settings: EndToEndSettings,
    /// The batches' settings (concurrency, tile grid, thresholds): the defaults, with
    /// `images_per_run` raised to a batch's size when smaller, so every outcome is in the
    /// result.
    pub automation: AutomationSettings,
    /// Each batch.
    pub batches: Vec<BatchResult>,
    /// The Rust fleet's workers.
    pub workers: Vec<WorkerMemory>,
    /// The twin's workers (empty when it did not run).
    pub twin_workers: Vec<WorkerMemory>,
    /// Why the twin did not run, when it did not.
    pub twin_missing: Option<String>,
    /// `temporalio` version of the twin.
    pub twin_sdk: Option<String>,
}

/// The verdict of one image: status and score.
type Verdicts = BTreeMap<String, (ImageStatus, Option<f64>)>;

/// One fleet over every batch.
struct FleetRun {
    batches: Vec<FleetBatch>,
    verdicts: Vec<Verdicts>,
    workers: Vec<WorkerMemory>,
}

/// A batch's objects and bytes, made once and uploaded to both stacks.
struct BatchInputs {
    images: Vec<(ImageInput, Arc<Vec<u8>>, &'static str)>,
    megapixels: f64,
    bytes: u64,
}

/// Runs the section: the Rust fleet's stack under `dir/rust`, then, unless `twin` is `None`
/// or unusable, the twin's under `dir/twin`.
pub async fn run(settings: &EndToEndSettings, twin: Option<&Twin>, dir: &Path) -> anyhow::Result<EndToEndResult> {
    let nonce = stackutil::nonce();
    let mut inputs = Vec::new();
    for spec in &settings.batches {
        let spec = spec.clone();
        let batch_id = format!("e2e-{}-{nonce}", spec.name);
        inputs.push((batch_id.clone(), tokio::task::spawn_blocking(move || make_inputs(&spec, &batch_id)).await??));
    }
    let twin_missing = match twin {
        None => Some("not requested (--no-twin)".to_owned()),
        Some(t) => t.unusable().await,
    };
    if let Some(why) = &twin_missing {
        println!("  Python twin: not run: {why}");
    }
    let automation = |spec: &BatchSpec| AutomationSettings {
        // Every outcome in the result (the fleets' verdicts are compared from it).
        images_per_run: AutomationSettings::default().images_per_run.max(u32::try_from(spec.images).unwrap_or(u32::MAX)),
        ..AutomationSettings::default()
    };

    println!("  Rust fleet");
    let rust = run_fleet(FleetKind::Rust, None, settings, &inputs, &automation, &[], &dir.join("rust")).await.context("the Rust fleet")?;
    let (twin_run, twin_sdk) = match (twin, &twin_missing) {
        (Some(t), None) => {
            println!("  Python twin");
            let sdk = crate::peer::python_package_version(&t.python, "temporalio").await.ok();
            (
                Some(
                    run_fleet(FleetKind::PythonTwin, Some(t), settings, &inputs, &automation, &[], &dir.join("twin"))
                        .await
                        .context("the Python twin")?,
                ),
                sdk,
            )
        }
        _ => (None, None),
    };

    let mut batches = Vec::new();
    for (i, (spec, (_, input))) in settings.batches.iter().zip(&inputs).enumerate() {
        let (verdicts_compared, verdict_differences) = match &twin_run {
            Some(t) => (rust.verdicts[i].len(), verdict_differences(&rust.verdicts[i], &t.verdicts[i])),
            None => (0, Vec::new()),
        };
        batches.push(BatchResult {
            spec: spec.clone(),
            megapixels: input.megapixels,
            input_bytes: input.bytes,
            rust: rust.batches[i].clone(),
            twin: twin_run.as_ref().map(|t| t.batches[i].clone()),
            verdicts_compared,
            verdict_differences,
        });
    }
    Ok(EndToEndResult {
        settings: settings.clone(),
        automation: AutomationSettings::default(),
        batches,
        workers: rust.workers,
        twin_workers: twin_run.map(|t| t.workers).unwrap_or_default(),
        twin_missing,
        twin_sdk,
    })
}

impl EndToEndResult {
    /// Fails when the fleets disagreed on any image of any batch.
    pub fn check_verdicts(&self) -> anyhow::Result<()> {
        let failed: Vec<String> = self
            .batches
            .iter()
            .filter(|b| !b.verdict_differences.is_empty())
            .map(|b| {
                format!(
                    "batch {}: the fleets disagree on {} of {} images (status, or score beyond {SCORE_TOLERANCE}, {JPEG_SCORE_TOLERANCE} for JPEGs):\n  {}",
                    b.spec.name,
                    b.verdict_differences.len(),
                    b.verdicts_compared,
                    b.verdict_differences.iter().take(10).cloned().collect::<Vec<_>>().join("\n  ")
                )
            })
            .collect();
        anyhow::ensure!(failed.is_empty(), "{}", failed.join("\n"));
        Ok(())
    }
}

/// The images on which the fleets disagree: a different status, scores further apart than
/// [`score_tolerance`], or an image only one of them reports.
fn verdict_differences(rust: &Verdicts, twin: &Verdicts) -> Vec<String> {
    let mut differences = Vec::new();
    for key in rust.keys().chain(twin.keys().filter(|k| !rust.contains_key(*k))) {
        let (r, t) = (rust.get(key), twin.get(key));
        let same = match (r, t) {
            (Some((rs, rscore)), Some((ts, tscore))) => {
                rs == ts
                    && match (rscore, tscore) {
                        (Some(a), Some(b)) => (a - b).abs() <= score_tolerance(key),
                        (None, None) => true,
                        _ => false,
                    }
            }
            _ => false,
        };
        if !same {
            differences.push(format!("{key}: Rust {r:?}, twin {t:?}"));
        }
    }
    differences
}

/// Generates a batch's images: navad JPEGs (three sharp for every blurred one) and, when the
/// batch has them, satellite GeoTIFFs.
fn make_inputs(spec: &BatchSpec, batch_id: &str) -> anyhow::Result<BatchInputs> {
    let (w, h) = (spec.navad_width, spec.navad_height);
    let sharp = Arc::new(samples::navad::sharp_jpeg(w, h)?);
    let blurred = Arc::new(samples::navad::blurred_jpeg(w, h)?);
    let side = spec.satellite_side;
    let (wgs84, utm) = if spec.satellite_every > 0 {
        (
            Arc::new(samples::geotiff::geotiff_wgs84(side, side, -9.2, 38.8, 0.0001)),
            Arc::new(samples::geotiff::geotiff_utm(side, side, samples::geotiff::UTM_33N, 600_000.0, 5_340_000.0, 10.0)),
        )
    } else {
        (Arc::default(), Arc::default())
    };
    let mut images = Vec::new();
    let (mut navad, mut satellite) = (0usize, 0usize);
    let mut megapixels = 0.0;
    for i in 0..spec.images {
        let is_satellite = spec.satellite_every > 0 && i % spec.satellite_every == spec.satellite_every - 1;
        let (name, bytes, content_type, kind) = if is_satellite {
            satellite += 1;
            megapixels += f64::from(side) * f64::from(side) / 1e6;
            let (crs, bytes) = if satellite % 2 == 1 { ("wgs84", &wgs84) } else { ("utm33n", &utm) };
            (format!("satellite-{i:04}-{crs}.tif"), bytes.clone(), "image/tiff", ImageKind::Satellite)
        } else {
            navad += 1;
            megapixels += f64::from(w) * f64::from(h) / 1e6;
            let (look, bytes) = if navad % 4 == 0 { ("blurred", &blurred) } else { ("sharp", &sharp) };
            (format!("navad-{i:04}-{look}.jpg"), bytes.clone(), "image/jpeg", ImageKind::Navad)
        };
        let object = ObjectRef::new(buckets::INPUTS, format!("bench/{batch_id}/{name}"))?;
        images.push((ImageInput { object, kind: Some(kind) }, bytes, content_type));
    }
    let bytes = images.iter().map(|(_, b, _)| b.len() as u64).sum();
    Ok(BatchInputs { images, megapixels, bytes })
}

/// The Rust fleet alone on the batches of `settings`, its workers given `worker_env` (a tuning
/// to compare): each batch's figures, in order.
pub async fn run_rust_fleet(settings: &EndToEndSettings, worker_env: &[(&str, &str)], dir: &Path) -> anyhow::Result<Vec<FleetBatch>> {
    let nonce = stackutil::nonce();
    let mut inputs = Vec::new();
    for spec in &settings.batches {
        let spec = spec.clone();
        let batch_id = format!("tuning-{}-{nonce}", spec.name);
        inputs.push((batch_id.clone(), tokio::task::spawn_blocking(move || make_inputs(&spec, &batch_id)).await??));
    }
    let automation = |_: &BatchSpec| AutomationSettings::default();
    Ok(run_fleet(FleetKind::Rust, None, settings, &inputs, &automation, worker_env, dir).await?.batches)
}

/// Starts one fleet's stack, runs every batch on it, stops it.
async fn run_fleet(
    kind: FleetKind,
    twin: Option<&Twin>,
    settings: &EndToEndSettings,
    inputs: &[(String, BatchInputs)],
    automation: &dyn Fn(&BatchSpec) -> AutomationSettings,
    worker_env: &[(&str, &str)],
    dir: &Path,
) -> anyhow::Result<FleetRun> {
    let started = Instant::now();
    let mut stack = FleetStack::start(kind, dir, twin, &IMAGE_ROLES, worker_env).await?;
    println!("    stack up in {:.1} s (logs in {})", started.elapsed().as_secs_f64(), stack.log_dir.display());
    let outcome = run_batches(&mut stack, settings, inputs, automation).await;
    let outcome = match outcome {
        Err(e) => {
            let exited = stack.exited_workers();
            Err(if exited.is_empty() { e } else { e.context(format!("exited workers: {}", exited.join("; "))) })
        }
        ok => ok,
    };
    stack.stop().await;
    outcome
}

async fn run_batches(
    stack: &mut FleetStack,
    settings: &EndToEndSettings,
    inputs: &[(String, BatchInputs)],
    automation: &dyn Fn(&BatchSpec) -> AutomationSettings,
) -> anyhow::Result<FleetRun> {
    // Let the workers settle after connecting before reading their idle memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = stack.rss()?;
    let mut peaks = vec![0u64; stack.processes.len()];
    let mut cpu = vec![0.0f64; stack.processes.len()];
    let mut batches = Vec::new();
    let mut verdicts = Vec::new();
    for (spec, (batch_id, input)) in settings.batches.iter().zip(inputs) {
        let (batch, outcome) = run_batch(stack, spec, batch_id, input, automation(spec)).await.with_context(|| format!("batch {}", spec.name))?;
        for (i, p) in batch.processes.iter().enumerate() {
            peaks[i] = peaks[i].max((p.peak_mib * 1024.0) as u64);
            cpu[i] += p.cpu_seconds;
        }
        batches.push(batch);
        verdicts.push(outcome);
    }
    let workers = stack
        .processes
        .iter()
        .enumerate()
        .filter(|(_, p)| p.part == Part::Worker)
        .map(|(i, p)| WorkerMemory { role: p.name.clone(), idle: idle[i], peak_kib: peaks[i], cpu_seconds: cpu[i] })
        .collect();
    Ok(FleetRun { batches, verdicts, workers })
}

async fn run_batch(
    stack: &mut FleetStack,
    spec: &BatchSpec,
    batch_id: &str,
    input: &BatchInputs,
    automation: AutomationSettings,
) -> anyhow::Result<(FleetBatch, Verdicts)> {
    let storage = &stack.storage;
    futures::stream::iter(&input.images)
        .map(|(image, bytes, content_type)| async move {
            storage.put(&image.object, (**bytes).clone(), content_type).await.with_context(|| format!("uploading {}", image.object))
        })
        .buffer_unordered(8)
        .try_collect::<Vec<()>>()
        .await?;
    let request = AutomationRequest {
        batch_id: batch_id.to_owned(),
        source: BatchSource::Objects(input.images.iter().map(|(image, _, _)| image.clone()).collect()),
        output_bucket: buckets::OUTPUTS.to_owned(),
        settings: automation,
        carried: None,
    };
    let workflow_id = contracts::automation::batch_workflow_id(batch_id);
    print!("    {}: {} ... ", spec.name, spec.describe());
    std::io::Write::flush(&mut std::io::stdout())?;

    let actions_before = match stack.metrics_port {
        Some(port) => Some(crate::server_metrics::settled_actions(port, "default").await?),
        None => None,
    };
    let peaks_reset = stack.reset_peaks();
    let cpu_before = stack.cpu_seconds()?;
    let harness_before = machine::cpu_seconds(std::process::id())?;
    let started = Instant::now();
    let options = WorkflowStartOptions::new(stack.config.queue(Queue::Orchestrator), workflow_id.clone()).build();
    let handle = stack.client.start_workflow(AutomationPipeline, request, options).await?;
    let first_run = handle.info().run_id.clone().context("the started batch has no run id")?;
    let summary = handle.get_result(WorkflowGetResultOptions::default()).await.context("the batch failed")?;
    let seconds = started.elapsed().as_secs_f64();
    let harness_cpu_seconds = machine::cpu_seconds(std::process::id())? - harness_before;
    let cpu_after = stack.cpu_seconds()?;
    let after = stack.rss()?;
    println!("{seconds:.1} s");
    let server_actions = match (stack.metrics_port, &actions_before) {
        (Some(port), Some(before)) => {
            Some(crate::server_metrics::difference(before, &crate::server_metrics::settled_actions(port, "default").await?))
        }
        _ => None,
    };

    let images = spec.images;
    let totals = &summary.totals;
    let errors: Vec<String> = summary.images.iter().filter_map(|o| Some(format!("{}: {}", o.object.key(), o.error.as_deref()?))).take(3).collect();
    anyhow::ensure!(
        totals.images == images as u64 && totals.errors == 0 && totals.passed + totals.failed_accuracy == totals.images,
        "the {} did not handle every image cleanly: {totals:?}; first errors: {errors:?} (logs in {})",
        stack.kind.label(),
        stack.log_dir.display()
    );
    let verdicts: Verdicts = summary.images.iter().map(|o| (o.object.key().to_owned(), (o.status, o.score))).collect();
    anyhow::ensure!(verdicts.len() == images, "the {}'s result lists {} outcomes for {images} images", stack.kind.label(), verdicts.len());

    let runs = fetch_tree(&stack.client, &workflow_id, &first_run).await?;
    let mut per_image = TimeSplit::default();
    for (key, run) in &runs {
        if run.workflow_type == contracts::automation::ImagePipeline::NAME {
            let mut spans = Vec::new();
            descendant_activities(&runs, key, &mut spans);
            per_image.add(run.start, run.end, &spans);
        }
    }
    anyhow::ensure!(per_image.workflows == images, "found {} ImagePipeline histories for {images} images", per_image.workflows);
    let batch_runs: Vec<&RunTimeline> = runs.values().filter(|r| r.workflow_type == AutomationPipeline::NAME).collect();
    let batch_start = batch_runs.iter().map(|r| r.start).fold(f64::INFINITY, f64::min);
    let batch_end = batch_runs.iter().map(|r| r.end).fold(f64::NEG_INFINITY, f64::max);
    let mut actions = ActionCounts::default();
    for run in runs.values() {
        actions.add(&run.actions);
    }
    let events: usize = runs.values().map(|r| r.events).sum();

    let n = images as f64;
    let processes: Vec<ProcessUsage> = stack
        .processes
        .iter()
        .enumerate()
        .map(|(i, p)| ProcessUsage {
            name: p.name.clone(),
            part: p.part,
            cpu_seconds: cpu_after[i] - cpu_before[i],
            peak_mib: after[i].peak_kib as f64 / 1024.0,
            processes: machine::tree_rss(p.pid).map(|(_, count)| count).unwrap_or(1),
        })
        .collect();
    let part_cpu = |part: Part| processes.iter().filter(|p| p.part == part).map(|p| p.cpu_seconds).sum::<f64>() / n;
    let cpu_seconds_per_image = CpuPerImage {
        total: processes.iter().map(|p| p.cpu_seconds).sum::<f64>() / n,
        server: part_cpu(Part::Server),
        s3: part_cpu(Part::S3),
        workers: part_cpu(Part::Worker),
    };
    let batch = FleetBatch {
        fleet: stack.kind,
        seconds,
        images_per_second: n / seconds,
        megapixels_per_second: input.megapixels / seconds,
        batch_history_seconds: batch_end - batch_start,
        totals: summary.totals.clone(),
        orchestration_seconds_per_image: per_image.orchestration_seconds / n,
        per_image,
        activities: history::activity_stats(runs.values()),
        histories: history::history_stats(runs.values()),
        runs: runs.len(),
        events_per_image: events as f64 / n,
        actions_per_image: actions.total() as f64 / n,
        server_actions_per_image: server_actions.as_ref().map(|a| a.values().sum::<u64>() as f64 / n),
        server_heartbeats_per_image: server_actions
            .as_ref()
            .map(|a| a.iter().filter(|(kind, _)| kind.contains("Heartbeat")).map(|(_, n)| n).sum::<u64>() as f64 / n),
        server_actions,
        actions,
        workers_peak_rss_mib: processes.iter().filter(|p| p.part == Part::Worker).map(|p| p.peak_mib).sum(),
        processes,
        cpu_seconds_per_image,
        peaks_reset,
        harness_cpu_seconds,
    };
    Ok((batch, verdicts))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(images: usize, satellite_every: usize) -> BatchSpec {
        BatchSpec { name: "t".into(), images, navad_width: 64, navad_height: 48, satellite_every, satellite_side: 32 }
    }

    #[test]
    fn mixes_satellites_into_a_batch() {
        let inputs = make_inputs(&spec(8, 2), "b").unwrap();
        let kinds: Vec<ImageKind> = inputs.images.iter().filter_map(|(i, _, _)| i.kind).collect();
        assert_eq!(kinds.iter().filter(|k| **k == ImageKind::Satellite).count(), 4);
        assert_eq!(kinds[1], ImageKind::Satellite);
        let keys: Vec<&str> = inputs.images.iter().map(|(i, _, _)| i.object.key()).collect();
        assert_eq!(
            keys[..4],
            ["bench/b/navad-0000-sharp.jpg", "bench/b/satellite-0001-wgs84.tif", "bench/b/navad-0002-sharp.jpg", "bench/b/satellite-0003-utm33n.tif"]
        );
        assert!(keys.contains(&"bench/b/navad-0006-blurred.jpg"));
        let navad_only = make_inputs(&spec(8, 0), "b").unwrap();
        assert!(navad_only.images.iter().all(|(i, _, _)| i.kind == Some(ImageKind::Navad)));
        assert!((navad_only.megapixels - 8.0 * 64.0 * 48.0 / 1e6).abs() < 1e-12);
    }

    #[test]
    fn compares_verdicts() {
        let verdicts = |score: f64| -> Verdicts {
            [("a".to_owned(), (ImageStatus::Passed, Some(score))), ("b".to_owned(), (ImageStatus::Passed, None))].into_iter().collect()
        };
        assert!(verdict_differences(&verdicts(0.5), &verdicts(0.5 + 1e-7)).is_empty());
        assert_eq!(verdict_differences(&verdicts(0.5), &verdicts(0.5 + 1e-5)).len(), 1);
        let mut other = verdicts(0.5);
        other.insert("b".to_owned(), (ImageStatus::FailedAccuracy, None));
        assert_eq!(verdict_differences(&verdicts(0.5), &other).len(), 1);
        other.remove("b");
        other.insert("c".to_owned(), (ImageStatus::Passed, None));
        assert_eq!(verdict_differences(&verdicts(0.5), &other).len(), 2);
    }
}
