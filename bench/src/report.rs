//! The run's report: everything measured as one JSON document, and the table of ratios printed
//! at the end (Markdown, so the README can hold it as is). Every ratio reads "times better for
//! the Rust side": throughput over the peer's, or the peer's time or memory over Rust's.

use crate::extraction::VideoResult;
use crate::kernel::KernelResult;
use crate::machine::{Machine, Rss};
use crate::orchestration::OrchestrationResult;
use crate::pipeline::EndToEndResult;
use serde::Serialize;

/// Resident memory of one worker process, for the memory section.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryRow {
    /// Which worker.
    pub worker: String,
    /// Once connected and polling, MiB.
    pub idle_mib: f64,
    /// High-water mark over its run, MiB.
    pub peak_mib: f64,
    /// What drove it to its peak.
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
    /// The printed table.
    pub table: String,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The memory rows: the two orchestration workers, then every fleet worker binary.
pub fn memory_rows(orchestration: Option<&OrchestrationResult>, end_to_end: Option<&EndToEndResult>) -> Vec<MemoryRow> {
    let row = |worker: String, idle: &Rss, after: &Rss, peak_during: String| MemoryRow {
        worker,
        idle_mib: mib(idle.current_kib),
        peak_mib: mib(after.peak_kib),
        peak_during,
    };
    let mut rows = Vec::new();
    if let Some(o) = orchestration {
        let during = format!("{} BenchChain workflows", o.rust.workflows + o.settings.warmup);
        rows.push(row("Python temporalio worker (peer)".into(), &o.python.idle, &o.python.after, during.clone()));
        rows.push(row("Rust bench worker (same workflow)".into(), &o.rust.idle, &o.rust.after, during));
    }
    if let Some(e) = end_to_end {
        for w in &e.workers {
            rows.push(row(
                w.binary.clone(),
                &w.idle,
                &w.after,
                format!("{} x {:.1} MP images end to end", e.settings.images, e.megapixels_per_image),
            ));
        }
    }
    rows
}

fn ratio(x: f64) -> String {
    if x.is_finite() { format!("{x:.2}x") } else { "-".into() }
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
            format!("{:.1} frames/s", v.rust.frames_per_second),
            format!("{:.1} frames/s (ffmpeg CLI)", v.ffmpeg.frames_per_second),
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
    if let Some(e) = &report.end_to_end {
        let s = &e.per_image;
        rows.push([
            format!("End to end: {} navad images of {:.1} MP, automation pipeline, embedded stack", e.settings.images, e.megapixels_per_image),
            format!("{:.2} images/s", e.images_per_second),
            "-".into(),
            "-".into(),
        ]);
        rows.push([
            "End to end: share of each image's wall time".into(),
            format!(
                "activities {:.0} %, queued {:.0} %, orchestration {:.0} %",
                s.activity_share * 100.0,
                s.queued_share * 100.0,
                s.orchestration_share * 100.0
            ),
            "-".into(),
            "-".into(),
        ]);
    }
    let python = report.memory.iter().find(|r| r.worker.starts_with("Python"));
    for row in &report.memory {
        if row.worker.starts_with("Python") {
            continue;
        }
        let (idle_ratio, peak_ratio, peer) = match python {
            Some(p) => (p.idle_mib / row.idle_mib, p.peak_mib / row.peak_mib, format!("{:.0} / {:.0} MiB (Python worker)", p.idle_mib, p.peak_mib)),
            None => (f64::NAN, f64::NAN, "-".into()),
        };
        rows.push([
            format!("Memory idle / peak: {}", row.worker),
            format!("{:.0} / {:.0} MiB", row.idle_mib, row.peak_mib),
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
    out.push_str("\nRust advantage: the Rust side's throughput over the peer's, or the peer's time or memory over the Rust side's (above 1: Rust is better).\n");
    out
}
