//! Options of the embedded stack shared by `up` and `demo`.

use anyhow::Context;
use clap::Args;
use contracts::Queue;
use devstack::StackConfig;
use fleet::FleetConfig;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct StackArgs {
    /// Holds the Temporal database, the S3 objects and the logs.
    #[arg(long, env = "FLEET_DATA_DIR", default_value = ".fleet-data")]
    pub data_dir: PathBuf,
    /// Temporal front-end port.
    #[arg(long, env = "TEMPORAL_PORT", default_value_t = 7233)]
    pub temporal_port: u16,
    /// Web UI port.
    #[arg(long, env = "TEMPORAL_UI_PORT", default_value_t = 8233)]
    pub ui_port: u16,
    /// S3 endpoint port.
    #[arg(long, env = "S3_PORT", default_value_t = 9000)]
    pub s3_port: u16,
    /// Serve each worker's Prometheus metrics on consecutive ports from this one.
    #[arg(long, env = "METRICS_BASE_PORT")]
    pub metrics_base_port: Option<u16>,
    /// Worker replicas, e.g. `--scale accuracy-processor=3` (repeatable).
    #[arg(long, value_parser = parse_scale)]
    pub scale: Vec<(Queue, usize)>,
}

fn parse_scale(text: &str) -> Result<(Queue, usize), String> {
    let (name, count) = text.split_once('=').ok_or_else(|| format!("{text:?}: expected WORKER=COUNT"))?;
    let queue = Queue::from_base_name(name).ok_or_else(|| {
        let names: Vec<_> = Queue::ALL.iter().map(|q| q.base_name()).collect();
        format!("{name:?} is not a worker; one of: {}", names.join(", "))
    })?;
    let count = count.parse().map_err(|_| format!("{count:?} is not a count"))?;
    Ok((queue, count))
}

impl StackArgs {
    /// The stack to start for this configuration.
    pub fn stack_config(&self, config: &FleetConfig) -> anyhow::Result<StackConfig> {
        std::fs::create_dir_all(&self.data_dir).with_context(|| format!("creating {}", self.data_dir.display()))?;
        let data_dir = self.data_dir.canonicalize().with_context(|| format!("resolving {}", self.data_dir.display()))?;
        let mut worker_env =
            vec![("LOG_LEVEL".to_owned(), config.log.level.clone()), ("TEMPORAL_UI_URL".to_owned(), format!("http://localhost:{}", self.ui_port))];
        if !config.temporal.task_queue_prefix.is_empty() {
            worker_env.push(("TASK_QUEUE_PREFIX".to_owned(), config.temporal.task_queue_prefix.clone()));
        }
        Ok(StackConfig {
            data_dir,
            temporal_port: self.temporal_port,
            ui_port: Some(self.ui_port),
            s3_port: self.s3_port,
            namespace: config.temporal.namespace.clone(),
            s3_access_key: config.s3.access_key_id.expose().to_owned(),
            s3_secret_key: config.s3.secret_access_key.expose().to_owned(),
            scale: self.scale.iter().copied().collect::<BTreeMap<_, _>>(),
            start_workers: true,
            worker_env,
            metrics_base_port: self.metrics_base_port,
        })
    }
}
