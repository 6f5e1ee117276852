//! Section 7, video at real length: a generated long clip (two hours by default, small frames so
//! it is cheap to make) through the whole `VideoPipeline` on an embedded stack, one frame per
//! second, with one and then two video worker processes: every frame extracted, the run's
//! history size, the workers' peak RSS and frames per second. Then a full-HD clip of a few
//! minutes, frames kept at full size, for the peak RSS of 1920x1080 pictures. Figures are
//! reported, not asserted; the frame count is checked.

use crate::fleet_stack::{FleetKind, FleetStack, Part};
use anyhow::Context as _;
use contracts::video::{Sampling, VideoPipeline, VideoRequest};
use contracts::{ObjectRef, Queue, buckets};
use samples::video::{ClipSpec, Segment};
use serde::Serialize;
use std::path::Path;
use std::time::Instant;
use temporalio_client::{WorkflowFetchHistoryOptions, WorkflowGetResultOptions, WorkflowStartOptions};

/// Sizes of the section.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleSettings {
    /// The long clip: seconds, width, height, frames per second.
    pub long_clip: ClipSize,
    /// The full-HD clip.
    pub full_hd_clip: ClipSize,
    /// Video worker processes per run of the long clip.
    pub worker_counts: Vec<usize>,
}

/// A generated clip's size.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ClipSize {
    /// Length in seconds.
    pub seconds: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
}

/// One run of the pipeline.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleRun {
    /// Which clip.
    pub clip: String,
    /// Video worker processes.
    pub workers: usize,
    /// Their activity slots.
    pub slots: Slots,
    /// Frames the sampling asked for.
    pub frames_expected: u32,
    /// Frames extracted.
    pub frames: u32,
    /// Extraction segments.
    pub segments: u32,
    /// Scene transitions found.
    pub transitions: usize,
    /// Start to result, seconds.
    pub seconds: f64,
    /// Frames extracted and processed per second of that.
    pub frames_per_second: f64,
    /// Events in the run's history.
    pub history_events: usize,
    /// The highest peak RSS among the video workers, MiB.
    pub worker_peak_mib: f64,
}

/// The section's result.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleResult {
    /// Its sizes.
    pub settings: ScaleSettings,
    /// Every run.
    pub runs: Vec<ScaleRun>,
}

/// Runs the section under `dir`.
pub async fn run(settings: &ScaleSettings, dir: &Path) -> anyhow::Result<ScaleResult> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let long = write(dir, "long", settings.long_clip).await?;
    let full_hd = write(dir, "full-hd", settings.full_hd_clip).await?;
    let mut runs = Vec::new();
    // One segment at a time per process, so the rows compare processes like for like (on this
    // machine's few cores a worker's default, one slot per core, already fills them).
    for &workers in &settings.worker_counts {
        let slots = Slots::One;
        runs.push(run_once(&dir.join(format!("long-{workers}")), &long, "long", settings.long_clip, workers, slots, None).await?);
    }
    // The full-HD clip as a worker runs by default, one segment per core, in minute-long
    // segments so several are decoded at once: the peak RSS of full-size frames in parallel.
    let full_hd_run = FullSize { max_width: settings.full_hd_clip.width, segment_seconds: 60.0 };
    runs.push(run_once(&dir.join("full-hd"), &full_hd, "full-hd", settings.full_hd_clip, 1, Slots::PerCore, Some(full_hd_run)).await?);
    Ok(ScaleResult { settings: settings.clone(), runs })
}

/// Encodes a clip of `size`: a new solid colour every 30 s (with the samples' moving square),
/// so scene detection has cuts to find all along.
async fn write(dir: &Path, name: &str, size: ClipSize) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join(format!("{name}.mp4"));
    let mut spec = ClipSpec::three_scenes();
    (spec.width, spec.height, spec.fps) = (size.width, size.height, size.fps);
    let scene_frames = 30 * size.fps;
    let total = size.seconds * size.fps;
    spec.segments =
        (0..total.div_ceil(scene_frames)).map(|i| Segment { color: palette(i), frames: scene_frames.min(total - i * scene_frames) }).collect();
    let started = Instant::now();
    let target = path.clone();
    tokio::task::spawn_blocking(move || samples::video::write_clip(&target, &spec)).await??;
    println!(
        "  {name} clip: {}x{} {} fps, {} s, encoded in {:.0} s",
        size.width,
        size.height,
        size.fps,
        size.seconds,
        started.elapsed().as_secs_f64()
    );
    Ok(path)
}

/// Colours far enough apart (in hue) for every change to be a cut.
fn palette(i: u32) -> [u8; 3] {
    const COLOURS: [[u8; 3]; 6] = [[200, 40, 40], [40, 180, 60], [40, 60, 200], [200, 180, 40], [160, 40, 180], [40, 170, 170]];
    COLOURS[i as usize % COLOURS.len()]
}

/// Frames kept at full size, in segments of this length.
#[derive(Debug, Clone, Copy)]
struct FullSize {
    max_width: u32,
    segment_seconds: f64,
}

/// Activity slots of each video worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Slots {
    /// `VIDEO_MAX_CONCURRENT_ACTIVITIES=1`.
    One,
    /// The worker's default: one per core.
    PerCore,
}

async fn run_once(
    dir: &Path,
    clip: &Path,
    name: &str,
    size: ClipSize,
    workers: usize,
    slots: Slots,
    full_size: Option<FullSize>,
) -> anyhow::Result<ScaleRun> {
    let env: &[(&str, &str)] = match slots {
        Slots::One => &[("VIDEO_MAX_CONCURRENT_ACTIVITIES", "1")],
        Slots::PerCore => &[],
    };
    let stack = FleetStack::start(FleetKind::Rust, dir, None, &vec![Queue::Video; workers], env).await?;
    let outcome = measure(&stack, clip, name, size, workers, full_size).await.map(|run| ScaleRun { slots, ..run });
    stack.stop().await;
    outcome
}

async fn measure(
    stack: &FleetStack,
    clip: &Path,
    name: &str,
    size: ClipSize,
    workers: usize,
    full_size: Option<FullSize>,
) -> anyhow::Result<ScaleRun> {
    stack.storage.ensure_bucket(buckets::INPUTS).await?;
    stack.storage.ensure_bucket(buckets::OUTPUTS).await?;
    let video = ObjectRef::new(buckets::INPUTS, format!("bench/{name}.mp4"))?;
    stack.storage.put_file(&video, clip, "video/mp4").await?;
    let output = format!("s3://{}/bench/{name}-{workers}", buckets::OUTPUTS).parse()?;
    let mut request = VideoRequest::new(video, output, Sampling::EverySeconds(1.0));
    if let Some(full) = full_size {
        request.frames.max_width = full.max_width;
        request.frames.segment_seconds = full.segment_seconds;
    }
    print!("  {name}, {workers} video worker(s) ... ");
    std::io::Write::flush(&mut std::io::stdout())?;
    stack.reset_peaks();
    let started = Instant::now();
    let options = WorkflowStartOptions::new(stack.config.queue(Queue::Video), crate::stackutil::nonce()).build();
    let handle = stack.client.start_workflow(VideoPipeline, request, options).await?;
    let outcome = handle
        .get_result(WorkflowGetResultOptions::default())
        .await
        .with_context(|| format!("the {name} run failed (logs in {})", stack.log_dir.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let rss = stack.rss()?;
    let worker_peak_kib = stack.processes.iter().zip(&rss).filter(|(p, _)| p.part == Part::Worker).map(|(_, r)| r.peak_kib).max().unwrap_or(0);
    let history_events = handle.fetch_history(WorkflowFetchHistoryOptions::default()).into_events().await?.len();
    let e = &outcome.extraction;
    println!("{seconds:.0} s, {} frames, {history_events} events", e.frames);
    let expected = u32::try_from(u64::from(size.seconds)).unwrap_or(u32::MAX);
    anyhow::ensure!(e.frames == expected, "{name}: {} frames extracted, {expected} expected (one per second)", e.frames);
    Ok(ScaleRun {
        clip: format!("{name} {}x{} {} s", size.width, size.height, size.seconds),
        workers,
        slots: Slots::PerCore,
        frames_expected: e.frames_expected,
        frames: e.frames,
        segments: e.segments,
        transitions: outcome.transitions.len(),
        seconds,
        frames_per_second: f64::from(e.frames) / seconds,
        history_events,
        worker_peak_mib: worker_peak_kib as f64 / 1024.0,
    })
}

/// The section's table.
pub fn table(result: &ScaleResult) -> String {
    let mut out = String::from("7. Video at real length (one frame per second, whole pipeline)\n");
    out += &format!(
        "  {:<26} {:>13} {:>14} {:>8} {:>11} {:>8} {:>9} {:>13} {:>15}\n",
        "clip", "workers", "frames", "segments", "transitions", "seconds", "frames/s", "peak RSS MiB", "history events"
    );
    for r in &result.runs {
        let workers = format!("{} x {}", r.workers, if r.slots == Slots::One { "1 slot" } else { "cores" });
        out += &format!(
            "  {:<26} {:>13} {:>5} of {:>5} {:>8} {:>11} {:>8.0} {:>9.1} {:>13.0} {:>15}\n",
            r.clip,
            workers,
            r.frames,
            r.frames_expected,
            r.segments,
            r.transitions,
            r.seconds,
            r.frames_per_second,
            r.worker_peak_mib,
            r.history_events
        );
    }
    out
}
