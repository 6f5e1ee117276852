//! Section 4, video frame extraction: the video worker's extraction code
//! (`video::extract::sample_and_encode`: decoding and sampling overlapped with JPEG encoding,
//! what the `ExtractFrames` activity runs before uploading) against the `ffmpeg` CLI, same clip, same sampling (one
//! frame every N seconds), same output (JPEG files at the same width, area scaling). Both write
//! `frame-NNNN.jpg` files into a directory; the frame counts and sizes must match. The CLI
//! writes 4:4:4 JPEG like the worker's encoder, with the standard Huffman tables like it
//! (`-huffman default`), at the same quality (a higher quality costs encoding time): its `-q:v`
//! is the best quality (lowest, from 2) whose frames are within 10 % of the worker's in bytes at
//! the worker's `FrameSettings::jpeg_quality`; when none is, the CLI keeps `-q:v 2` and the
//! worker's quality is calibrated to the CLI's size instead.
//!
//! The CLI runs twice: as users run it (its default threading: frame-threaded decoding on every
//! core) and with `-threads 1 -filter_threads 1`, which tells how much of a gap is threading.

use anyhow::Context as _;
use contracts::video::{FrameFormat, Sampling};
use samples::video::{ClipSpec, Segment};
use serde::Serialize;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;
use video::extract::{Encoded, sample_and_encode};
use video::frames::{Decoded, ResumePoint, SamplePlan, Window, sample_frames};

/// Sizes of the section.
#[derive(Debug, Clone, Serialize)]
pub struct VideoSettings {
    /// Clip length, seconds.
    pub seconds: u32,
    /// Clip width.
    pub width: u32,
    /// Clip height.
    pub height: u32,
    /// Clip frame rate.
    pub fps: u32,
    /// One frame kept every this many seconds.
    pub every_seconds: f64,
    /// Frames are scaled down to this width (the video worker's default).
    pub frame_width: u32,
    /// JPEG quality of the Rust side (the worker's default), unless calibrated (see the module).
    pub jpeg_quality: u8,
    /// `-q:v` of the CLI (2-31, lower is better); `None` calibrates it: the value whose frames
    /// come closest in bytes to the worker's, within [`SIZE_TOLERANCE`]. When given, the
    /// worker keeps `jpeg_quality` and no size check is made.
    pub ffmpeg_qscale: Option<u32>,
    /// Runs per side; the best is kept.
    pub repeats: usize,
}

/// How far the CLI's mean frame size may be from the worker's, as a fraction.
pub const SIZE_TOLERANCE: f64 = 0.10;

/// One side's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct ExtractorResult {
    /// Frames written.
    pub frames: usize,
    /// Best run, seconds.
    pub best_seconds: f64,
    /// Every run, seconds.
    pub run_seconds: Vec<f64>,
    /// Frames per second of the best run.
    pub frames_per_second: f64,
    /// Bytes of the frames written by the best run.
    pub output_bytes: u64,
    /// Size of the frames written.
    pub frame_size: (u32, u32),
}

/// The section's result.
#[derive(Debug, Clone, Serialize)]
pub struct VideoResult {
    /// Sizes used.
    pub settings: VideoSettings,
    /// Frames in the clip (all decoded by both sides).
    pub clip_frames: u64,
    /// The clip's codec.
    pub codec: String,
    /// The video worker's code.
    pub rust: ExtractorResult,
    /// `ffmpeg` as users run it.
    pub ffmpeg: ExtractorResult,
    /// `ffmpeg -threads 1 -filter_threads 1`.
    pub ffmpeg_single_thread: ExtractorResult,
    /// `ffmpeg -version`'s first line.
    pub ffmpeg_version: String,
    /// The CLI's `-q:v` used (the best quality whose frames are within 10 % of the worker's).
    pub ffmpeg_qscale: u32,
    /// The worker's JPEG quality used.
    pub rust_quality: u8,
    /// The calibration: mean frame bytes of the CLI at each `-q:v` tried (empty when given).
    pub calibration: Vec<(u32, f64)>,
    /// The worker's calibration, when the CLI's could not match: mean frame bytes at each
    /// quality tried.
    pub rust_calibration: Vec<(u8, f64)>,
    /// Mean frame bytes of the worker.
    pub rust_frame_bytes: f64,
    /// Mean frame bytes of the CLI.
    pub ffmpeg_frame_bytes: f64,
    /// Diagnostic: the video worker's decode + scale with the frames dropped instead of encoded
    /// and written, best run, seconds.
    pub rust_without_encoding_seconds: f64,
    /// Diagnostic: how much longer the Rust side's best run took than decoding and scaling
    /// alone (encoding overlaps decoding; what it still adds), as a fraction.
    pub rust_encoding_overhead: f64,
    /// Rust frames per second over the CLI's (default threading).
    pub speedup: f64,
    /// Rust frames per second over the single-threaded CLI's.
    pub speedup_single_thread: f64,
}

/// The clip: `seconds` long, four solid-colour scenes with the samples' moving square.
fn clip_spec(settings: &VideoSettings) -> ClipSpec {
    let colors = [[220, 30, 30], [30, 200, 40], [30, 40, 210], [200, 190, 60]];
    let total = settings.seconds * settings.fps;
    let per_scene = total / colors.len() as u32;
    let segments = colors
        .iter()
        .enumerate()
        .map(|(i, &color)| Segment { color, frames: if i + 1 == colors.len() { total - per_scene * 3 } else { per_scene } })
        .collect();
    ClipSpec { width: settings.width, height: settings.height, fps: settings.fps, segments, ..ClipSpec::three_scenes() }
}

/// Files named `frame-*.jpg` in `dir`: count, bytes, and the size of the first.
fn frames_in(dir: &Path) -> anyhow::Result<(usize, u64, (u32, u32))> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("frame-") && n.ends_with(".jpg")))
        .collect();
    files.sort();
    let bytes = files.iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum();
    let size = match files.first() {
        Some(first) => image::image_dimensions(first)?,
        None => (0, 0),
    };
    Ok((files.len(), bytes, size))
}

fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// The video worker's extraction into `out`.
fn extract_rust(clip: &Path, plan: &SamplePlan, quality: u8, out: &Path) -> anyhow::Result<f64> {
    fresh_dir(out)?;
    let started = Instant::now();
    let mut failure = None;
    sample_and_encode(clip, plan, ResumePoint::default().into(), FrameFormat::Jpeg, quality, |encoded| {
        let written = encoded.map_err(anyhow::Error::msg).and_then(|encoded| match encoded {
            Encoded::Frame(frame) => Ok(std::fs::write(out.join(format!("frame-{:04}.jpg", frame.index + 1)), frame.bytes)?),
            Encoded::Score(_) => Ok(()),
        });
        match written {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(started.elapsed().as_secs_f64())
}

/// The video worker's decode + scale alone: frames dropped as they come (a diagnostic that
/// tells what the overlapped JPEG encoding still adds).
fn extract_rust_without_encoding(clip: &Path, plan: &SamplePlan) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut kept = 0u32;
    sample_frames(clip, plan, ResumePoint::default().into(), |decoded| {
        if let Decoded::Frame(frame) = decoded {
            std::hint::black_box(&frame.image);
            kept += 1;
        }
        ControlFlow::Continue(())
    })?;
    anyhow::ensure!(kept > 0, "no frame sampled");
    Ok(started.elapsed().as_secs_f64())
}

/// The CLI's extraction into `out`.
fn extract_cli(clip: &Path, settings: &VideoSettings, qscale: u32, width: u32, single_thread: bool, out: &Path) -> anyhow::Result<f64> {
    fresh_dir(out)?;
    let filter = format!("fps=1/{},scale={width}:-2:flags=area", settings.every_seconds);
    let mut command = std::process::Command::new("ffmpeg");
    command.args(["-nostdin", "-hide_banner", "-loglevel", "error"]);
    if single_thread {
        command.args(["-threads", "1", "-filter_threads", "1"]);
    }
    // yuvj444p: the worker's encoder (the `image` crate) keeps full-resolution chroma; the CLI
    // would subsample it to 4:2:0 and do half the chroma work.
    // -huffman default: the standard Huffman tables, as the worker's encoder writes them (the
    // CLI would otherwise compute optimal ones, a second pass over each frame, and write frames
    // less than half the size at any quality, which no quality setting can match).
    command.arg("-i").arg(clip).args(["-vf", &filter, "-pix_fmt", "yuvj444p", "-huffman", "default", "-q:v", &qscale.to_string()]);
    if single_thread {
        command.args(["-threads", "1"]);
    }
    command.arg(out.join("frame-%04d.jpg"));
    let started = Instant::now();
    let output = command.output().context("running ffmpeg (install the ffmpeg CLI: apt-get install ffmpeg)")?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(output.status.success(), "ffmpeg failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
    Ok(seconds)
}

fn summarize(runs: Vec<f64>, dir: &Path) -> anyhow::Result<ExtractorResult> {
    let (frames, output_bytes, frame_size) = frames_in(dir)?;
    let best = runs.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(ExtractorResult { frames, best_seconds: best, run_seconds: runs, frames_per_second: frames as f64 / best, output_bytes, frame_size })
}

/// Runs the section with the clip and frames under `dir`.
pub async fn run(settings: &VideoSettings, dir: &Path) -> anyhow::Result<VideoResult> {
    let settings = settings.clone();
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || run_blocking(&settings, &dir)).await?
}

fn run_blocking(settings: &VideoSettings, dir: &Path) -> anyhow::Result<VideoResult> {
    std::fs::create_dir_all(dir)?;
    let clip = dir.join("clip.mp4");
    let spec = clip_spec(settings);
    let started = Instant::now();
    samples::video::write_clip(&clip, &spec)?;
    println!("  clip: {}x{} {} fps, {} s, encoded in {:.1} s", spec.width, spec.height, spec.fps, settings.seconds, started.elapsed().as_secs_f64());

    // The analysis stage's job; not timed (the CLI reads the same header in its first
    // milliseconds).
    let probe = video::probe::probe(&clip)?;
    let plan = SamplePlan {
        sampling: Sampling::EverySeconds(settings.every_seconds),
        duration_seconds: probe.duration_seconds,
        fps: probe.fps,
        max_width: settings.frame_width,
        rotation_degrees: 0,
        max_frames: u32::MAX,
        window: Window::WHOLE,
        // Extraction alone, as the CLI does it; the scene scores the worker's segments also
        // measure are timed in the scenes section.
        score: false,
    };
    let width = settings.frame_width.min(probe.width);
    let (rust_dir, cli_dir, single_dir) = (dir.join("rust"), dir.join("ffmpeg"), dir.join("ffmpeg-1-thread"));
    let (mut rust_runs, mut cli_runs, mut single_runs) = (Vec::new(), Vec::new(), Vec::new());
    let mut without_encoding = f64::INFINITY;
    // A warm-up of the worker's code, which tells the size of its frames.
    extract_rust(&clip, &plan, settings.jpeg_quality, &rust_dir)?;
    let rust_frame_bytes = mean_frame_bytes(&rust_dir)?;
    let (qscale, calibration, rust_quality, rust_calibration) = match settings.ffmpeg_qscale {
        Some(q) => (q, Vec::new(), settings.jpeg_quality, Vec::new()),
        None => {
            let tried = calibrate_cli(&clip, settings, width, rust_frame_bytes, &cli_dir)?;
            match tried.iter().find(|(_, bytes)| within(*bytes, rust_frame_bytes)).map(|(q, _)| *q) {
                Some(q) => (q, tried, settings.jpeg_quality, Vec::new()),
                None => {
                    // The CLI's best quality writes smaller frames than the worker's default:
                    // match the worker to the CLI at its usual best, -q:v 2.
                    let target = tried.iter().find(|(q, _)| *q == 2).map(|(_, b)| *b).context("-q:v 2 not tried")?;
                    let worker = calibrate_worker(&clip, &plan, settings.jpeg_quality, target, &rust_dir)?;
                    let quality = closest(&worker, target).with_context(|| {
                        format!(
                            "neither the CLI's -q:v ({}) nor the worker's quality ({}) gets the JPEG sizes within {:.0} %",
                            sizes(&tried),
                            sizes(&worker),
                            SIZE_TOLERANCE * 100.0
                        )
                    })?;
                    (2, tried, quality, worker)
                }
            }
        }
    };
    let rust_frame_bytes = if rust_quality == settings.jpeg_quality {
        rust_frame_bytes
    } else {
        extract_rust(&clip, &plan, rust_quality, &rust_dir)?;
        mean_frame_bytes(&rust_dir)?
    };
    for _ in 0..settings.repeats.max(1) {
        rust_runs.push(extract_rust(&clip, &plan, rust_quality, &rust_dir)?);
        without_encoding = without_encoding.min(extract_rust_without_encoding(&clip, &plan)?);
        cli_runs.push(extract_cli(&clip, settings, qscale, width, false, &cli_dir)?);
        single_runs.push(extract_cli(&clip, settings, qscale, width, true, &single_dir)?);
    }
    let rust = summarize(rust_runs, &rust_dir)?;
    let ffmpeg = summarize(cli_runs, &cli_dir)?;
    let ffmpeg_single_thread = summarize(single_runs, &single_dir)?;
    for other in [&ffmpeg, &ffmpeg_single_thread] {
        anyhow::ensure!(
            other.frames == rust.frames && other.frame_size == rust.frame_size,
            "the extractions differ: the video worker wrote {} frames of {:?}, ffmpeg {} of {:?}",
            rust.frames,
            rust.frame_size,
            other.frames,
            other.frame_size
        );
    }
    anyhow::ensure!(rust.frames > 0, "no frame extracted");
    let ffmpeg_frame_bytes = ffmpeg.output_bytes as f64 / ffmpeg.frames as f64;
    println!(
        "  JPEG: worker quality {rust_quality} -> {:.1} KB per frame; ffmpeg -q:v {qscale} -> {:.1} KB per frame",
        rust_frame_bytes / 1e3,
        ffmpeg_frame_bytes / 1e3
    );
    anyhow::ensure!(
        settings.ffmpeg_qscale.is_some() || (ffmpeg_frame_bytes / rust_frame_bytes - 1.0).abs() <= SIZE_TOLERANCE,
        "the JPEG qualities differ: ffmpeg -q:v {qscale} writes {:.0} KB per frame, the worker {:.0} KB (more than {:.0} % apart)",
        ffmpeg_frame_bytes / 1e3,
        rust_frame_bytes / 1e3,
        SIZE_TOLERANCE * 100.0
    );
    let version = std::process::Command::new("ffmpeg").arg("-version").output()?;
    let ffmpeg_version = String::from_utf8_lossy(&version.stdout).lines().next().unwrap_or_default().to_owned();
    Ok(VideoResult {
        settings: settings.clone(),
        clip_frames: probe.frame_count,
        codec: probe.codec,
        speedup: rust.frames_per_second / ffmpeg.frames_per_second,
        speedup_single_thread: rust.frames_per_second / ffmpeg_single_thread.frames_per_second,
        rust_without_encoding_seconds: without_encoding,
        rust_encoding_overhead: (rust.best_seconds / without_encoding - 1.0).max(0.0),
        rust,
        ffmpeg,
        ffmpeg_single_thread,
        ffmpeg_version,
        ffmpeg_qscale: qscale,
        rust_quality,
        calibration,
        rust_calibration,
        rust_frame_bytes,
        ffmpeg_frame_bytes,
    })
}

/// Mean size of the `frame-*.jpg` files in `dir`, bytes.
fn mean_frame_bytes(dir: &Path) -> anyhow::Result<f64> {
    let (frames, bytes, _) = frames_in(dir)?;
    anyhow::ensure!(frames > 0, "no frame extracted in {}", dir.display());
    Ok(bytes as f64 / frames as f64)
}

/// True when `bytes` is within [`SIZE_TOLERANCE`] of `target`.
fn within(bytes: f64, target: f64) -> bool {
    (bytes / target - 1.0).abs() <= SIZE_TOLERANCE
}

/// The setting whose mean frame size is closest to `target`, if within [`SIZE_TOLERANCE`].
fn closest<T: Copy>(tried: &[(T, f64)], target: f64) -> Option<T> {
    let &(best, mean) = tried.iter().min_by(|a, b| (a.1 - target).abs().total_cmp(&(b.1 - target).abs()))?;
    within(mean, target).then_some(best)
}

fn sizes<T: std::fmt::Display>(tried: &[(T, f64)]) -> String {
    tried.iter().map(|(setting, bytes)| format!("{setting}: {:.1} KB", bytes / 1e3)).collect::<Vec<_>>().join(", ")
}

/// The CLI's mean frame size at `-q:v` 2, 3, ... (best usual quality, biggest frames, first)
/// until one is within [`SIZE_TOLERANCE`] of `target` bytes (the best quality that matches the
/// worker's size is used) or smaller than it.
fn calibrate_cli(clip: &Path, settings: &VideoSettings, width: u32, target: f64, dir: &Path) -> anyhow::Result<Vec<(u32, f64)>> {
    let mut tried = Vec::new();
    for q in 2..=31 {
        extract_cli(clip, settings, q, width, false, dir)?;
        let mean = mean_frame_bytes(dir)?;
        tried.push((q, mean));
        if mean <= target || within(mean, target) {
            break;
        }
    }
    Ok(tried)
}

/// The worker's mean frame size at qualities from `start` down by 5, then by 1 near
/// `target` bytes, until the frames get smaller than the target.
fn calibrate_worker(clip: &Path, plan: &SamplePlan, start: u8, target: f64, dir: &Path) -> anyhow::Result<Vec<(u8, f64)>> {
    let mut tried: Vec<(u8, f64)> = Vec::new();
    let measure = |quality: u8, tried: &mut Vec<(u8, f64)>| -> anyhow::Result<f64> {
        extract_rust(clip, plan, quality, dir)?;
        let mean = mean_frame_bytes(dir)?;
        tried.push((quality, mean));
        Ok(mean)
    };
    let mut quality = start;
    while measure(quality, &mut tried)? > target && quality > 5 {
        quality -= 5;
    }
    // Refine between the last quality above the target and the first at or below it.
    for q in (quality + 1..quality.saturating_add(5).min(start)).rev() {
        if measure(q, &mut tried)? <= target {
            break;
        }
    }
    Ok(tried)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_has_the_requested_length() {
        let settings = VideoSettings {
            seconds: 7,
            width: 320,
            height: 240,
            fps: 25,
            every_seconds: 1.0,
            frame_width: 160,
            jpeg_quality: 85,
            ffmpeg_qscale: Some(3),
            repeats: 1,
        };
        let spec = clip_spec(&settings);
        assert_eq!(spec.frame_count(), 175);
        assert_eq!(spec.segments.len(), 4);
    }
}
