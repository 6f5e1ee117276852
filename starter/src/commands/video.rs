//! `starter video`: one video through the video pipeline (analyze, extract frames, process
//! frames). A local file is uploaded to `s3://fleet-inputs/video/` first. A progress bar follows
//! the run's `progress` query; Ctrl-C sends the run its `cancel` signal (it stops and removes its
//! partial outputs). At the end: the metadata, the scene cuts, the contact sheet, the summary
//! key and the Web UI link.
//!
//! Activity timeouts and retries start from `VideoActivities::default()` and are overridden by
//! `VIDEO_*` variables (see `workers/video/README.md`).

use crate::commands::inputs;
use crate::progress;
use anyhow::Context;
use clap::Args;
use contracts::object::PrefixRef;
use contracts::video::{
    CancelVideo, FrameFormat, Sampling, VideoActivities, VideoCancelled, VideoOutcome, VideoPipeline, VideoProgress, VideoProgressQuery,
    VideoRequest, VideoStage,
};
use contracts::{ObjectRef, Queue, buckets};
use fleet::config::{ConfigError, Env};
use fleet::{FleetConfig, Storage};
use indicatif::ProgressBar;
use std::path::Path;
use std::time::Duration;
use temporalio_client::errors::WorkflowGetResultError;
use temporalio_client::{Client, WorkflowHandle, WorkflowSignalOptions, WorkflowStartOptions};

#[derive(Args, Debug)]
pub struct VideoArgs {
    /// `s3://bucket/key`, or a local video file (uploaded to s3://fleet-inputs/video/ first).
    pub input: String,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Scale frames wider than this down to it (aspect kept).
    #[arg(long, default_value_t = 640)]
    pub max_width: u32,
    /// Image format of frames, thumbnails and the contact sheet: jpeg or png.
    #[arg(long, default_value = "jpeg")]
    pub format: FrameFormat,
    /// Refuse (before extracting any) a sampling that needs more frames than this.
    #[arg(long, default_value_t = 20_000)]
    pub max_frames: u32,
    /// Extract in time segments of about this many seconds, in parallel (at most 32 segments).
    #[arg(long, default_value_t = 300.0)]
    pub segment_seconds: f64,
    /// Columns of the contact sheet.
    #[arg(long, default_value_t = 5)]
    pub columns: u32,
    /// Thumbnail width in pixels.
    #[arg(long, default_value_t = 160)]
    pub thumb_width: u32,
    /// HSV content change between two frames (0..255, PySceneDetect's `content_val`) from which
    /// a cut is reported.
    #[arg(long, default_value_t = 27.0)]
    pub threshold: f64,
    /// Where outputs go; default `s3://<VIDEO_OUTPUT_BUCKET>/video/<input key>/`. Everything
    /// under it belongs to the run (a cancel removes it).
    #[arg(long)]
    pub output: Option<String>,
    /// Print the workflow id and its Web UI link, and exit without waiting.
    #[arg(long)]
    pub no_wait: bool,
    /// Print the result as JSON (the workflow's `VideoOutcome`).
    #[arg(long)]
    pub json: bool,
}

/// Which frames to keep: one of the three, one frame per second when none is given.
#[derive(Args, Debug, Default)]
#[group(multiple = false)]
pub struct SamplingArgs {
    /// One frame per interval: `1s`, `500ms`, `2m`, or plain seconds (`0.5`).
    #[arg(long, value_name = "INTERVAL", value_parser = parse_interval)]
    pub every: Option<f64>,
    /// Every Nth decoded frame (frames 0, N, 2N, ...).
    #[arg(long, value_name = "N")]
    pub every_nth: Option<u32>,
    /// N frames spread evenly over the duration.
    #[arg(long, value_name = "N")]
    pub frames: Option<u32>,
}

impl SamplingArgs {
    fn sampling(&self) -> Sampling {
        match (self.every, self.every_nth, self.frames) {
            (Some(seconds), _, _) => Sampling::EverySeconds(seconds),
            (_, Some(n), _) => Sampling::EveryNthFrame(n),
            (_, _, Some(n)) => Sampling::Evenly(n),
            _ => Sampling::EverySeconds(1.0),
        }
    }
}

/// `1s`, `250ms`, `2m`, `1.5` (seconds) -> seconds.
pub fn parse_interval(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number.trim().parse().map_err(|_| format!("{text:?} is not an interval like 1s, 500ms or 2m"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "s" | "sec" => value,
        "m" | "min" => value * 60.0,
        other => return Err(format!("{text:?}: unknown unit {other:?} (ms, s or m)")),
    };
    Sampling::EverySeconds(seconds).validate().map(|()| seconds)
}

/// Timeouts, retries and output bucket from the `VIDEO_*` variables.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoConfig {
    /// Activity settings carried in the workflow input.
    pub activities: VideoActivities,
    /// Default bucket of the outputs.
    pub output_bucket: String,
}

fn seconds_ms(env: &Env, var: &str, default_ms: u64) -> Result<u64, ConfigError> {
    Ok(env.seconds(var, Duration::from_millis(default_ms))?.as_millis() as u64)
}

/// Reads `VIDEO_OUTPUT_BUCKET`, `VIDEO_MAX_ATTEMPTS`, `VIDEO_ANALYZE_TIMEOUT_SECS`,
/// `VIDEO_EXTRACT_TIMEOUT_SECS`, `VIDEO_PROCESS_TIMEOUT_SECS` and `VIDEO_HEARTBEAT_SECS` over the
/// defaults; a bad value is an error naming the variable.
pub fn config_from_env(env: &Env) -> Result<VideoConfig, ConfigError> {
    let mut activities = VideoActivities::default();
    activities.analyze.start_to_close_ms = seconds_ms(env, "VIDEO_ANALYZE_TIMEOUT_SECS", activities.analyze.start_to_close_ms)?;
    activities.extract.start_to_close_ms = seconds_ms(env, "VIDEO_EXTRACT_TIMEOUT_SECS", activities.extract.start_to_close_ms)?;
    activities.process.start_to_close_ms = seconds_ms(env, "VIDEO_PROCESS_TIMEOUT_SECS", activities.process.start_to_close_ms)?;
    let heartbeat = seconds_ms(env, "VIDEO_HEARTBEAT_SECS", activities.extract.heartbeat_ms)?;
    activities.extract.heartbeat_ms = heartbeat;
    activities.process.heartbeat_ms = heartbeat;
    if let Some(attempts) = env.parse_opt::<u32>("VIDEO_MAX_ATTEMPTS")? {
        for settings in [&mut activities.analyze, &mut activities.extract, &mut activities.process, &mut activities.cleanup] {
            settings.retry.maximum_attempts = attempts;
        }
    }
    let output_bucket = env.string("VIDEO_OUTPUT_BUCKET", buckets::OUTPUTS);
    contracts::object::validate_bucket(&output_bucket)
        .map_err(|e| ConfigError::Invalid { var: "VIDEO_OUTPUT_BUCKET".into(), reason: e.to_string() })?;
    Ok(VideoConfig { activities, output_bucket })
}

/// The default output folder of an input: `video/<key with / and . as ->`.
fn default_output(bucket: &str, video: &ObjectRef) -> PrefixRef {
    PrefixRef { bucket: bucket.to_owned(), prefix: format!("video/{}", inputs::id_fragment(video.key()).replace('.', "-")) }
}

fn build_request(args: &VideoArgs, video: &ObjectRef, settings: &VideoConfig) -> anyhow::Result<VideoRequest> {
    let output = match &args.output {
        Some(uri) => uri.parse::<PrefixRef>().with_context(|| format!("--output {uri:?}"))?,
        None => default_output(&settings.output_bucket, video),
    };
    let mut request = VideoRequest::new(video.clone(), output, args.sampling.sampling());
    request.frames.max_width = args.max_width;
    request.frames.format = args.format;
    request.frames.max_frames = args.max_frames;
    request.frames.segment_seconds = args.segment_seconds;
    request.process.sheet_columns = args.columns;
    request.process.thumb_width = args.thumb_width;
    request.process.scenes.content_threshold = args.threshold;
    request.activities = settings.activities.clone();
    request.validate().map_err(anyhow::Error::msg)?;
    Ok(request)
}

pub async fn run(args: VideoArgs) -> anyhow::Result<()> {
    let config = FleetConfig::load()?;
    fleet::telemetry::init(&config.log);
    let settings = config_from_env(&Env::load()?)?;
    let storage = Storage::new(&config.s3);
    let video = inputs::resolve_object(&storage, &args.input, "video").await?;
    let request = build_request(&args, &video, &settings)?;
    storage.ensure_bucket(&request.output.bucket).await?;
    let client = fleet::temporal::connect(&config).await?;
    let workflow_id = format!("video-{}", inputs::id_fragment(video.key()));
    let handle = start(&config, &client, request, &workflow_id).await?;
    // With --json, standard output holds the JSON document alone (as `automation --json`).
    let note = |line: String| if args.json { eprintln!("{line}") } else { println!("{line}") };
    note(format!("started {workflow_id}: {}", config.workflow_url(&workflow_id)));
    if args.no_wait {
        return Ok(());
    }
    let outcome = wait_with_progress(&handle, !args.json).await;
    match outcome? {
        Finished::Completed(outcome) if args.json => println!("{}", serde_json::to_string_pretty(&outcome)?),
        Finished::Completed(outcome) => print_outcome(&outcome),
        Finished::Cancelled(details) if args.json => println!("{}", serde_json::to_string_pretty(&details)?),
        Finished::Cancelled(details) => print_cancelled(&details),
    }
    note(format!("Web UI: {}", config.workflow_url(&workflow_id)));
    Ok(())
}

async fn start(
    config: &FleetConfig,
    client: &Client,
    request: VideoRequest,
    workflow_id: &str,
) -> anyhow::Result<WorkflowHandle<Client, VideoPipeline>> {
    client
        .start_workflow(VideoPipeline, request, WorkflowStartOptions::new(config.queue(Queue::Video), workflow_id.to_owned()).build())
        .await
        .with_context(|| format!("starting workflow {workflow_id}"))
}

/// How a run ended, when it did not fail.
enum Finished {
    Completed(Box<VideoOutcome>),
    Cancelled(VideoCancelled),
}

/// Waits for the result, drawing a progress bar from the `progress` query every 300 ms. The
/// first Ctrl-C sends the `cancel` signal and keeps waiting for the run to clean up.
async fn wait_with_progress(handle: &WorkflowHandle<Client, VideoPipeline>, show: bool) -> anyhow::Result<Finished> {
    let bar = progress::bar(show, 100, "{pos:>3}%")?;
    let cancel: progress::OnInterrupt<'_> = Box::new(|| {
        Box::pin(async {
            bar.println("Ctrl-C: asking the run to cancel and remove its partial outputs ...");
            handle
                .signal(CancelVideo, "cancelled from the starter (Ctrl-C)".to_owned(), WorkflowSignalOptions::default())
                .await
                .context("sending the cancel signal")
        })
    });
    let outcome = progress::follow(handle, VideoProgressQuery, Duration::from_millis(300), |p| show_progress(&bar, p), Some(cancel)).await?;
    bar.finish_and_clear();
    match outcome {
        Ok(outcome) => Ok(Finished::Completed(Box::new(outcome))),
        Err(WorkflowGetResultError::Cancelled { details }) => {
            Ok(Finished::Cancelled(details.deserialize().context("reading the cancellation details")?))
        }
        Err(e) => {
            // The failure arrives wrapped (workflow -> activity -> application failure); the
            // innermost message is the one that names the input and the reason.
            let mut root: &dyn std::error::Error = &e;
            while let Some(cause) = root.source() {
                root = cause;
            }
            anyhow::bail!("workflow {} failed: {root}", handle.info().workflow_id)
        }
    }
}

fn show_progress(bar: &ProgressBar, progress: &VideoProgress) {
    bar.set_position(progress.percent.round().clamp(0.0, 100.0) as u64);
    let expected = progress.frames_expected.map_or_else(|| "?".to_owned(), |n| n.to_string());
    let frames = match progress.stage {
        VideoStage::Extracting => format!(" {}/{expected} frames", progress.frames_extracted),
        VideoStage::Processing => format!(" {}/{expected} frames", progress.frames_processed),
        _ => String::new(),
    };
    bar.set_message(format!("{}{frames}", progress.stage));
}

fn print_outcome(outcome: &VideoOutcome) {
    let m = &outcome.metadata;
    let counted = match m.frame_count_source {
        contracts::video::FrameCountSource::Container => "from the container index",
        contracts::video::FrameCountSource::CountedPackets => "counted",
    };
    println!("\n{}", m.video);
    println!(
        "  {} in {}, {}x{} ({}), {:.3} fps, {:.2} s, {} frames ({counted}), rotation {} deg, {} audio stream(s)",
        m.codec, m.container, m.width, m.height, m.pixel_format, m.fps, m.duration_seconds, m.frame_count, m.rotation_degrees, m.audio_streams
    );
    let e = &outcome.extraction;
    println!(
        "  {} frames extracted of {} expected, {}x{}, in {} segment(s) -> {} (highest attempt {}, {} frames resumed from checkpoints)",
        e.frames, e.frames_expected, e.width, e.height, e.segments, e.manifest, e.attempt, e.resumed_from
    );
    if e.frames < e.frames_expected {
        println!("  (fewer frames than sampling instants: instants closer than the frame rate share a frame)");
    }
    if outcome.transitions.is_empty() && outcome.scene_cuts.is_empty() {
        println!("  no scene transitions detected");
    }
    for t in &outcome.transitions {
        // The kind as the JSON outputs spell it (cut, fade_in, fade_out, flash).
        let kind = serde_json::to_value(t.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        println!("    {kind:<8} {:>9.3} s .. {:>9.3} s  score {:.1}", t.start_seconds, t.end_seconds, t.score);
    }
    // Runs from before segmenting report histogram cuts between sampled frames only.
    if outcome.transitions.is_empty() {
        for cut in &outcome.scene_cuts {
            println!("    cut at {:>8.2} s (after {:.2} s)  score {:.2}  frame {}", cut.at_seconds, cut.previous_seconds, cut.score, cut.frame_index);
        }
    }
    let s = &outcome.contact_sheet;
    println!("  contact sheet: {} ({}x{}, {} x {} thumbnails)", s.object, s.width, s.height, s.columns, s.rows);
    println!("  summary: {}", outcome.summary);
}

fn print_cancelled(details: &VideoCancelled) {
    println!(
        "\n{}: cancelled while {} ({}); {} partial output object(s) removed",
        details.video, details.stage, details.reason, details.removed_objects
    );
}

/// This pipeline's part of `starter demo`: a generated 6 s clip with scene cuts at 2 s and 4 s.
pub async fn demo(config: &FleetConfig, client: &Client, storage: &Storage, samples_dir: &Path) -> anyhow::Result<()> {
    println!("\n== Video: analyze, extract frames, scene cuts, contact sheet ==");
    let dir = samples_dir.join("video");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("three-scenes.mp4");
    let spec = samples::video::ClipSpec::three_scenes();
    let clip = path.clone();
    tokio::task::spawn_blocking(move || samples::video::write_clip(&clip, &spec)).await??;
    let video = inputs::resolve_object(storage, &path.display().to_string(), "video").await?;
    let settings = config_from_env(&Env::load()?)?;
    storage.ensure_bucket(&settings.output_bucket).await?;
    let args = VideoArgs {
        input: video.to_string(),
        sampling: SamplingArgs { every: Some(0.5), ..SamplingArgs::default() },
        max_width: 640,
        format: FrameFormat::Jpeg,
        max_frames: 20_000,
        segment_seconds: 300.0,
        columns: 4,
        thumb_width: 160,
        threshold: 27.0,
        output: None,
        no_wait: false,
        json: false,
    };
    let request = build_request(&args, &video, &settings)?;
    let workflow_id = format!("video-{}", inputs::id_fragment(video.key()));
    let handle = start(config, client, request, &workflow_id).await?;
    println!("started {workflow_id}: {}", config.workflow_url(&workflow_id));
    match wait_with_progress(&handle, true).await? {
        Finished::Completed(outcome) => print_outcome(&outcome),
        Finished::Cancelled(details) => print_cancelled(&details),
    }
    println!("Web UI: {}", config.workflow_url(&workflow_id));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1s"), Ok(1.0));
        assert_eq!(parse_interval("500ms"), Ok(0.5));
        assert_eq!(parse_interval("2m"), Ok(120.0));
        assert_eq!(parse_interval("0.25"), Ok(0.25));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("fast").is_err());
        assert!(parse_interval("3h").is_err());
    }

    #[test]
    fn sampling_flags() {
        assert_eq!(SamplingArgs::default().sampling(), Sampling::EverySeconds(1.0));
        assert_eq!(SamplingArgs { frames: Some(4), ..Default::default() }.sampling(), Sampling::Evenly(4));
        assert_eq!(SamplingArgs { every_nth: Some(10), ..Default::default() }.sampling(), Sampling::EveryNthFrame(10));
    }

    #[test]
    fn settings_from_env() {
        let env = |pairs: &[(&str, &str)]| Env::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>());
        let defaults = config_from_env(&env(&[])).unwrap();
        assert_eq!(defaults.activities, VideoActivities::default());
        assert_eq!(defaults.output_bucket, buckets::OUTPUTS);
        let custom =
            config_from_env(&env(&[("VIDEO_MAX_ATTEMPTS", "2"), ("VIDEO_HEARTBEAT_SECS", "5"), ("VIDEO_EXTRACT_TIMEOUT_SECS", "90")])).unwrap();
        assert_eq!(custom.activities.extract.retry.maximum_attempts, 2);
        assert_eq!(custom.activities.cleanup.retry.maximum_attempts, 2);
        assert_eq!(custom.activities.process.heartbeat_ms, 5_000);
        assert_eq!(custom.activities.extract.start_to_close_ms, 90_000);
        let err = config_from_env(&env(&[("VIDEO_HEARTBEAT_SECS", "-1")])).unwrap_err().to_string();
        assert!(err.contains("VIDEO_HEARTBEAT_SECS"), "{err}");
        let video: ObjectRef = "s3://fleet-inputs/video/my clip.mp4".parse().unwrap();
        assert_eq!(default_output("fleet-outputs", &video).prefix, "video/video-my-clip-mp4");
    }
}
