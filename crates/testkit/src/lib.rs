//! The fleet's test kit, shared by every worker's tests and the cross-pipeline tests, and
//! depending on no worker: a real Temporal dev server (the pip-installed `temporal` executable)
//! and a real S3 endpoint per test, each on free ports in a temporary directory, plus in-process
//! workers or worker processes ([`TestStack`]); reading what the server recorded ([`history`]);
//! a stand-in OpenAI images API ([`images_api`]); a counting, fault-injecting proxy in front
//! of S3 ([`proxy`]); replay fixtures, recorded and replayed one
//! way ([`replay`]). No fakes of Temporal or S3: workflows and objects go over gRPC and HTTP.

#![warn(missing_docs)]

pub mod history;
pub mod images_api;
pub mod netns;
pub mod proxy;
pub mod replay;

use anyhow::Context;
use contracts::Queue;
use contracts::automation::{AutomationPipeline, AutomationRequest, AutomationSummary, batch_workflow_id};
use devstack::{S3Endpoint, TemporalServer, WorkerProcess, find_temporal_executable};
use fleet::config::Env;
use fleet::{FleetConfig, Register, RunningWorker, Storage};
use std::collections::HashMap;
use std::time::Duration;
use temporalio_client::{Client, WorkflowGetResultOptions, WorkflowHandle, WorkflowStartOptions};

/// S3 credentials of test stacks.
pub const ACCESS_KEY: &str = "test-access";
/// See [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "test-secret-key";

/// A dev server and an S3 endpoint for one test.
pub struct TestStack {
    /// The dev server (headless).
    pub server: TemporalServer,
    /// The S3 endpoint.
    pub s3: S3Endpoint,
    /// Configuration pointing at both.
    pub config: FleetConfig,
    /// Storage client of the test itself.
    pub storage: Storage,
    /// Temporal client of the test itself.
    pub client: Client,
    /// Holds the database, objects and logs; removed at the end.
    pub dir: tempfile::TempDir,
    /// The variables `config` was built from (also given to worker processes).
    pub vars: HashMap<String, String>,
}

/// `WORKER_SHUTDOWN_GRACE_SECS` of the tests' workers: how long in-flight activities may finish
/// after a SIGTERM.
pub const SHUTDOWN_GRACE_SECS: u64 = 5;

/// The environment the tests give the fleet's processes: the server at `temporal_address`, the
/// S3 endpoint with the test credentials, no `temporal.toml` (a file under `dir` that does not
/// exist), quiet logs, a short connect timeout and shutdown grace.
pub fn fleet_env(temporal_address: String, namespace: &str, s3_endpoint: String, dir: &std::path::Path) -> HashMap<String, String> {
    [
        ("TEMPORAL_ADDRESS", temporal_address),
        ("TEMPORAL_NAMESPACE", namespace.to_owned()),
        ("TEMPORAL_CONFIG_FILE", dir.join("no-temporal.toml").display().to_string()),
        ("S3_ENDPOINT", s3_endpoint),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
        ("LOG_LEVEL", "warn".to_owned()),
        ("TEMPORAL_CONNECT_TIMEOUT_SECS", "20".to_owned()),
        ("WORKER_SHUTDOWN_GRACE_SECS", SHUTDOWN_GRACE_SECS.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

impl TestStack {
    /// Starts a stack in the `default` namespace. A missing `temporal` executable fails here
    /// with the install instructions.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_in("default", &[]).await
    }

    /// Starts a stack whose workers use `namespace` and `extra` settings.
    pub async fn start_in(namespace: &str, extra: &[(&str, &str)]) -> anyhow::Result<Self> {
        let executable = find_temporal_executable()?;
        let dir = tempfile::tempdir()?;
        // Credentials given in `extra` are the endpoint's too, so a test can run the fleet with
        // keys of its choosing (the secrets test uses marker values).
        let setting = |name: &str, default: &'static str| extra.iter().find(|(k, _)| *k == name).map_or(default, |(_, v)| *v);
        let (access_key, secret_key) = (setting("AWS_ACCESS_KEY_ID", ACCESS_KEY), setting("AWS_SECRET_ACCESS_KEY", SECRET_KEY));
        let s3 = S3Endpoint::start(&dir.path().join("s3"), 0, access_key, secret_key, &devstack::BUCKETS).await?;
        let server = TemporalServer::start_on_free_port(&executable, dir.path(), "temporal", namespace).await?;
        let mut vars = fleet_env(server.address(), namespace, s3.endpoint(), dir.path());
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = FleetConfig::from_env(&Env::from_map(vars.clone())).context("test configuration")?;
        let storage = Storage::new(&config.s3);
        let client = fleet::temporal::connect(&config).await?;
        Ok(Self { server, s3, config, storage, client, dir, vars })
    }

    /// Starts the real worker binary of `queue` as a child process (built by
    /// `cargo build --bins`, which the test command runs first), logging to `<dir>/<name>.log`.
    pub fn worker_process(&self, queue: Queue, name: &str, extra: &[(&str, &str)]) -> anyhow::Result<WorkerProcess> {
        let mut env: Vec<(String, String)> = self.vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let log = self.dir.path().join(format!("{name}.log"));
        Ok(WorkerProcess::spawn(name.to_owned(), &devstack::workers::binary_dir(), &queue.worker_binary(), &env, &log)?)
    }

    /// The log of a worker process started with [`TestStack::worker_process`].
    pub fn worker_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Takes the S3 endpoint down for `down_for` (refused connections), then serves the same
    /// objects on the same port again.
    pub async fn s3_outage(&mut self, down_for: Duration) -> anyhow::Result<()> {
        Ok(self.s3.restart(down_for).await?)
    }

    /// Kills the Temporal server (SIGKILL) and starts it again on the same port and database.
    pub async fn restart_temporal(&mut self, down_for: Duration) -> anyhow::Result<()> {
        Ok(self.server.restart(down_for).await?)
    }

    /// Starts an in-process worker for `queue`.
    pub fn worker(&self, queue: Queue, register: Register) -> anyhow::Result<RunningWorker> {
        fleet::start_worker(self.config.clone(), queue, register)
    }

    /// The full task-queue name of `queue`.
    pub fn queue(&self, queue: Queue) -> String {
        self.config.queue(queue)
    }

    /// Starts an automation batch as the starter does: on the orchestrator queue, under
    /// [`batch_workflow_id`].
    pub async fn start_automation(&self, request: AutomationRequest) -> anyhow::Result<WorkflowHandle<Client, AutomationPipeline>> {
        let options = WorkflowStartOptions::new(self.queue(Queue::Orchestrator), batch_workflow_id(&request.batch_id)).build();
        Ok(self.client.start_workflow(AutomationPipeline, request, options).await?)
    }

    /// Starts an automation batch and waits for its summary (across continue-as-new runs).
    pub async fn run_automation(&self, request: AutomationRequest) -> anyhow::Result<AutomationSummary> {
        Ok(self.start_automation(request).await?.get_result(WorkflowGetResultOptions::default()).await?)
    }
}

/// A workflow id unique to this test run.
pub fn unique_id(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or(Duration::ZERO).as_nanos();
    format!("{prefix}-{nanos:x}")
}

/// The Prometheus text a worker serves on `127.0.0.1:port/metrics` (`METRICS_PORT`).
pub async fn scrape_metrics(port: u16) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await?;
    Ok(body)
}
