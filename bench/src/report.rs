//! The run's report: everything measured as one JSON document, and the table of ratios printed
//! at the end (Markdown, so the README can hold it as is). Every ratio reads "times better for
//! the Rust side": throughput over the peer's, or the peer's time or memory over Rust's.

use crate::extraction::VideoResult;
use crate::fleet_stack::Part;
use crate::kernel::KernelResult;
use crate::machine::{Machine, Rss};
use crate::orchestration::OrchestrationResult;
use crate::pipeline::{EndToEndResult, FleetBatch};
use crate::scenes::{ScenesResult, describe, describe_cuts};
use serde::Serialize;

/// Resident memory of one process, for the memory section.
#[derive(Debug, Clone, Serialize)]
pub struct MemorySide {
    /// Which process.
    pub label: String,
    /// Once connected and polling, MiB.
    pub idle_mib: f64,
    /// High-water mark over its run, MiB.
    pub peak_mib: f64,
}

/// A Rust worker and its peer doing the same job, for the memory section.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryRow {
    /// The job both do.
    pub worker: String,
    /// The Rust process.
    pub rust: MemorySide,
    /// The peer process doing the same job, when there is one.
    pub peer: Option<MemorySide>,
    /// What drove them to their peak.
    pub peak_during: String,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// `--quick` sizes.
    pub quick: bool,
    /// Where the scratch data (and the dev servers' databases) lived.
    pub scratch_dir: String,
    /// Section 1.
    pub orchestration: Option<OrchestrationResult>,
    /// Section 2.
    pub kernel: Option<KernelResult>,
    /// Section 3.
    pub end_to_end: Option<EndToEndResult>,
    /// Section 4.
    pub video: Option<VideoResult>,
    /// Section 5, from the processes of sections 1 and 3.
    pub memory: Vec<MemoryRow>,
    /// Section 6.
    pub scenes: Option<ScenesResult>,
    /// Section 7.
    pub video_scale: Option<crate::video_scale::ScaleResult>,
    /// Section 8.
    pub tuning: Option<crate::tuning::TuningResult>,
    /// Section 8.
    pub footprint: Option<crate::footprint_reads::FootprintResult>,
    /// The printed table.
    pub table: String,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The memory rows: the orchestration section's two workers, then each worker of the Rust
/// fleet with the twin's worker of the same role.
pub fn memory_rows(orchestration: Option<&OrchestrationResult>, end_to_end: Option<&EndToEndResult>) -> Vec<MemoryRow> {
    let side = |label: String, idle: &Rss, peak_kib: u64| MemorySide { label, idle_mib: mib(idle.current_kib), peak_mib: mib(peak_kib) };
    let mut rows = Vec::new();
    if let Some(o) = orchestration {
        rows.push(MemoryRow {
            worker: "orchestration worker (BenchChain)".into(),
            rust: side("Rust bench worker".into(), &o.rust.idle, o.rust.after.peak_kib),
            peer: Some(side(format!("Python temporalio {}", o.python_sdk), &o.python.idle, o.python.after.peak_kib)),
            peak_during: format!("{} BenchChain workflows", o.rust.workflows + o.settings.warmup),
        });
    }
    if let Some(e) = end_to_end {
        let during = e.batches.iter().map(|b| format!("{} ({})", b.spec.name, b.spec.images)).collect::<Vec<_>>().join(", ");
        for w in &e.workers {
            let twin = e.twin_workers.iter().find(|t| t.role == w.role);
            rows.push(MemoryRow {
                worker: format!("{} worker", w.role),
                rust: side(format!("{}-worker", w.role), &w.idle, w.peak_kib),
                peer: twin.map(|t| side(format!("fleet_twin --role {}", t.role), &t.idle, t.peak_kib)),
                peak_during: format!("end-to-end batches {during}"),
            });
        }
    }
    rows
}

fn ratio(x: f64) -> String {
    if x.is_finite() { format!("{x:.2}x") } else { "-".into() }
}

/// The end-to-end rows: per batch, throughput, CPU, memory, history and the time split, the
/// Rust fleet against the twin.
fn end_to_end_rows(e: &EndToEndResult, rows: &mut Vec<[String; 4]>) {
    for b in &e.batches {
        let what = format!("End to end, {}", b.spec.describe());
        let (r, t) = (&b.rust, b.twin.as_ref());
        let peer = |f: &dyn Fn(&FleetBatch) -> String| t.map_or_else(|| "-".into(), f);
        let better = |f: &dyn Fn(&FleetBatch) -> f64, higher_is_better: bool| {
            t.map_or("-".into(), |t| ratio(if higher_is_better { f(r) / f(t) } else { f(t) / f(r) }))
        };
        let sdk = e.twin_sdk.as_deref().map(|v| format!(", temporalio {v}")).unwrap_or_default();
        let verdicts = match (b.verdicts_compared, b.verdict_differences.len()) {
            (0, _) => String::new(),
            (n, 0) => format!(", same verdict and score for all {n}"),
            (n, d) => format!(", VERDICTS DIFFER on {d} of {n}"),
        };
        rows.push([
            format!("{what}: images/s as the client sees it{verdicts}"),
            format!("{:.2} images/s", r.images_per_second),
            match (t, &e.twin_missing) {
                (Some(t), _) => format!("{:.2} images/s (Python twin{sdk})", t.images_per_second),
                (None, Some(why)) => format!("- (twin not run: {why})"),
                (None, None) => "-".into(),
            },
            better(&|f| f.images_per_second, true),
        ]);
        let cpu = |f: &FleetBatch| {
            let c = &f.cpu_seconds_per_image;
            format!("{:.3} s (server {:.3}, S3 {:.3}, workers {:.3})", c.total, c.server, c.s3, c.workers)
        };
        rows.push([
            format!("{what}: CPU seconds per image, every process of the stack"),
            cpu(r),
            peer(&cpu),
            better(&|f| f.cpu_seconds_per_image.total, false),
        ]);
        let workers = r.processes.iter().filter(|p| p.part == Part::Worker).count();
        rows.push([
            format!("{what}: peak RSS of the {workers} workers, summed"),
            format!("{:.0} MiB", r.workers_peak_rss_mib),
            peer(&|t| format!("{:.0} MiB", t.workers_peak_rss_mib)),
            better(&|f| f.workers_peak_rss_mib, false),
        ]);
        let history = |f: &FleetBatch| format!("{:.1} / {:.1}", f.events_per_image, f.actions_per_image);
        rows.push([
            format!("{what}: history events / billable actions per image"),
            history(r),
            peer(&history),
            t.map_or("-".into(), |t| {
                format!("{} / {}", ratio(t.events_per_image / r.events_per_image), ratio(t.actions_per_image / r.actions_per_image))
            }),
        ]);
        if r.server_actions_per_image.is_some() {
            let server = |f: &FleetBatch| match (f.server_actions_per_image, f.server_heartbeats_per_image) {
                (Some(all), Some(heartbeats)) => format!("{all:.1} (heartbeats {heartbeats:.1})"),
                _ => "-".into(),
            };
            rows.push([
                format!("{what}: billable actions per image, the server's action counter (heartbeats included)"),
                server(r),
                peer(&server),
                better(&|f| f.server_actions_per_image.unwrap_or(f64::NAN), false),
            ]);
        }
        let split = |f: &FleetBatch| {
            let s = &f.per_image;
            format!(
                "activities {:.0} %, queued {:.0} %, orchestration {:.0} % ({:.2} s per image)",
                s.activity_share * 100.0,
                s.queued_share * 100.0,
                s.orchestration_share * 100.0,
                f.orchestration_seconds_per_image
            )
        };
        rows.push([format!("{what}: each image's wall time"), split(r), peer(&split), better(&|f| f.orchestration_seconds_per_image, false)]);
    }
}

/// The scene detection rows: per clip, the worker against PySceneDetect, then against FFmpeg's
/// scene score: what each reports, how many expected cuts (transitions, for the worker) it
/// found and reported wrongly, and its time.
fn scenes_rows(s: &ScenesResult, rows: &mut Vec<[String; 4]>) {
    use crate::scenes::ToolResult;
    let score =
        |r: &ToolResult| format!("{}/{} found, {} extra; {:.2} s", r.agreement.found, r.agreement.expected, r.agreement.extra, r.best_seconds);
    for clip in &s.clips {
        let what = format!(
            "Scenes, {} ({}x{} {} s; expected {})",
            clip.name,
            s.settings.width,
            s.settings.height,
            s.settings.seconds,
            describe(&clip.expected)
        );
        let ours = format!("{} ({})", describe(&clip.ours), score(&clip.ours_result));
        rows.push([
            format!("{what}, vs PySceneDetect"),
            ours.clone(),
            format!(
                "{} (PySceneDetect {} ContentDetector; {})",
                describe_cuts(&clip.pyscenedetect_cuts),
                s.pyscenedetect,
                score(&clip.pyscenedetect_result)
            ),
            ratio(clip.pyscenedetect_result.best_seconds / clip.ours_result.best_seconds),
        ]);
        rows.push([
            format!("{what}, vs FFmpeg"),
            ours,
            format!("{} (ffmpeg scene > {}; {})", describe_cuts(&clip.ffmpeg_cuts), s.settings.ffmpeg_threshold, score(&clip.ffmpeg_result)),
            ratio(clip.ffmpeg_result.best_seconds / clip.ours_result.best_seconds),
        ]);
    }
}

/// The footprint rows: the worker's header-only read of a large COG against gdalinfo's, and
/// against downloading the object.
fn footprint_rows(f: &crate::footprint_reads::FootprintResult, rows: &mut Vec<[String; 4]>) {
    let kb = |bytes: u64| format!("{:.1} KB", bytes as f64 / 1e3);
    let what = format!("Footprint of a {:.2} GB COG in S3 ({side}x{side} px)", f.object_bytes as f64 / 1e9, side = f.settings.side);
    let check = if f.within_limit { "within 1 MB" } else { "OVER 1 MB" };
    let worker = format!("{} in {} requests, {:.3} s ({check})", kb(f.worker.bytes), f.worker.requests, f.worker.seconds);
    rows.push([
        format!("{what}: bytes read, vs gdalinfo -json /vsis3/"),
        worker.clone(),
        f.gdalinfo.as_ref().map_or("-".into(), |g| format!("{} in {} requests, {:.3} s (gdalinfo CLI)", kb(g.bytes), g.requests, g.seconds)),
        f.gdalinfo.as_ref().map_or("-".into(), |g| ratio(g.bytes as f64 / f.worker.bytes as f64)),
    ]);
    rows.push([
        format!("{what}: bytes read, vs downloading the object"),
        worker,
        format!("{:.2} GB (whole object)", f.object_bytes as f64 / 1e9),
        ratio(f.object_bytes as f64 / f.worker.bytes as f64),
    ]);
}

/// The Markdown table of the run.
pub fn table(report: &Report) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    if let Some(o) = &report.orchestration {
        rows.push([
            format!(
                "Orchestration: {}-activity workflow, {} x {} runs, {} in flight",
                bench::chain::ACTIVITIES_PER_WORKFLOW,
                o.settings.rounds,
                o.settings.workflows,
                o.settings.concurrency
            ),
            format!("{:.1} wf/s", o.rust.workflows_per_second),
            format!("{:.1} wf/s (temporalio {})", o.python.workflows_per_second, o.python_sdk),
            ratio(o.speedup),
        ]);
        rows.push([
            "Orchestration: worker process CPU per workflow".into(),
            format!("{:.2} ms", o.rust.cpu_ms_per_workflow),
            format!("{:.2} ms", o.python.cpu_ms_per_workflow),
            ratio(o.cpu_efficiency),
        ]);
    }
    if let Some(k) = &report.kernel {
        for set in &k.sets {
            rows.push([
                format!("Tile metrics {0}x{0}, {1} tiles: metrics only, per tile", set.size, set.count),
                format!("{:.0} us", set.rust.metrics_us_per_tile),
                format!("{:.0} us (NumPy {})", set.python.metrics_us_per_tile, k.numpy),
                ratio(set.metrics_speedup),
            ]);
            rows.push([
                format!("Tile metrics {0}x{0}, {1} tiles: PNG decode + metrics, total", set.size, set.count),
                format!("{:.1} ms", set.rust.decode_and_metrics_seconds * 1e3),
                format!("{:.1} ms (Pillow {})", set.python.decode_and_metrics_seconds * 1e3, k.pillow),
                ratio(set.decode_and_metrics_speedup),
            ]);
        }
    }
    if let Some(v) = &report.video {
        let what = format!(
            "Video frames: {}x{} {} s clip, 1 frame / {} s, {} px JPEG",
            v.settings.width, v.settings.height, v.settings.seconds, v.settings.every_seconds, v.rust.frame_size.0
        );
        rows.push([
            what.clone(),
            format!("{:.1} frames/s ({:.1} KB per frame, quality {})", v.rust.frames_per_second, v.rust_frame_bytes / 1e3, v.rust_quality),
            format!(
                "{:.1} frames/s (ffmpeg CLI, {:.1} KB per frame, -q:v {})",
                v.ffmpeg.frames_per_second,
                v.ffmpeg_frame_bytes / 1e3,
                v.ffmpeg_qscale
            ),
            ratio(v.speedup),
        ]);
        rows.push([
            format!("{what}, vs ffmpeg -threads 1"),
            format!("{:.1} frames/s", v.rust.frames_per_second),
            format!("{:.1} frames/s (ffmpeg CLI, 1 thread)", v.ffmpeg_single_thread.frames_per_second),
            ratio(v.speedup_single_thread),
        ]);
        let bare = v.rust.frames as f64 / v.rust_without_encoding_seconds;
        rows.push([
            format!("Video frames, diagnostic: worker decode + scale alone (encoding, overlapped, adds {:.0} %)", v.rust_encoding_overhead * 100.0),
            format!("{bare:.1} frames/s"),
            format!("{:.1} frames/s (ffmpeg CLI)", v.ffmpeg.frames_per_second),
            ratio(bare / v.ffmpeg.frames_per_second),
        ]);
    }
    if let Some(s) = &report.scenes {
        scenes_rows(s, &mut rows);
    }
    if let Some(e) = &report.end_to_end {
        end_to_end_rows(e, &mut rows);
    }
    if let Some(t) = &report.tuning {
        crate::tuning::rows(t, &mut rows);
    }
    if let Some(f) = &report.footprint {
        footprint_rows(f, &mut rows);
    }
    for row in &report.memory {
        let (peer, idle_ratio, peak_ratio) = match &row.peer {
            Some(p) => {
                (format!("{:.0} / {:.0} MiB ({})", p.idle_mib, p.peak_mib, p.label), p.idle_mib / row.rust.idle_mib, p.peak_mib / row.rust.peak_mib)
            }
            None => ("-".into(), f64::NAN, f64::NAN),
        };
        rows.push([
            format!("Memory idle / peak: {}", row.worker),
            format!("{:.0} / {:.0} MiB ({})", row.rust.idle_mib, row.rust.peak_mib, row.rust.label),
            peer,
            format!("{} / {}", ratio(idle_ratio), ratio(peak_ratio)),
        ]);
    }

    let m = &report.machine;
    let mut out = format!(
        "Machine: {} ({} cores), {:.0} GiB RAM, Linux {}, {}{}\n\n",
        m.cpu_model,
        m.cores,
        m.memory_gib,
        m.kernel,
        m.date,
        if report.quick { ", --quick sizes" } else { "" }
    );
    out.push_str("| Benchmark | Rust fleet | Peer | Rust advantage |\n|---|---|---|---|\n");
    for [a, b, c, d] in rows {
        out.push_str(&format!("| {a} | {b} | {c} | {d} |\n"));
    }
    out.push_str("\nRust advantage: the Rust side's throughput over the peer's, or the peer's time, memory, events or actions over the Rust side's (above 1: Rust is better).\n");
    if report.end_to_end.is_some() {
        out.push_str(
            "End to end: CPU is user + system time of every process of each fleet's stack (dev server, S3 endpoint process, workers, with their children) over the batch, from /proc; billable actions as Temporal Cloud counts them, from the histories of every workflow of the batch (heartbeats only where a history shows their details); the wall-time row's ratio is the orchestration seconds per image.\n",
        );
    }
    // No peer runs a video pipeline on Temporal: this section is the fleet's own figures.
    if let Some(scale) = &report.video_scale {
        out.push('\n');
        out.push_str(&crate::video_scale::table(scale));
    }
    out
}
