//! `starter automation`: a batch of navad flight and satellite images through the image
//! automation pipeline. Local files are uploaded first; an `s3://bucket/prefix` takes every
//! image under it. Shows a progress bar fed by the workflow's `progress` query, then the
//! per-image summary, the totals and the Web UI link.
//!
//! Batch settings start from `AutomationSettings::default()` and are overridden by the
//! `AUTOMATION_*` variables (see `workers/orchestrator/README.md`), then by the flags.

use crate::commands::inputs;
use crate::progress;
use anyhow::Context;
use clap::Args;
use contracts::automation::{
    AutomationPipeline, AutomationProgress, AutomationProgressQuery, AutomationRequest, AutomationSettings, AutomationSummary, BatchSource,
    ImageInput, ImageKind, ImageOutcome, ImageStatus, validate_batch_id,
};
use contracts::object::{PrefixRef, validate_bucket};
use contracts::{ObjectRef, Queue, buckets};
use documents::automation::BatchSummaryDocument;
use fleet::config::{ConfigError, Env};
use fleet::{FleetConfig, Storage};
use indicatif::ProgressBar;
use std::path::Path;
use std::time::Duration;
use temporalio_client::{Client, WorkflowStartOptions};

#[derive(Args, Debug)]
pub struct AutomationArgs {
    /// Local image files or folders (uploaded to s3://fleet-inputs/uploads/<batch id>/),
    /// `s3://bucket/key` objects, or a single `s3://bucket/prefix/` (every image under it).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// Kind of every image (`navad` or `satellite`); detected per image when left out
    /// (GeoTIFF georeferencing or a world file means satellite).
    #[arg(long)]
    pub kind: Option<ImageKind>,
    /// Print the workflow id and its Web UI link, and exit without waiting.
    #[arg(long)]
    pub no_wait: bool,
    /// Print the result as JSON (the workflow's `AutomationSummary`) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Names the batch: workflow id `automation-<id>`, outputs under `automation/<id>/`
    /// (re-running a batch id overwrites its outputs). Default: `batch-<unix time>`.
    #[arg(long)]
    pub batch_id: Option<String>,
    /// Images per workflow run before it continues as new (AUTOMATION_IMAGES_PER_RUN).
    #[arg(long)]
    pub images_per_run: Option<u32>,
    /// Images processed at once (AUTOMATION_MAX_CONCURRENT_IMAGES).
    #[arg(long)]
    pub concurrency: Option<u32>,
}

/// Batch settings and output bucket from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationConfig {
    /// Settings carried in the workflow input.
    pub settings: AutomationSettings,
    /// Where reports, GeoJSON and summaries go.
    pub output_bucket: String,
}

use contracts::automation::{MAX_CONCURRENT_IMAGES, MAX_IMAGES_PER_RUN, MAX_TILE_GRID};

fn invalid(var: &str, reason: String) -> ConfigError {
    ConfigError::Invalid { var: var.to_owned(), reason }
}

fn bounded(env: &Env, var: &str, default: u32, max: u32) -> Result<u32, ConfigError> {
    let value = env.parse(var, default)?;
    if value == 0 || value > max {
        return Err(invalid(var, format!("{value} is not between 1 and {max}")));
    }
    Ok(value)
}

fn non_negative(env: &Env, var: &str, default: f64, max: f64) -> Result<f64, ConfigError> {
    let value: f64 = env.parse(var, default)?;
    if !value.is_finite() || !(0.0..=max).contains(&value) {
        return Err(invalid(var, format!("{value} is not between 0 and {max}")));
    }
    Ok(value)
}

/// Reads the `AUTOMATION_*` variables over `AutomationSettings::default()`; a bad value is an
/// error naming the variable.
pub fn config_from_env(env: &Env) -> Result<AutomationConfig, ConfigError> {
    let mut settings = AutomationSettings::default();
    settings.max_concurrent_images = bounded(env, "AUTOMATION_MAX_CONCURRENT_IMAGES", settings.max_concurrent_images, MAX_CONCURRENT_IMAGES)?;
    settings.images_per_run = bounded(env, "AUTOMATION_IMAGES_PER_RUN", settings.images_per_run, MAX_IMAGES_PER_RUN)?;
    if let Some(grid) = env.get("AUTOMATION_TILE_GRID") {
        let parsed = grid
            .trim()
            .split_once(['x', 'X'])
            .and_then(|(c, r)| Some((c.trim().parse::<u32>().ok()?, r.trim().parse::<u32>().ok()?)))
            .filter(|&(c, r)| (1..=MAX_TILE_GRID).contains(&c) && (1..=MAX_TILE_GRID).contains(&r));
        let (columns, rows) =
            parsed.ok_or_else(|| invalid("AUTOMATION_TILE_GRID", format!("{grid:?} is not COLUMNSxROWS with 1..=64 each, e.g. 4x4")))?;
        settings.tile_columns = columns;
        settings.tile_rows = rows;
    }
    let pixels_per_task: u64 = env.parse("AUTOMATION_PIXELS_PER_TASK", settings.pixels_per_task)?;
    if pixels_per_task == 0 {
        return Err(invalid("AUTOMATION_PIXELS_PER_TASK", "must be at least 1".to_owned()));
    }
    settings.pixels_per_task = pixels_per_task;
    let thresholds = &mut settings.thresholds;
    thresholds.min_laplacian_variance = non_negative(env, "AUTOMATION_MIN_LAPLACIAN_VARIANCE", thresholds.min_laplacian_variance, f64::MAX)?;
    thresholds.min_overall_score = non_negative(env, "AUTOMATION_MIN_OVERALL_SCORE", thresholds.min_overall_score, 100.0)?;
    if let Some(attempts) = env.parse_opt::<u32>("AUTOMATION_MAX_ATTEMPTS")? {
        let a = &mut settings.activities;
        for activity in
            [&mut a.validate, &mut a.detect_kind, &mut a.split_tiles, &mut a.tile_metrics, &mut a.write_report, &mut a.footprint, &mut a.batch_io]
        {
            activity.retry.maximum_attempts = attempts;
        }
    }
    let output_bucket = env.string("AUTOMATION_OUTPUT_BUCKET", buckets::OUTPUTS);
    validate_bucket(&output_bucket).map_err(|e| invalid("AUTOMATION_OUTPUT_BUCKET", e.to_string()))?;
    Ok(AutomationConfig { settings, output_bucket })
}

pub async fn run(args: AutomationArgs) -> anyhow::Result<()> {
    let config = FleetConfig::load()?;
    fleet::telemetry::init(&config.log);
    let mut batch = config_from_env(&Env::load()?)?;
    if let Some(n) = args.images_per_run {
        anyhow::ensure!((1..=MAX_IMAGES_PER_RUN).contains(&n), "--images-per-run {n} is not between 1 and {MAX_IMAGES_PER_RUN}");
        batch.settings.images_per_run = n;
    }
    if let Some(n) = args.concurrency {
        anyhow::ensure!((1..=MAX_CONCURRENT_IMAGES).contains(&n), "--concurrency {n} is not between 1 and {MAX_CONCURRENT_IMAGES}");
        batch.settings.max_concurrent_images = n;
    }
    let batch_id = match args.batch_id {
        Some(id) => id,
        None => format!("batch-{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs()),
    };
    validate_batch_id(&batch_id).map_err(anyhow::Error::msg)?;
    let storage = Storage::new(&config.s3);
    let source = resolve_source(&storage, &args.inputs, args.kind, &batch_id).await?;
    let client = fleet::temporal::connect(&config).await?;
    let request = AutomationRequest { batch_id, source, output_bucket: batch.output_bucket, settings: batch.settings, carried: None };
    let workflow_id = start(&config, &client, request).await?;
    if args.no_wait {
        println!("started {workflow_id}: {}", config.workflow_url(&workflow_id));
        return Ok(());
    }
    if !args.json {
        println!("started {workflow_id}: {}", config.workflow_url(&workflow_id));
    }
    let summary = wait_with_progress(&client, &workflow_id, !args.json).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&storage, &summary).await;
        println!("Web UI: {}", config.workflow_url(&workflow_id));
    }
    Ok(())
}

/// True for an `s3://` URI that names a prefix rather than one object: a bucket alone, a
/// trailing `/`, or a key no object has.
async fn is_prefix_uri(storage: &Storage, input: &str) -> anyhow::Result<bool> {
    let Some(rest) = input.strip_prefix("s3://") else { return Ok(false) };
    if input.ends_with('/') || !rest.contains('/') {
        return Ok(true);
    }
    let object: ObjectRef = input.parse().with_context(|| format!("input {input:?}"))?;
    Ok(storage.size(&object).await.with_context(|| format!("input {input:?}"))?.is_none())
}

/// The batch's source: one prefix, or a list of objects (local files and folders uploaded
/// under `uploads/<batch id>/` in the inputs bucket).
async fn resolve_source(storage: &Storage, inputs: &[String], kind: Option<ImageKind>, batch_id: &str) -> anyhow::Result<BatchSource> {
    if let [single] = inputs
        && is_prefix_uri(storage, single).await?
    {
        let location: PrefixRef = single.parse().with_context(|| format!("input {single:?}"))?;
        return Ok(BatchSource::Prefix { location, kind });
    }
    let area = format!("uploads/{batch_id}");
    let mut objects = Vec::new();
    for input in inputs {
        if input.starts_with("s3://") && is_prefix_uri(storage, input).await? {
            anyhow::bail!("input {input:?} is a prefix (or a missing object): a prefix must be the only input");
        }
        let path = Path::new(input);
        if !input.starts_with("s3://") && path.is_dir() {
            for file in image_files_in(path)? {
                objects.push(inputs::resolve_object(storage, &file, &area).await?);
            }
        } else {
            objects.push(inputs::resolve_object(storage, input, &area).await?);
        }
    }
    anyhow::ensure!(!objects.is_empty(), "no images among the inputs");
    Ok(BatchSource::Objects(objects.into_iter().map(|object| ImageInput { object, kind }).collect()))
}

/// The image files directly inside a folder, sorted by name.
fn image_files_in(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading folder {}", dir.display()))? {
        let path = entry?.path();
        let is_image = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["jpg", "jpeg", "png", "tif", "tiff"].iter().any(|x| e.eq_ignore_ascii_case(x)));
        if path.is_file() && is_image {
            files.push(path.display().to_string());
        }
    }
    files.sort();
    Ok(files)
}

/// Starts the batch on the orchestrator queue; returns its workflow id.
async fn start(config: &FleetConfig, client: &Client, request: AutomationRequest) -> anyhow::Result<String> {
    let workflow_id = contracts::automation::batch_workflow_id(&request.batch_id);
    client
        .start_workflow(AutomationPipeline, request, WorkflowStartOptions::new(config.queue(Queue::Orchestrator), workflow_id.clone()).build())
        .await
        .with_context(|| format!("starting workflow {workflow_id}"))?;
    Ok(workflow_id)
}

/// Waits for the batch's result (across continue-as-new), showing a progress bar fed by the
/// `progress` query every 500 ms when `show` is set.
async fn wait_with_progress(client: &Client, workflow_id: &str, show: bool) -> anyhow::Result<AutomationSummary> {
    let handle = client.get_workflow_handle::<AutomationPipeline>(workflow_id);
    let bar = progress::bar(show, 0, "{pos}/{len} images")?;
    let outcome = progress::follow(&handle, AutomationProgressQuery, Duration::from_millis(500), |p| show_progress(&bar, p), None).await?;
    bar.finish_and_clear();
    outcome.with_context(|| format!("workflow {workflow_id} failed"))
}

fn show_progress(bar: &ProgressBar, progress: &AutomationProgress) {
    let t = &progress.totals;
    bar.set_length(progress.total.unwrap_or(progress.done + u64::from(progress.running)).max(progress.done));
    bar.set_position(progress.done);
    bar.set_message(format!(
        "run {}: {} running, {} passed, {} failed accuracy, {} errors",
        progress.run, progress.running, t.passed, t.failed_accuracy, t.errors
    ));
}

fn status_text(status: ImageStatus) -> &'static str {
    match status {
        ImageStatus::Passed => "passed",
        ImageStatus::FailedAccuracy => "failed accuracy",
        ImageStatus::Error => "error",
    }
}

/// Prints one line per image (kind, status, score), its outputs and error below it, then the
/// totals. Every image of the batch comes from the summary JSON in S3 (the workflow's own
/// result only lists the last run's images).
async fn print_summary(storage: &Storage, summary: &AutomationSummary) {
    let images: Vec<ImageOutcome> = match storage.get(&summary.summary).await {
        Ok(bytes) => match serde_json::from_slice::<BatchSummaryDocument>(&bytes) {
            Ok(document) => document.images,
            Err(e) => {
                eprintln!("{} is not a batch summary ({e}); showing the last run's images", summary.summary);
                summary.images.clone()
            }
        },
        Err(e) => {
            eprintln!("cannot read {} ({e}); showing the last run's images", summary.summary);
            summary.images.clone()
        }
    };
    println!();
    println!("{:<40} {:<10} {:<16} {:>6}", "IMAGE", "KIND", "STATUS", "SCORE");
    for image in &images {
        let kind = image.kind.map_or("?", ImageKind::as_str);
        let score = image.score.map_or_else(|| "-".to_owned(), |s| format!("{s:.1}"));
        println!("{:<40} {:<10} {:<16} {:>6}", image.object.key(), kind, status_text(image.status), score);
        for output in &image.outputs {
            println!("    -> {output}");
        }
        for failure in &image.accuracy_failures {
            println!("    !  {failure}");
        }
        if let Some(error) = &image.error {
            println!("    !  {error}");
        }
    }
    if images.is_empty() {
        println!("(no images: nothing with a .jpg/.jpeg/.png/.tif/.tiff key in the source)");
    }
    let t = &summary.totals;
    let plural = |n: u64, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    println!();
    println!(
        "{} ({} navad, {} satellite): {} passed, {} failed accuracy, {}; {}",
        plural(t.images, "image"),
        t.navad,
        t.satellite,
        t.passed,
        t.failed_accuracy,
        plural(t.errors, "error"),
        plural(u64::from(summary.runs), "workflow run"),
    );
    println!("summary: {}", summary.summary);
}

/// This pipeline's part of `starter demo`: navad images (sharp, blurred), satellite GeoTIFFs
/// (EPSG:4326 and UTM zone 33N) and a corrupt file, kinds detected, through the whole pipeline.
pub async fn demo(config: &FleetConfig, client: &Client, storage: &Storage, samples_dir: &Path) -> anyhow::Result<()> {
    println!("\n== Image automation: navad and satellite images ==");
    let dir = samples_dir.join("automation");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let samples: [(&str, Vec<u8>); 5] = [
        ("navad-sharp.jpg", samples::navad::sharp_jpeg(1024, 768)?),
        ("navad-blurred.jpg", samples::navad::blurred_jpeg(1024, 768)?),
        // 0.0005 degree pixels (about 55 m) near Lisbon.
        ("satellite-wgs84.tif", samples::geotiff::geotiff_wgs84(512, 512, -9.2, 38.8, 0.0005)),
        // 10 m pixels in UTM zone 33N, near Vienna.
        ("satellite-utm33n.tif", samples::geotiff::geotiff_utm(512, 512, samples::geotiff::UTM_33N, 600_000.0, 5_340_000.0, 10.0)),
        ("corrupt.jpg", samples::navad::truncated_jpeg(1024, 768)?),
    ];
    let mut inputs = Vec::new();
    for (name, bytes) in samples {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        inputs.push(path.display().to_string());
    }
    let batch = config_from_env(&Env::load()?)?;
    // A fixed id: re-running the demo overwrites its outputs instead of piling up new ones.
    let batch_id = "demo".to_owned();
    let source = resolve_source(storage, &inputs, None, &batch_id).await?;
    let request = AutomationRequest { batch_id, source, output_bucket: batch.output_bucket, settings: batch.settings, carried: None };
    let workflow_id = start(config, client, request).await?;
    println!("started {workflow_id}: {}", config.workflow_url(&workflow_id));
    let summary = wait_with_progress(client, &workflow_id, true).await?;
    print_summary(storage, &summary).await;
    println!("Web UI: {}", config.workflow_url(&workflow_id));
    println!("Filter the images in the Web UI: ImageType = \"satellite\", or PipelineStatus = \"failed\".");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>())
    }

    #[test]
    fn defaults_without_variables() {
        let config = config_from_env(&env(&[])).unwrap();
        assert_eq!(config.settings, AutomationSettings::default());
        assert_eq!(config.output_bucket, buckets::OUTPUTS);
    }

    #[test]
    fn variables_override_the_defaults() {
        let config = config_from_env(&env(&[
            ("AUTOMATION_TILE_GRID", "3x2"),
            ("AUTOMATION_MAX_CONCURRENT_IMAGES", "4"),
            ("AUTOMATION_IMAGES_PER_RUN", "50"),
            ("AUTOMATION_MIN_LAPLACIAN_VARIANCE", "42.5"),
            ("AUTOMATION_MIN_OVERALL_SCORE", "70"),
            ("AUTOMATION_MAX_ATTEMPTS", "2"),
            ("AUTOMATION_OUTPUT_BUCKET", "my-reports"),
            ("AUTOMATION_PIXELS_PER_TASK", "250000"),
        ]))
        .unwrap();
        let s = &config.settings;
        assert_eq!((s.tile_columns, s.tile_rows), (3, 2));
        assert_eq!(s.max_concurrent_images, 4);
        assert_eq!(s.images_per_run, 50);
        assert_eq!(s.thresholds.min_laplacian_variance, 42.5);
        assert_eq!(s.thresholds.min_overall_score, 70.0);
        assert_eq!(s.activities.tile_metrics.retry.maximum_attempts, 2);
        assert_eq!(s.activities.batch_io.retry.maximum_attempts, 2);
        assert_eq!(config.output_bucket, "my-reports");
        assert_eq!(s.pixels_per_task, 250_000);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("AUTOMATION_TILE_GRID", "4"),
            ("AUTOMATION_TILE_GRID", "0x4"),
            ("AUTOMATION_MAX_CONCURRENT_IMAGES", "0"),
            ("AUTOMATION_IMAGES_PER_RUN", "many"),
            ("AUTOMATION_IMAGES_PER_RUN", "100000"),
            ("AUTOMATION_MIN_LAPLACIAN_VARIANCE", "-1"),
            ("AUTOMATION_MIN_OVERALL_SCORE", "101"),
            ("AUTOMATION_MAX_ATTEMPTS", "-2"),
            ("AUTOMATION_OUTPUT_BUCKET", "Bad_Bucket"),
        ] {
            let err = config_from_env(&env(&[(var, value)])).unwrap_err().to_string();
            assert!(err.contains(var), "{var}={value}: {err}");
        }
    }
}
