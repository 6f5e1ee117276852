//! One fleet's stack for the end-to-end section, every part a process of its own so /proc can
//! tell what each costs: the `temporal` dev server (the same build for both fleets, started by
//! `devstack`), the embedded S3 endpoint (`bench-s3-endpoint`: devstack's `s3s-fs` endpoint,
//! which `starter up` runs inside its own process, here in a process of its own), and one worker
//! process per role of the image automation pipeline: the Rust worker binaries, or the Python
//! twin (`python -m fleet_twin --role ROLE` in bench/peer).

use crate::machine::{self, Rss};
use crate::peer::ChildProcess;
use anyhow::Context as _;
use contracts::Queue;
use devstack::{TemporalServer, find_temporal_executable, ports};
use fleet::{FleetConfig, Storage};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use temporalio_client::Client;

/// The roles of the image automation pipeline: one worker process each, on both fleets.
pub const IMAGE_ROLES: [Queue; 5] =
    [Queue::Orchestrator, Queue::Ingestion, Queue::AccuracyDispatcher, Queue::AccuracyProcessor, Queue::Geolocalization];

/// Task-queue prefix of the benchmark's stacks.
const QUEUE_PREFIX: &str = "bench-";
/// S3 credentials of the benchmark's endpoints.
const ACCESS_KEY: &str = "bench";
const SECRET_KEY: &str = "bench-secret-key";
/// The S3 endpoint binary, built beside the harness.
const S3_BINARY: &str = "bench-s3-endpoint";

/// Which fleet serves the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetKind {
    /// The fleet's Rust worker binaries.
    Rust,
    /// The Python twin in bench/peer/fleet_twin.
    PythonTwin,
}

impl FleetKind {
    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            FleetKind::Rust => "Rust fleet",
            FleetKind::PythonTwin => "Python twin",
        }
    }
}

/// Where the Python twin is and which Python runs it.
#[derive(Debug, Clone)]
pub struct Twin {
    /// The virtual environment's Python.
    pub python: PathBuf,
    /// bench/peer: the working directory of `python -m fleet_twin`.
    pub peer_dir: PathBuf,
}

impl Twin {
    /// Why the twin cannot run, if it cannot: no package, or a Python without `temporalio`.
    pub async fn unusable(&self) -> Option<String> {
        let main = self.peer_dir.join("fleet_twin").join("__main__.py");
        if !main.is_file() {
            return Some(format!("no Python twin at {}", main.display()));
        }
        if !self.python.is_file() {
            return Some(format!("no Python at {} (run bench/run.sh)", self.python.display()));
        }
        let imported =
            tokio::process::Command::new(&self.python).args(["-c", "import fleet_twin, temporalio"]).current_dir(&self.peer_dir).output().await;
        match imported {
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(format!("the twin does not import: {}", String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or_default())),
            Err(e) => Some(format!("cannot run {}: {e}", self.python.display())),
        }
    }
}

/// Which part of the stack a process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The Temporal dev server.
    Server,
    /// The S3 endpoint.
    S3,
    /// A worker.
    Worker,
}

/// A process of the stack.
#[derive(Debug, Clone, Serialize)]
pub struct StackProcess {
    /// `temporal server`, `s3 endpoint`, or the worker's role.
    pub name: String,
    /// Its part.
    pub part: Part,
    /// Process id.
    pub pid: u32,
}

/// A running stack.
pub struct FleetStack {
    /// Which fleet.
    pub kind: FleetKind,
    /// A client of its server.
    pub client: Client,
    /// A client of its S3 endpoint.
    pub storage: Storage,
    /// The client configuration (queue names).
    pub config: FleetConfig,
    /// Every process: server, S3 endpoint, workers.
    pub processes: Vec<StackProcess>,
    /// Where the parts log.
    pub log_dir: PathBuf,
    /// The dev server's Prometheus port (`/metrics`), when found.
    pub metrics_port: Option<u16>,
    /// The worker processes' roles, in the order of their processes.
    roles: Vec<Queue>,
    server: TemporalServer,
    s3: ChildProcess,
    workers: Vec<ChildProcess>,
}

impl FleetStack {
    /// Starts the stack under `dir` with one worker process per entry of `roles` (a role listed
    /// twice gets two processes), `worker_env` added to the workers' environment, and returns
    /// once every role's queue has pollers. `twin` is required for [`FleetKind::PythonTwin`].
    pub async fn start(kind: FleetKind, dir: &Path, twin: Option<&Twin>, roles: &[Queue], worker_env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let log_dir = dir.join("logs");
        std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
        let server = TemporalServer::start_on_free_port(&find_temporal_executable()?, dir, "temporal", "default").await?;
        let address = server.address();
        let port = address.rsplit(':').next().unwrap_or_default().to_owned();
        // `temporal` may be reached through wrappers that exec it (pyenv shims): the server is
        // the descendant running `server start-dev` on this port.
        let server_pid = machine::find_descendant(std::process::id(), &["start-dev", &format!("--port {port}")])
            .with_context(|| format!("no `temporal server start-dev --port {port}` process among the harness's descendants"))?;

        let s3_exe = std::env::current_exe().context("locating the bench binary")?.with_file_name(S3_BINARY);
        anyhow::ensure!(s3_exe.is_file(), "{} is missing: build it with cargo build --release -p bench (bench/run.sh does)", s3_exe.display());
        let s3_port = ports::free_port()?;
        let s3_args: Vec<String> = vec![
            "--root".into(),
            dir.join("s3").display().to_string(),
            "--port".into(),
            s3_port.to_string(),
            "--access-key".into(),
            ACCESS_KEY.into(),
            "--secret-key".into(),
            SECRET_KEY.into(),
        ];
        let mut s3 = ChildProcess::spawn("S3 endpoint", &s3_exe, &s3_args, &log_dir.join("s3.log"))?;
        s3.wait_ready(Duration::from_secs(30)).await?;
        let s3_endpoint = format!("http://127.0.0.1:{s3_port}");

        let no_profile = dir.join("no-temporal.toml").display().to_string();
        let env: Vec<(String, String)> = [
            ("TEMPORAL_ADDRESS", address.clone()),
            ("TEMPORAL_NAMESPACE", "default".to_owned()),
            ("TEMPORAL_CONFIG_FILE", no_profile),
            ("TASK_QUEUE_PREFIX", QUEUE_PREFIX.to_owned()),
            ("S3_ENDPOINT", s3_endpoint.clone()),
            ("S3_FORCE_PATH_STYLE", "true".to_owned()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("LOG_LEVEL", "warn".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(worker_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
        .collect();
        let mut workers = Vec::new();
        for (number, &role) in roles.iter().enumerate() {
            let twice = roles.iter().filter(|r| **r == role).count() > 1;
            let label = if twice { format!("{role}-{number}") } else { role.to_string() };
            let log = log_dir.join(format!("{label}.log"));
            let name = format!("{label} worker");
            let worker = match kind {
                FleetKind::Rust => {
                    let exe = devstack::workers::binary_dir().join(role.worker_binary());
                    anyhow::ensure!(exe.is_file(), "{} is missing: build the worker binaries in release mode (bench/run.sh does)", exe.display());
                    ChildProcess::spawn_service(&name, &exe, &[], &env, None, &log)?
                }
                FleetKind::PythonTwin => {
                    let twin = twin.context("the Python twin's location is needed to start it")?;
                    let args = ["-m", "fleet_twin", "--role", role.base_name()].map(str::to_owned);
                    ChildProcess::spawn_service(&name, &twin.python, &args, &env, Some(&twin.peer_dir), &log)?
                }
            };
            workers.push(worker);
        }

        let extra: Vec<(&str, String)> = env
            .iter()
            .filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("S3_") || k == "TASK_QUEUE_PREFIX")
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let config = bench::config::fleet_config(&address, "default", &extra)?;
        let client = fleet::temporal::connect(&config).await?;
        let storage = Storage::new(&config.s3);
        let mut processes = vec![
            StackProcess { name: "temporal server".into(), part: Part::Server, pid: server_pid },
            StackProcess { name: "S3 endpoint".into(), part: Part::S3, pid: s3.pid()? },
        ];
        for (role, worker) in roles.iter().zip(&workers) {
            processes.push(StackProcess { name: role.base_name().to_owned(), part: Part::Worker, pid: worker.pid()? });
        }
        let candidates: Vec<u16> = machine::listening_ports(server_pid).into_iter().filter(|p| p.to_string() != port).collect();
        let metrics_port = crate::server_metrics::find_port(&candidates).await;
        if metrics_port.is_none() {
            println!("    (the dev server's metrics were not found among its ports {candidates:?}: no server-side action counts)");
        }
        let mut stack = Self { kind, client, storage, config, processes, log_dir, metrics_port, roles: roles.to_vec(), server, s3, workers };
        stack.wait_for_workers(Duration::from_secs(120)).await?;
        Ok(stack)
    }

    /// Waits until every role's queue has pollers (workflow or activity: a role may serve only
    /// one kind), failing early when a worker exits.
    async fn wait_for_workers(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        for role in self.roles.clone() {
            let queue = self.config.queue(role);
            loop {
                if crate::stackutil::has_pollers(&self.client, "default", &queue).await? {
                    break;
                }
                if let Some(worker) = self.workers.iter_mut().find_map(|w| w.exited().map(|status| (w.name().to_owned(), status, w.log_tail(20)))) {
                    anyhow::bail!("the {} of the {} exited ({}) before polling; its log {}", worker.0, self.kind.label(), worker.1, worker.2);
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "no {} worker polls {queue} after {limit:?}; logs in {}",
                    self.kind.label(),
                    self.log_dir.display()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    /// Workers that have exited, with their status and log tail.
    pub fn exited_workers(&mut self) -> Vec<String> {
        self.workers.iter_mut().filter_map(|w| w.exited().map(|status| format!("{} ({status}); log {}", w.name(), w.log_tail(20)))).collect()
    }

    /// Resident memory of every process (its live descendants included).
    pub fn rss(&self) -> anyhow::Result<Vec<Rss>> {
        self.processes.iter().map(|p| Ok(machine::tree_rss(p.pid).with_context(|| format!("{} (pid {})", p.name, p.pid))?.0)).collect()
    }

    /// CPU seconds of every process so far (its descendants included).
    pub fn cpu_seconds(&self) -> anyhow::Result<Vec<f64>> {
        self.processes.iter().map(|p| machine::tree_cpu_seconds(p.pid).with_context(|| format!("{} (pid {})", p.name, p.pid))).collect()
    }

    /// Resets every process's peak RSS; false when the kernel refused for one of them.
    pub fn reset_peaks(&self) -> bool {
        // Every process is reset, even after one refused.
        self.processes.iter().map(|p| machine::reset_tree_peak_rss(p.pid)).filter(|reset| !reset).count() == 0
    }

    /// Stops the workers (SIGTERM, then SIGKILL after 10 s), the S3 endpoint, then the server.
    pub async fn stop(self) {
        futures::future::join_all(self.workers.into_iter().map(ChildProcess::stop)).await;
        self.s3.stop().await;
        self.server.stop(Duration::from_secs(10)).await;
    }
}
