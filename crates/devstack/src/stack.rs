//! The whole embedded stack in one call: dev server, S3 endpoint, worker processes.

use crate::{BUCKETS, S3Endpoint, StackError, TemporalServer, TemporalServerOptions, WorkerProcess, find_temporal_executable, workers};
use contracts::Queue;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// What to start.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Holds the Temporal database, the S3 objects (`s3/`) and the logs (`logs/`).
    pub data_dir: PathBuf,
    /// Temporal front-end port.
    pub temporal_port: u16,
    /// Web UI port; `None` for headless.
    pub ui_port: Option<u16>,
    /// S3 endpoint port.
    pub s3_port: u16,
    /// Namespace the workers use (created at start when not `default`).
    pub namespace: String,
    /// Access key of the S3 endpoint.
    pub s3_access_key: String,
    /// Secret key of the S3 endpoint.
    pub s3_secret_key: String,
    /// Worker processes per queue; a queue left out gets one, 0 starts none.
    pub scale: BTreeMap<Queue, usize>,
    /// Whether to start worker processes at all.
    pub start_workers: bool,
    /// Extra environment for the workers (task-queue prefix, log level, ...).
    pub worker_env: Vec<(String, String)>,
    /// When set, worker process number i (from 0) serves Prometheus metrics on this port + i.
    pub metrics_base_port: Option<u16>,
}

/// A running stack. [`Stack::stop`] stops it in order: workers, then S3, then the server.
pub struct Stack {
    /// The dev server.
    pub temporal: TemporalServer,
    /// The S3 endpoint.
    pub s3: S3Endpoint,
    /// The worker processes.
    pub workers: Vec<WorkerProcess>,
    /// Where each component logs.
    pub log_dir: PathBuf,
}

impl Stack {
    /// Starts everything and returns once the server and the S3 endpoint answer and the workers
    /// are launched.
    pub async fn start(config: &StackConfig) -> Result<Self, StackError> {
        let executable = find_temporal_executable()?;
        // Check every port before starting anything, so a clash never leaves half a stack.
        crate::ports::ensure_free(config.temporal_port, "the Temporal front end", "TEMPORAL_PORT")?;
        if let Some(ui) = config.ui_port {
            crate::ports::ensure_free(ui, "the Temporal Web UI", "TEMPORAL_UI_PORT")?;
        }
        crate::ports::ensure_free(config.s3_port, "the S3 endpoint", "S3_PORT")?;

        let log_dir = config.data_dir.join("logs");
        std::fs::create_dir_all(&log_dir).map_err(|source| StackError::Io { what: format!("creating {}", log_dir.display()), source })?;
        let s3 = S3Endpoint::start(&config.data_dir.join("s3"), config.s3_port, &config.s3_access_key, &config.s3_secret_key, &BUCKETS).await?;
        let temporal = TemporalServer::start(TemporalServerOptions {
            executable,
            port: config.temporal_port,
            ui_port: config.ui_port,
            db_file: config.data_dir.join("temporal.db"),
            namespace: config.namespace.clone(),
            log_file: log_dir.join("temporal.log"),
        })
        .await?;

        let mut stack = Self { temporal, s3, workers: Vec::new(), log_dir };
        if config.start_workers {
            let env = stack.worker_env(config);
            let dir = workers::binary_dir();
            for queue in Queue::ALL {
                let replicas = config.scale.get(&queue).copied().unwrap_or(1);
                for replica in 1..=replicas {
                    let name = if replicas > 1 { format!("{queue}-{replica}") } else { queue.to_string() };
                    let log = stack.log_dir.join(format!("{name}.log"));
                    let mut env = env.clone();
                    if let Some(base) = config.metrics_base_port {
                        let port = base + stack.workers.len() as u16;
                        env.push(("METRICS_PORT".to_owned(), port.to_string()));
                    }
                    stack.workers.push(WorkerProcess::spawn(name, &dir, &queue.worker_binary(), &env, &log)?);
                }
            }
        }
        Ok(stack)
    }

    /// The environment a worker of this stack needs.
    pub fn worker_env(&self, config: &StackConfig) -> Vec<(String, String)> {
        let mut env = vec![
            ("TEMPORAL_ADDRESS".to_owned(), self.temporal.address()),
            ("TEMPORAL_NAMESPACE".to_owned(), config.namespace.clone()),
            ("S3_ENDPOINT".to_owned(), self.s3.endpoint()),
            ("AWS_ACCESS_KEY_ID".to_owned(), config.s3_access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), config.s3_secret_key.clone()),
            ("S3_FORCE_PATH_STYLE".to_owned(), "true".to_owned()),
        ];
        env.extend(config.worker_env.iter().cloned());
        env
    }

    /// Workers that have exited, with their status.
    pub fn exited_workers(&mut self) -> Vec<(String, std::process::ExitStatus)> {
        self.workers.iter_mut().filter_map(|w| w.try_exit_status().map(|s| (w.name.clone(), s))).collect()
    }

    /// Stops the workers (graceful, `grace` each), then the S3 endpoint, then the server.
    pub async fn stop(self, grace: Duration) {
        futures_util::future::join_all(self.workers.into_iter().map(|w| w.stop(grace))).await;
        self.s3.stop().await;
        self.temporal.stop(Duration::from_secs(10)).await;
    }
}
