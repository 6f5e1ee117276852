//! `starter demo`: every pipeline on generated samples. When nothing answers at
//! `TEMPORAL_ADDRESS`, the embedded stack is brought up first (and stopped at the end).

use crate::stack_args::StackArgs;
use devstack::Stack;
use fleet::{FleetConfig, Storage};
use std::time::Duration;
use temporalio_client::Client;

/// What the demo hands each pipeline's `demo` function (as plain arguments: the commands know
/// nothing of the demo).
struct DemoContext {
    /// Configuration (pointing at the embedded stack when the demo started it).
    config: FleetConfig,
    /// Storage client.
    storage: Storage,
    /// Temporal client.
    client: Client,
    /// Where generated samples are written locally before upload.
    samples_dir: std::path::PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Keep the embedded stack running after the demo (until Ctrl-C), to explore the Web UI.
    #[arg(long)]
    pub keep_running: bool,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let mut config = FleetConfig::load()?;
    fleet::telemetry::init(&config.log);
    let mut stack = None;
    if !server_answers(&config).await {
        println!("Nothing answers at {}: bringing up the embedded stack ...", config.temporal.address);
        let stack_config = args.stack.stack_config(&config)?;
        let started = Stack::start(&stack_config).await?;
        println!("Web UI {}   S3 {}   logs {}", started.temporal.ui_url().unwrap_or_default(), started.s3.endpoint(), started.log_dir.display());
        let mut vars: std::collections::HashMap<String, String> = std::env::vars().collect();
        vars.extend(started.worker_env(&stack_config));
        vars.insert("TEMPORAL_UI_URL".into(), started.temporal.ui_url().unwrap_or_default());
        config = FleetConfig::from_env(&fleet::config::Env::from_map(vars))?;
        stack = Some(started);
    }
    let storage = Storage::new(&config.s3);
    for bucket in devstack::BUCKETS {
        storage.ensure_bucket(bucket).await?;
    }
    let client = fleet::temporal::connect(&config).await?;
    let samples_dir = args.stack.data_dir.join("samples");
    std::fs::create_dir_all(&samples_dir)?;
    let ctx = DemoContext { config, storage, client, samples_dir };

    let mut failures = Vec::new();
    for (name, outcome) in [
        ("automation", super::automation::demo(&ctx.config, &ctx.client, &ctx.storage, &ctx.samples_dir).await),
        ("enhancement", super::enhance::demo(&ctx.config, &ctx.client, &ctx.storage, &ctx.samples_dir).await),
        ("video", super::video::demo(&ctx.config, &ctx.client, &ctx.storage, &ctx.samples_dir).await),
    ] {
        if let Err(e) = outcome {
            eprintln!("{name} demo failed: {e:#}");
            failures.push(name);
        }
    }

    if let Some(stack) = stack {
        if args.keep_running {
            println!("The stack keeps running; Web UI {}. Press Ctrl-C to stop.", stack.temporal.ui_url().unwrap_or_default());
            tokio::signal::ctrl_c().await?;
        }
        stack.stop(Duration::from_secs(10)).await;
    }
    if failures.is_empty() { Ok(()) } else { anyhow::bail!("demo failed for: {}", failures.join(", ")) }
}

/// One quick connection attempt, without the retries (and their warnings) of a worker's start.
async fn server_answers(config: &FleetConfig) -> bool {
    let attempt = temporalio_client::Connection::connect(config.connection_options());
    matches!(tokio::time::timeout(Duration::from_secs(2), attempt).await, Ok(Ok(_)))
}
