//! The benchmark harness: the fleet against its peers on one machine, as ratios.
//!
//! 1. orchestration: a trivial 3-activity workflow, Rust worker vs Python `temporalio` worker;
//! 2. image analysis kernel: the accuracy metrics vs Pillow + NumPy, numbers checked to agree;
//! 3. end to end: batches of images (1 MP navad, 12 MP navad, navad + satellite GeoTIFFs)
//!    through the automation pipeline, the Rust fleet vs its Python twin, each on its own
//!    embedded stack: throughput, CPU of every process, memory, history events, billable
//!    actions, and where the time goes;
//! 4. video frame extraction: the video worker's code vs the `ffmpeg` CLI, at equal JPEG size;
//! 5. memory: idle and peak RSS of each worker process vs its Python counterpart;
//! 6. scene detection: the video worker's vs PySceneDetect and FFmpeg's scene score, on clips
//!    with known cuts, fades and flashes: what each finds, and how fast;
//! 7. video at real length: a two-hour clip through the whole video pipeline with one and two
//!    video workers (frames, history events, peak RSS, frames/s), and a full-HD clip's peak RSS;
//! 8. footprint reads: a ~1 GB COG in S3, the geolocalization worker's footprint vs
//!    `gdalinfo -json /vsis3/...`: bytes and requests through a counting proxy (at most 1 MB).
//!
//! Run it with `bench/run.sh [--quick]`, which installs the Python peer into bench/.venv and
//! builds this binary and the worker binaries in release mode. The JSON report goes to
//! bench/results/. See bench/README.md.

mod extraction;
mod fleet_stack;
mod footprint_reads;
mod history;
mod kernel;
mod machine;
mod orchestration;
mod peer;
mod pipeline;
mod report;
mod scenes;
mod server_metrics;
mod stackutil;
mod tuning;
mod video_scale;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Benchmarks the fleet against the Python Temporal SDK, Pillow + NumPy, the ffmpeg CLI and
/// PySceneDetect.
#[derive(Debug, Parser)]
#[command(name = "bench", version)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    Kernel,
    Video,
    Orchestration,
    EndToEnd,
    Scenes,
    VideoScale,
    Tuning,
    Footprint,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Small sizes: the whole run in a couple of minutes.
    #[arg(long)]
    quick: bool,
    /// Sections to run (comma-separated); all by default. Memory comes from orchestration and
    /// end-to-end.
    #[arg(long, value_delimiter = ',', value_enum)]
    sections: Vec<Section>,
    /// Orchestration: workflows per round and side [default: 300, quick 60].
    #[arg(long)]
    workflows: Option<usize>,
    /// Orchestration: workflows in flight at once.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Orchestration: measured rounds per side, alternating order [default: 2].
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// End to end: images in the 1 MP navad batch, 0 to skip it [default: 100, quick 20].
    #[arg(long)]
    images: Option<usize>,
    /// End to end: side of the 1 MP batch's images, in pixels (square).
    #[arg(long, default_value_t = 1024)]
    image_side: u32,
    /// End to end: images in the 12 MP navad batch, 0 to skip it [default: 12, quick 4].
    #[arg(long)]
    large_images: Option<usize>,
    /// End to end: size of the 12 MP batch's images, WIDTHxHEIGHT.
    #[arg(long, default_value = "4000x3000", value_parser = parse_size)]
    large_size: (u32, u32),
    /// End to end: images in the mixed batch (1 MP navad and satellite GeoTIFFs in turn), 0 to
    /// skip it [default: 40, quick 12].
    #[arg(long)]
    mix_images: Option<usize>,
    /// End to end: side of the mixed batch's satellite GeoTIFFs, in pixels (square).
    #[arg(long, default_value_t = 1024)]
    satellite_side: u32,
    /// End to end: run the Rust fleet alone, without its Python twin (bench/peer/fleet_twin).
    #[arg(long)]
    no_twin: bool,
    /// Kernel: tiles of 256x256 [default: 64, quick 16].
    #[arg(long)]
    small_tiles: Option<u32>,
    /// Kernel: tiles of 1024x1024 [default: 8, quick 2].
    #[arg(long)]
    large_tiles: Option<u32>,
    /// Video: clip length in seconds [default: 60, quick 12].
    #[arg(long)]
    video_seconds: Option<u32>,
    /// Video scale: length of the long clip in seconds [default: 7200, quick 600].
    #[arg(long)]
    long_video_seconds: Option<u32>,
    /// Scenes: length of each clip in seconds [default: 60, quick 12].
    #[arg(long)]
    scenes_seconds: Option<u32>,
    /// Video: the CLI's -q:v [default: calibrated to the worker's JPEG size, within 10 %].
    #[arg(long)]
    ffmpeg_qscale: Option<u32>,
    /// Kernel, video and scenes: runs per measurement, the best kept [default: 5 kernel /
    /// 3 video / 2 scenes, quick 3 / 2 / 1].
    #[arg(long)]
    repeats: Option<usize>,
    /// Python of the peer (with bench/peer/requirements.txt installed).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python"))]
    python: PathBuf,
    /// Directory of the peer's scripts.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/peer"))]
    peer_dir: PathBuf,
    /// Where the JSON report is written.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    results_dir: PathBuf,
    /// Parent of the scratch directory (tiles, clip, frames, the dev servers' databases, logs)
    /// [default: /dev/shm when it exists, else the system's temporary directory].
    #[arg(long)]
    scratch_dir: Option<PathBuf>,
    /// Keep the scratch directory instead of removing it.
    #[arg(long)]
    keep_scratch: bool,
}

/// `WIDTHxHEIGHT`.
fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text.split_once('x').ok_or_else(|| format!("{text:?} is not WIDTHxHEIGHT"))?;
    let parse = |v: &str| v.trim().parse::<u32>().ok().filter(|v| *v > 0).ok_or_else(|| format!("{text:?} is not WIDTHxHEIGHT"));
    Ok((parse(w)?, parse(h)?))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli.run));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn check_peer(args: &RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.python.is_file(), "no Python at {} (run bench/run.sh, which creates bench/.venv, or pass --python)", args.python.display());
    for package in ["temporalio", "PIL", "numpy"] {
        let found = tokio::process::Command::new(&args.python).args(["-c", &format!("import {package}")]).output().await?;
        anyhow::ensure!(found.status.success(), "{} cannot import {package} (run bench/run.sh)", args.python.display());
    }
    Ok(())
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let sections = if args.sections.is_empty() {
        vec![
            Section::Kernel,
            Section::Video,
            Section::Scenes,
            Section::Orchestration,
            Section::EndToEnd,
            Section::VideoScale,
            Section::Footprint,
            Section::Tuning,
        ]
    } else {
        args.sections.clone()
    };
    let wants = |s: Section| sections.contains(&s);
    if wants(Section::Kernel) || wants(Section::Orchestration) {
        check_peer(&args).await?;
    }
    let machine = machine::Machine::detect()?;
    println!(
        "bench on {} ({} cores, {:.0} GiB){}",
        machine.cpu_model,
        machine.cores,
        machine.memory_gib,
        if args.quick { ", quick sizes" } else { "" }
    );
    // In memory by default: the dev server's SQLite database syncs every transaction, and on a
    // disk those syncs, not the workers, would set the pace of sections 1 and 3.
    let scratch_parent = args.scratch_dir.clone().unwrap_or_else(|| {
        let shm = PathBuf::from("/dev/shm");
        if shm.is_dir() { shm } else { std::env::temp_dir() }
    });
    let scratch = tempfile::Builder::new()
        .prefix("fleet-bench-")
        .tempdir_in(&scratch_parent)
        .with_context(|| format!("creating a scratch directory in {}", scratch_parent.display()))?;
    let dir = scratch.path().to_owned();
    let quick = args.quick;
    let pick = |given: Option<usize>, full: usize, small: usize| given.unwrap_or(if quick { small } else { full });
    let repeats = args.repeats;

    // CPU-bound sections first, while no server runs on the machine.
    let kernel = if wants(Section::Kernel) {
        println!("[kernel] accuracy metrics vs Pillow + NumPy");
        let settings = kernel::KernelSettings {
            sets: vec![
                kernel::TileSet { size: 256, count: args.small_tiles.unwrap_or(if quick { 16 } else { 64 }) },
                kernel::TileSet { size: 1024, count: args.large_tiles.unwrap_or(if quick { 2 } else { 8 }) },
            ]
            .into_iter()
            .filter(|s| s.count > 0)
            .collect(),
            repeats: pick(repeats, 5, 3),
        };
        Some(kernel::run(&settings, &args.python, &args.peer_dir, &dir.join("kernel")).await.context("kernel section")?)
    } else {
        None
    };
    let video = if wants(Section::Video) {
        println!("[video] frame extraction vs the ffmpeg CLI");
        let settings = extraction::VideoSettings {
            seconds: args.video_seconds.unwrap_or(if quick { 12 } else { 60 }),
            width: 1280,
            height: 720,
            fps: 25,
            every_seconds: 1.0,
            frame_width: contracts::video::FrameSettings::default().max_width,
            jpeg_quality: contracts::video::FrameSettings::default().jpeg_quality,
            ffmpeg_qscale: args.ffmpeg_qscale,
            repeats: pick(repeats, 3, 2),
        };
        Some(extraction::run(&settings, &dir.join("video")).await.context("video section")?)
    } else {
        None
    };
    let scenes = if wants(Section::Scenes) {
        println!("[scenes] scene detection vs PySceneDetect and FFmpeg's scene score");
        let settings = scenes::ScenesSettings {
            seconds: args.scenes_seconds.unwrap_or(if quick { 12 } else { 60 }),
            width: 640,
            height: 360,
            ffmpeg_threshold: 0.3,
            repeats: pick(repeats, 2, 1),
        };
        Some(scenes::run(&settings, &args.python, &args.peer_dir, &dir.join("scenes")).await.context("scenes section")?)
    } else {
        None
    };
    let orchestration = if wants(Section::Orchestration) {
        println!("[orchestration] Rust worker vs Python temporalio worker");
        let workflows = pick(args.workflows, 300, 60);
        let settings = orchestration::OrchestrationSettings {
            workflows,
            concurrency: args.concurrency,
            rounds: args.rounds.max(1),
            warmup: (workflows / 10).max(10),
        };
        Some(orchestration::run(&settings, &args.python, &args.peer_dir, &dir.join("orchestration")).await.context("orchestration section")?)
    } else {
        None
    };
    let end_to_end = if wants(Section::EndToEnd) {
        println!("[end-to-end] automation pipeline: the Rust fleet vs its Python twin, each on its own embedded stack");
        let side = args.image_side;
        let batch = |name: &str, images: usize, (navad_width, navad_height): (u32, u32), satellite_every: usize| pipeline::BatchSpec {
            name: name.to_owned(),
            images,
            navad_width,
            navad_height,
            satellite_every,
            satellite_side: args.satellite_side,
        };
        let batches = vec![
            batch("navad-1mp", pick(args.images, 100, 20), (side, side), 0),
            batch("navad-12mp", pick(args.large_images, 12, 4), args.large_size, 0),
            batch("mix", pick(args.mix_images, 40, 12), (side, side), 2),
        ];
        let settings = pipeline::EndToEndSettings { batches: batches.into_iter().filter(|b| b.images > 0).collect() };
        // Absolute (the twin runs in the peer directory), symlinks kept (a venv's python is one).
        let twin = fleet_stack::Twin { python: std::path::absolute(&args.python)?, peer_dir: std::path::absolute(&args.peer_dir)? };
        Some(pipeline::run(&settings, (!args.no_twin).then_some(&twin), &dir.join("end-to-end")).await.context("end-to-end section")?)
    } else {
        None
    };

    let video_scale = if wants(Section::VideoScale) {
        println!("[video-scale] a long clip through the whole video pipeline, one and two video workers");
        let settings = video_scale::ScaleSettings {
            long_clip: video_scale::ClipSize {
                seconds: args.long_video_seconds.unwrap_or(if quick { 600 } else { 7200 }),
                width: 160,
                height: 90,
                fps: 10,
            },
            full_hd_clip: video_scale::ClipSize { seconds: if quick { 30 } else { 180 }, width: 1920, height: 1080, fps: 25 },
            worker_counts: vec![1, 2],
        };
        Some(video_scale::run(&settings, &dir.join("video-scale")).await.context("video-scale section")?)
    } else {
        None
    };

    let footprint = if wants(Section::Footprint) {
        println!("[footprint] a large COG's footprint over S3: bytes and requests, the worker vs gdalinfo");
        // 28672 px square: 0.82 GB of pixels and 0.27 GB of overviews.
        let settings = footprint_reads::FootprintSettings { side: if quick { 8192 } else { 28_672 }, repeats: pick(repeats, 3, 2) };
        Some(footprint_reads::run(&settings, &dir.join("footprint")).await.context("footprint section")?)
    } else {
        None
    };

    let tuning = if wants(Section::Tuning) {
        println!("[tuning] the 12 MP navad batch with fixed and with resource-based worker slots");
        let batch = pipeline::BatchSpec {
            name: "navad-12mp".to_owned(),
            images: pick(args.large_images, 12, 4),
            navad_width: args.large_size.0,
            navad_height: args.large_size.1,
            satellite_every: 0,
            satellite_side: args.satellite_side,
        };
        let settings = pipeline::EndToEndSettings { batches: vec![batch] };
        Some(tuning::run(&settings, &dir.join("tuning")).await.context("tuning section")?)
    } else {
        None
    };

    let memory = report::memory_rows(orchestration.as_ref(), end_to_end.as_ref());
    let scratch_dir = scratch_parent.display().to_string();
    let mut report = report::Report {
        machine,
        quick,
        scratch_dir,
        orchestration,
        kernel,
        end_to_end,
        video,
        scenes,
        video_scale,
        footprint,
        tuning,
        memory,
        table: String::new(),
    };
    report.table = report::table(&report);
    println!("\n{}", report.table);
    let path = write_report(&report, &args.results_dir)?;
    println!("report: {} (in {:.0} s)", path.display(), started.elapsed().as_secs_f64());
    if args.keep_scratch {
        println!("scratch kept: {}", scratch.keep().display());
    }
    if let Some(e) = &report.end_to_end {
        e.check_verdicts().context("end-to-end section")?;
    }
    Ok(())
}

/// Writes the report as `bench-<date>[-quick].json`, through a temporary file so a reader never
/// sees half a report.
fn write_report(report: &report::Report, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stamp = report.machine.date.replace(':', "-");
    let name = format!("bench-{stamp}{}.json", if report.quick { "-quick" } else { "" });
    let path = dir.join(name);
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, serde_json::to_vec_pretty(report)?)?;
    std::fs::rename(&temporary, &path)?;
    Ok(path)
}
