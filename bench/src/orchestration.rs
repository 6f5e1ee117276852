//! Section 1, orchestration: the same trivial workflow (`BenchChain(n)`: the activity `AddOne`
//! three times in sequence, returning n + 3) on one dev server, served once by a Rust worker
//! process (`bench-orchestration-worker`, the Temporal Rust SDK, see [`bench::chain`]) and once
//! by the Python `temporalio` worker (bench/peer/orchestration_worker.py). One Rust starter drives
//! both the same way: N executions with bounded concurrency, every result checked.
//!
//! Both workers are separate processes, so their memory (section 5) is measured the same way.
//! The rounds alternate (Python, Rust, Rust, Python, ...) so any drift of the server as its
//! database grows falls on both sides alike.

use crate::machine::{self, Rss};
use crate::peer::{self, ChildProcess};
use crate::stackutil;
use anyhow::Context as _;
use bench::chain::{ACTIVITIES_PER_WORKFLOW, BenchChain};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use temporalio_client::{Client, WorkflowGetResultOptions, WorkflowStartOptions};

/// The Rust worker binary, built beside the harness.
const WORKER_BINARY: &str = "bench-orchestration-worker";

/// Sizes of the section.
#[derive(Debug, Clone, Serialize)]
pub struct OrchestrationSettings {
    /// Measured executions per round and side.
    pub workflows: usize,
    /// Executions in flight at once (started and awaited by the Rust starter).
    pub concurrency: usize,
    /// Measured rounds per side (alternating order).
    pub rounds: usize,
    /// Unmeasured executions per side before the first round.
    pub warmup: usize,
}

/// One side's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct SideResult {
    /// Seconds of each measured round.
    pub round_seconds: Vec<f64>,
    /// Executions completed in the measured rounds.
    pub workflows: usize,
    /// Measured executions over measured time.
    pub workflows_per_second: f64,
    /// Activities completed per second (3 per workflow).
    pub activities_per_second: f64,
    /// CPU time the worker process used during the measured rounds, seconds.
    pub cpu_seconds: f64,
    /// `cpu_seconds` per workflow, milliseconds: the worker's own cost, whatever the server's.
    pub cpu_ms_per_workflow: f64,
    /// RSS once polling, before any workflow.
    pub idle: Rss,
    /// RSS after every round (`peak_kib` is the high-water mark of the whole run).
    pub after: Rss,
}

/// The section's result.
#[derive(Debug, Clone, Serialize)]
pub struct OrchestrationResult {
    /// The sizes used.
    pub settings: OrchestrationSettings,
    /// The Rust worker.
    pub rust: SideResult,
    /// The Python worker.
    pub python: SideResult,
    /// `temporalio` version of the peer.
    pub python_sdk: String,
    /// Rust workflows per second over Python's.
    pub speedup: f64,
    /// Python worker CPU per workflow over the Rust worker's.
    pub cpu_efficiency: f64,
}

/// Which worker serves a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Rust,
    Python,
}

/// Runs the section on a fresh dev server under `data_dir`.
pub async fn run(settings: &OrchestrationSettings, python: &Path, peer_dir: &Path, data_dir: &Path) -> anyhow::Result<OrchestrationResult> {
    let server = stackutil::start_server(data_dir, "orchestration").await?;
    let address = server.address();
    let config = bench::config::fleet_config(&address, "default", &[])?;
    let client = fleet::temporal::connect(&config).await?;
    let nonce = stackutil::nonce();
    let rust_queue = format!("bench-rust-{nonce}");
    let python_queue = format!("bench-python-{nonce}");

    let exe = std::env::current_exe().context("locating the bench binary")?.with_file_name(WORKER_BINARY);
    anyhow::ensure!(exe.is_file(), "{} is missing: build it with cargo build --release -p bench (bench/run.sh does)", exe.display());
    let rust_args: Vec<String> = ["--address", &address, "--task-queue", &rust_queue].map(str::to_owned).to_vec();
    let mut rust_worker = ChildProcess::spawn("rust worker", &exe, &rust_args, &data_dir.join("rust-worker.log"))?;
    let script: PathBuf = peer_dir.join("orchestration_worker.py");
    let python_args = vec![script.display().to_string(), "--address".to_owned(), address.clone(), "--task-queue".to_owned(), python_queue.clone()];
    let mut python_worker = ChildProcess::spawn("python worker", python, &python_args, &data_dir.join("python-worker.log"))?;
    rust_worker.wait_ready(Duration::from_secs(60)).await?;
    python_worker.wait_ready(Duration::from_secs(60)).await?;
    stackutil::wait_for_pollers(&client, "default", &rust_queue, false, Duration::from_secs(30)).await?;
    stackutil::wait_for_pollers(&client, "default", &python_queue, false, Duration::from_secs(30)).await?;
    // Let both settle after connecting before reading their idle memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rust_idle = machine::rss(rust_worker.pid()?)?;
    let python_idle = machine::rss(python_worker.pid()?)?;
    let python_sdk = peer::python_package_version(python, "temporalio").await.unwrap_or_else(|_| "unknown".to_owned());

    let queue = |side: Side| if side == Side::Rust { rust_queue.as_str() } else { python_queue.as_str() };
    for side in [Side::Python, Side::Rust] {
        let started = Instant::now();
        drive(&client, queue(side), &format!("{}-warmup", queue(side)), settings.warmup, settings.concurrency).await?;
        println!("  warm-up {:?}: {} workflows in {:.1} s", side, settings.warmup, started.elapsed().as_secs_f64());
    }
    let mut rust_rounds = Vec::new();
    let mut python_rounds = Vec::new();
    let (mut rust_cpu, mut python_cpu) = (0.0, 0.0);
    for round in 0..settings.rounds {
        let order = if round % 2 == 0 { [Side::Python, Side::Rust] } else { [Side::Rust, Side::Python] };
        for side in order {
            let prefix = format!("{}-round{round}", queue(side));
            let pid = if side == Side::Rust { rust_worker.pid()? } else { python_worker.pid()? };
            let cpu_before = machine::cpu_seconds(pid)?;
            let seconds = drive(&client, queue(side), &prefix, settings.workflows, settings.concurrency).await?.as_secs_f64();
            let cpu = machine::cpu_seconds(pid)? - cpu_before;
            println!(
                "  round {} {:?}: {} workflows in {seconds:.2} s ({:.1}/s), worker CPU {cpu:.2} s",
                round + 1,
                side,
                settings.workflows,
                settings.workflows as f64 / seconds
            );
            if side == Side::Rust {
                rust_rounds.push(seconds);
                rust_cpu += cpu;
            } else {
                python_rounds.push(seconds);
                python_cpu += cpu;
            }
        }
    }
    let rust_after = machine::rss(rust_worker.pid()?)?;
    let python_after = machine::rss(python_worker.pid()?)?;
    rust_worker.stop().await;
    python_worker.stop().await;
    server.stop(Duration::from_secs(10)).await;

    let side = |rounds: Vec<f64>, cpu_seconds: f64, idle, after| {
        let workflows = settings.workflows * rounds.len();
        let total: f64 = rounds.iter().sum();
        let per_second = workflows as f64 / total.max(f64::EPSILON);
        SideResult {
            round_seconds: rounds,
            workflows,
            workflows_per_second: per_second,
            activities_per_second: per_second * ACTIVITIES_PER_WORKFLOW as f64,
            cpu_seconds,
            cpu_ms_per_workflow: cpu_seconds / workflows.max(1) as f64 * 1e3,
            idle,
            after,
        }
    };
    let rust = side(rust_rounds, rust_cpu, rust_idle, rust_after);
    let python = side(python_rounds, python_cpu, python_idle, python_after);
    let speedup = rust.workflows_per_second / python.workflows_per_second;
    let cpu_efficiency = python.cpu_ms_per_workflow / rust.cpu_ms_per_workflow.max(f64::EPSILON);
    Ok(OrchestrationResult { settings: settings.clone(), rust, python, python_sdk, speedup, cpu_efficiency })
}

/// Starts `count` executions on `task_queue`, at most `concurrency` in flight, waits for every
/// result and checks it; returns the wall time from the first start to the last result.
async fn drive(client: &Client, task_queue: &str, id_prefix: &str, count: usize, concurrency: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    futures::stream::iter(0..count)
        .map(|i| async move {
            let input = i as i64 * 10;
            let workflow_id = format!("{id_prefix}-{i}");
            let options = WorkflowStartOptions::new(task_queue.to_owned(), workflow_id.clone()).build();
            let handle = client.start_workflow(BenchChain, input, options).await.with_context(|| format!("starting {workflow_id}"))?;
            let output = handle.get_result(WorkflowGetResultOptions::default()).await.with_context(|| format!("result of {workflow_id}"))?;
            anyhow::ensure!(
                output == input + ACTIVITIES_PER_WORKFLOW,
                "{workflow_id} returned {output}, expected {}",
                input + ACTIVITIES_PER_WORKFLOW
            );
            anyhow::Ok(())
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(started.elapsed())
}
