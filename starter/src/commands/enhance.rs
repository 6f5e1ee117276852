//! `starter enhance`: one image (an `s3://` URI or a local file, uploaded first) through the
//! enhancement pipeline, or with `--batch` every image under a prefix (or in a local folder)
//! with a progress bar fed by the batch's `progress` query. Without arguments, the source and
//! destination come from `SOURCE_BUCKET`/`SOURCE_KEY` and `DEST_BUCKET`/`DEST_KEY`, as in the
//! original system.
//!
//! What to do to the images is read here and travels in the request (`ENHANCER`,
//! `ENHANCEMENT_*`, `OPENAI_MODEL`, `OPENAI_IMAGE_SIZE`); the OpenAI key and endpoint are the
//! worker's (see `workers/enhancement/README.md`).

use crate::commands::inputs;
use crate::progress;
use anyhow::Context;
use clap::Args;
use contracts::enhancement::{
    BatchProgress, EnhanceBatch, EnhanceBatchProgress, EnhanceBatchRequest, EnhanceBatchSummary, EnhanceImage, EnhanceImageRequest,
    EnhanceImageResult, EnhanceOptions, EnhancementActivities, Enhancer, LocalParams, OpenAiParams, TargetSize, VerifyPolicy,
};
use contracts::object::PrefixRef;
use contracts::{ObjectRef, Queue, buckets};
use fleet::config::{ConfigError, Env};
use fleet::{FleetConfig, Storage};
use indicatif::ProgressBar;
use std::path::Path;
use std::time::Duration;
use temporalio_client::errors::WorkflowGetResultError;
use temporalio_client::{Client, WorkflowGetResultOptions, WorkflowStartOptions};

#[derive(Args, Debug)]
pub struct EnhanceArgs {
    /// `s3://bucket/key` or a local image file (uploaded to s3://fleet-inputs/enhance/ first);
    /// with `--batch`, `s3://bucket/prefix/` or a local folder. Default:
    /// s3://$SOURCE_BUCKET/$SOURCE_KEY.
    pub source: Option<String>,
    /// `s3://bucket/key` of the result (with `--batch`, a prefix). Default:
    /// s3://$DEST_BUCKET/$DEST_KEY, else the source key under `enhanced/` in fleet-outputs.
    pub destination: Option<String>,
    /// Enhance every image under the source prefix (JPEG, PNG, TIFF; other keys are skipped).
    #[arg(long)]
    pub batch: bool,
    /// `local` or `openai` (overrides ENHANCER).
    #[arg(long)]
    pub enhancer: Option<String>,
    /// Output width in pixels (overrides ENHANCEMENT_TARGET_WIDTH).
    #[arg(long)]
    pub width: Option<u32>,
    /// Output height in pixels (overrides ENHANCEMENT_TARGET_HEIGHT).
    #[arg(long)]
    pub height: Option<u32>,
    /// Print the workflow id and its Web UI link, and exit without waiting.
    #[arg(long)]
    pub no_wait: bool,
}

/// What the configuration says to do to each image, and how to run a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct EnhancementConfig {
    /// Enhancer, output size, verification, activity settings.
    pub options: EnhanceOptions,
    /// Images enhanced at once in a batch.
    pub batch_concurrency: u32,
    /// Images per batch workflow run.
    pub images_per_run: u32,
}

/// The variable behind each parameter the contract validates, for error messages.
const PARAMETER_VARIABLES: [(&str, &str); 7] = [
    ("percentiles", "ENHANCEMENT_LOW_PERCENTILE / ENHANCEMENT_HIGH_PERCENTILE"),
    ("denoise_sigma", "ENHANCEMENT_DENOISE_SIGMA"),
    ("sharpen_sigma", "ENHANCEMENT_SHARPEN_SIGMA"),
    ("sharpen_amount", "ENHANCEMENT_SHARPEN_AMOUNT"),
    ("model", "OPENAI_MODEL"),
    ("prompt", "ENHANCEMENT_PROMPT"),
    ("size", "OPENAI_IMAGE_SIZE"),
];

impl EnhancementConfig {
    /// Reads `ENHANCER` and the enhancement variables; a bad value names its variable.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let invalid = |var: &str, reason: String| ConfigError::Invalid { var: var.to_owned(), reason };
        let enhancer = match env.string("ENHANCER", "local").to_ascii_lowercase().as_str() {
            "local" => {
                let d = LocalParams::default();
                Enhancer::Local(LocalParams {
                    low_percentile: env.parse("ENHANCEMENT_LOW_PERCENTILE", d.low_percentile)?,
                    high_percentile: env.parse("ENHANCEMENT_HIGH_PERCENTILE", d.high_percentile)?,
                    denoise_sigma: env.parse("ENHANCEMENT_DENOISE_SIGMA", d.denoise_sigma)?,
                    sharpen_sigma: env.parse("ENHANCEMENT_SHARPEN_SIGMA", d.sharpen_sigma)?,
                    sharpen_amount: env.parse("ENHANCEMENT_SHARPEN_AMOUNT", d.sharpen_amount)?,
                    sharpen_threshold: env.parse("ENHANCEMENT_SHARPEN_THRESHOLD", d.sharpen_threshold)?,
                })
            }
            "openai" => {
                let d = OpenAiParams::default();
                Enhancer::Openai(OpenAiParams {
                    model: env.string("OPENAI_MODEL", &d.model),
                    prompt: env.string("ENHANCEMENT_PROMPT", &d.prompt),
                    size: env.string("OPENAI_IMAGE_SIZE", &d.size),
                })
            }
            other => return Err(invalid("ENHANCER", format!("{other:?} is not 'local' or 'openai'"))),
        };
        enhancer.validate().map_err(|e| {
            let var = PARAMETER_VARIABLES.iter().find(|(field, _)| e.starts_with(field)).map_or("ENHANCER", |(_, var)| var);
            invalid(var, e)
        })?;
        let size = TargetSize { width: env.parse_opt("ENHANCEMENT_TARGET_WIDTH")?, height: env.parse_opt("ENHANCEMENT_TARGET_HEIGHT")? };
        size.validate().map_err(|e| invalid("ENHANCEMENT_TARGET_WIDTH / ENHANCEMENT_TARGET_HEIGHT", e))?;
        let positive = |var: &str, default: u32| -> Result<u32, ConfigError> {
            match env.parse(var, default)? {
                0 => Err(invalid(var, "must be at least 1".into())),
                n => Ok(n),
            }
        };
        Ok(Self {
            options: EnhanceOptions {
                enhancer,
                size,
                verify: VerifyPolicy { min_contrast_spread: env.parse("ENHANCEMENT_MIN_CONTRAST_SPREAD", 0)? },
                activities: EnhancementActivities::default(),
            },
            batch_concurrency: positive("ENHANCEMENT_BATCH_CONCURRENCY", contracts::enhancement::DEFAULT_BATCH_CONCURRENCY)?,
            images_per_run: positive("ENHANCEMENT_IMAGES_PER_RUN", contracts::enhancement::DEFAULT_IMAGES_PER_RUN)?,
        })
    }

    fn apply_flags(&mut self, args: &EnhanceArgs, env: &Env) -> anyhow::Result<()> {
        if let Some(kind) = &args.enhancer {
            let mut vars: std::collections::HashMap<String, String> = env.vars().clone();
            vars.insert("ENHANCER".into(), kind.clone());
            self.options.enhancer = EnhancementConfig::from_env(&Env::from_map(vars)).context("--enhancer")?.options.enhancer;
        }
        if args.width.is_some() || args.height.is_some() {
            let size = &mut self.options.size;
            *size = TargetSize { width: args.width.or(size.width), height: args.height.or(size.height) };
            size.validate().map_err(|e| anyhow::anyhow!("--width/--height: {e}"))?;
        }
        Ok(())
    }

    /// The request for one image.
    pub fn request(&self, source: ObjectRef, destination: ObjectRef) -> EnhanceImageRequest {
        EnhanceImageRequest { source, destination, options: self.options.clone() }
    }
}

pub async fn run(args: EnhanceArgs) -> anyhow::Result<()> {
    let config = FleetConfig::load()?;
    fleet::telemetry::init(&config.log);
    let env = config.env().clone();
    let mut settings = EnhancementConfig::from_env(&env)?;
    settings.apply_flags(&args, &env)?;
    let storage = Storage::new(&config.s3);
    let client = fleet::temporal::connect(&config).await?;
    if args.batch {
        run_batch(&args, &config, &env, &settings, &storage, &client).await
    } else {
        run_single(&args, &config, &env, &settings, &storage, &client).await
    }
}

/// The source from the argument or SOURCE_BUCKET/SOURCE_KEY.
fn source_argument(args: &EnhanceArgs, env: &Env) -> anyhow::Result<String> {
    if let Some(source) = &args.source {
        return Ok(source.clone());
    }
    match (env.get("SOURCE_BUCKET"), env.get("SOURCE_KEY")) {
        (Some(bucket), Some(key)) => Ok(format!("s3://{bucket}/{key}")),
        (Some(bucket), None) if args.batch => Ok(format!("s3://{bucket}/")),
        _ => anyhow::bail!("give a source (an s3:// URI or a local file), or set SOURCE_BUCKET and SOURCE_KEY"),
    }
}

/// The destination from the argument, DEST_BUCKET/DEST_KEY, or `enhanced/<source key>` in the
/// outputs bucket.
fn destination_argument(args: &EnhanceArgs, env: &Env, source_key: &str) -> String {
    if let Some(destination) = &args.destination {
        return destination.clone();
    }
    let bucket = env.string("DEST_BUCKET", buckets::OUTPUTS);
    match env.get("DEST_KEY") {
        Some(key) => format!("s3://{bucket}/{key}"),
        None => format!("s3://{bucket}/enhanced/{source_key}"),
    }
}

async fn run_single(
    args: &EnhanceArgs,
    config: &FleetConfig,
    env: &Env,
    settings: &EnhancementConfig,
    storage: &Storage,
    client: &Client,
) -> anyhow::Result<()> {
    let source = inputs::resolve_object(storage, &source_argument(args, env)?, "enhance").await?;
    let destination_uri = destination_argument(args, env, source.key());
    let destination: ObjectRef = destination_uri.parse().with_context(|| format!("destination {destination_uri:?}"))?;
    storage.ensure_bucket(destination.bucket()).await?;
    let workflow_id = format!("enhance-{}-{}", inputs::id_fragment(destination.bucket()), inputs::id_fragment(destination.key()));
    let handle = client
        .start_workflow(
            EnhanceImage,
            settings.request(source, destination),
            WorkflowStartOptions::new(config.queue(Queue::Enhancement), workflow_id.clone()).build(),
        )
        .await?;
    println!("started {workflow_id} ({} enhancer): {}", settings.options.enhancer, config.workflow_url(&workflow_id));
    if args.no_wait {
        return Ok(());
    }
    let result = handle.get_result(WorkflowGetResultOptions::default()).await.map_err(|e| explain("the enhancement failed", e))?;
    print_result(&result);
    Ok(())
}

/// The root cause of a failed run (the SDK's error repeats every layer of the chain).
fn explain(what: &str, error: WorkflowGetResultError) -> anyhow::Error {
    match error {
        WorkflowGetResultError::Failed(failure) => {
            let cause = fleet::failure::root_cause(failure.failure());
            anyhow::anyhow!("{what}: {} [{}]", cause.message, cause.error_type.as_deref().unwrap_or("error"))
        }
        other => anyhow::Error::new(other).context(what.to_owned()),
    }
}

fn print_result(result: &EnhanceImageResult) {
    let e = &result.enhanced;
    println!("{}", result.message);
    println!(
        "  {} enhancer, {} -> {} pixels, {} bytes, contrast spread {} -> {}",
        e.enhancer, e.source_size, e.output_size, e.output_bytes, e.source_contrast_spread, e.output_contrast_spread
    );
}

/// The batch source as a prefix; a local folder's images are uploaded first.
async fn batch_source(args: &EnhanceArgs, env: &Env, storage: &Storage) -> anyhow::Result<PrefixRef> {
    let source = source_argument(args, env)?;
    if source.starts_with("s3://") {
        return source.parse::<PrefixRef>().with_context(|| format!("source prefix {source:?}"));
    }
    let dir = Path::new(&source);
    anyhow::ensure!(dir.is_dir(), "{source:?} is neither an s3://bucket/prefix/ nor a folder");
    let name = dir.canonicalize()?.file_name().and_then(|n| n.to_str()).map(inputs::id_fragment).unwrap_or_else(|| "folder".into());
    let area = format!("enhance/{name}");
    let mut files: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    for file in files.iter().filter(|f| f.file_name().and_then(|n| n.to_str()).is_some_and(fleet::kit::is_image_key)) {
        inputs::resolve_object(storage, &file.display().to_string(), &area).await?;
    }
    Ok(PrefixRef { bucket: buckets::INPUTS.to_owned(), prefix: format!("{area}/") })
}

async fn run_batch(
    args: &EnhanceArgs,
    config: &FleetConfig,
    env: &Env,
    settings: &EnhancementConfig,
    storage: &Storage,
    client: &Client,
) -> anyhow::Result<()> {
    let source = batch_source(args, env, storage).await?;
    let destination_uri = destination_argument(args, env, &source.prefix);
    let destination: PrefixRef = destination_uri.parse().with_context(|| format!("destination prefix {destination_uri:?}"))?;
    storage.ensure_bucket(&destination.bucket).await?;
    // Counted here for the bar's length; the workflow lists page by page as it goes.
    let total = storage.list(&source.bucket, &source.prefix).await?.iter().filter(|o| fleet::kit::is_image_key(o.key())).count() as u64;
    anyhow::ensure!(total > 0, "no JPEG, PNG or TIFF images under {source}");
    let workflow_id = format!("enhance-batch-{}-{}", inputs::id_fragment(&source.bucket), inputs::id_fragment(source.prefix.trim_end_matches('/')));
    let request = EnhanceBatchRequest {
        source: source.clone(),
        destination: destination.clone(),
        options: settings.options.clone(),
        max_concurrent: settings.batch_concurrency,
        images_per_run: settings.images_per_run,
        carried: None,
    };
    client.start_workflow(EnhanceBatch, request, WorkflowStartOptions::new(config.queue(Queue::Enhancement), workflow_id.clone()).build()).await?;
    println!("started {workflow_id}: {total} images from {source} to {destination} ({} enhancer)", settings.options.enhancer);
    println!("  {}", config.workflow_url(&workflow_id));
    if args.no_wait {
        return Ok(());
    }
    let summary = follow_batch(client, &workflow_id, total).await?;
    print_summary(&summary);
    Ok(())
}

/// Waits for the batch (across continue-as-new) with a progress bar.
async fn follow_batch(client: &Client, workflow_id: &str, total: u64) -> anyhow::Result<EnhanceBatchSummary> {
    let handle = client.get_workflow_handle::<EnhanceBatch>(workflow_id);
    let bar = progress::bar(true, total, "{pos}/{len} images")?;
    let outcome = progress::follow(&handle, EnhanceBatchProgress, Duration::from_millis(500), |p| show_progress(&bar, p), None).await?;
    let summary = outcome.map_err(|e| explain("the batch failed", e))?;
    bar.set_position(summary.totals.images);
    bar.finish_with_message(format!("{} enhanced, {} failed", summary.totals.enhanced, summary.totals.failed));
    Ok(summary)
}

fn show_progress(bar: &ProgressBar, progress: &BatchProgress) {
    let t = &progress.totals;
    bar.set_position(t.images);
    bar.set_message(format!("{} enhanced, {} failed, {} running (run {})", t.enhanced, t.failed, progress.running, progress.run));
}

fn print_summary(summary: &EnhanceBatchSummary) {
    let t = &summary.totals;
    println!(
        "Enhanced {} of {} images from {} into {} ({} failed, {} other keys skipped, {} workflow runs)",
        t.enhanced, t.images, summary.source, summary.destination, t.failed, t.skipped, summary.runs
    );
    for failure in &summary.failures {
        println!("  failed: {} [{}]", failure.message, failure.error_type.as_deref().unwrap_or("error"));
    }
    if t.failed > summary.failures.len() as u64 {
        println!("  ... and {} more failures", t.failed - summary.failures.len() as u64);
    }
}

/// This pipeline's part of `starter demo`: a washed-out sample enhanced (and upscaled 2x) by
/// the configured enhancer.
pub async fn demo(config: &FleetConfig, client: &Client, storage: &Storage, samples_dir: &Path) -> anyhow::Result<()> {
    println!("\n== Enhancement: a low-contrast image ==");
    let path = samples_dir.join("low-contrast.png");
    std::fs::write(&path, samples::enhancement::low_contrast_png(640, 480)?).with_context(|| format!("writing {}", path.display()))?;
    let source = ObjectRef::new(buckets::INPUTS, "demo/enhance/low-contrast.png")?;
    storage.put_file(&source, &path, "image/png").await?;
    let destination = ObjectRef::new(buckets::OUTPUTS, "demo/enhance/low-contrast-enhanced.png")?;
    let mut settings = EnhancementConfig::from_env(config.env())?;
    if settings.options.size == TargetSize::default() {
        settings.options.size = TargetSize { width: Some(1280), height: None };
    }
    let workflow_id = "demo-enhance-low-contrast".to_owned();
    let handle = client
        .start_workflow(
            EnhanceImage,
            settings.request(source, destination),
            WorkflowStartOptions::new(config.queue(Queue::Enhancement), workflow_id.clone()).build(),
        )
        .await?;
    let result = handle.get_result(WorkflowGetResultOptions::default()).await.map_err(|e| explain("enhancing the demo image", e))?;
    print_result(&result);
    println!("  Web UI: {}", config.workflow_url(&workflow_id));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn defaults_are_the_local_enhancer() {
        let config = EnhancementConfig::from_env(&env(&[])).unwrap();
        assert_eq!(config.options, EnhanceOptions::default());
    }

    #[test]
    fn reads_the_openai_settings() {
        let config = EnhancementConfig::from_env(&env(&[
            ("ENHANCER", "openai"),
            ("OPENAI_MODEL", "gpt-image-2"),
            ("ENHANCEMENT_PROMPT", "brighten"),
            ("OPENAI_IMAGE_SIZE", "512x512"),
            ("ENHANCEMENT_TARGET_WIDTH", "800"),
        ]))
        .unwrap();
        assert_eq!(
            config.options.enhancer,
            Enhancer::Openai(OpenAiParams { model: "gpt-image-2".into(), prompt: "brighten".into(), size: "512x512".into() })
        );
        assert_eq!(config.options.size.width, Some(800));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (pairs, var) in [
            (vec![("ENHANCER", "magic")], "ENHANCER"),
            (vec![("ENHANCEMENT_LOW_PERCENTILE", "80"), ("ENHANCEMENT_HIGH_PERCENTILE", "20")], "ENHANCEMENT_LOW_PERCENTILE"),
            (vec![("ENHANCEMENT_DENOISE_SIGMA", "lots")], "ENHANCEMENT_DENOISE_SIGMA"),
            (vec![("ENHANCEMENT_SHARPEN_AMOUNT", "99")], "ENHANCEMENT_SHARPEN_AMOUNT"),
            (vec![("ENHANCER", "openai"), ("OPENAI_IMAGE_SIZE", "huge")], "OPENAI_IMAGE_SIZE"),
            (vec![("ENHANCEMENT_TARGET_WIDTH", "0")], "ENHANCEMENT_TARGET_WIDTH"),
            (vec![("ENHANCEMENT_BATCH_CONCURRENCY", "0")], "ENHANCEMENT_BATCH_CONCURRENCY"),
        ] {
            let err = EnhancementConfig::from_env(&env(&pairs)).unwrap_err().to_string();
            assert!(err.contains(var), "{pairs:?}: {err}");
        }
        let long = "x".repeat(40_000);
        let err = EnhancementConfig::from_env(&env(&[("ENHANCER", "openai"), ("ENHANCEMENT_PROMPT", &long)])).unwrap_err().to_string();
        assert!(err.contains("ENHANCEMENT_PROMPT"), "{err}");
    }
}
