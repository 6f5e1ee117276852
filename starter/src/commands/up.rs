//! `starter up`: the embedded stack until Ctrl-C.

use crate::stack_args::StackArgs;
use devstack::Stack;
use fleet::FleetConfig;
use std::time::Duration;

pub async fn run(args: StackArgs) -> anyhow::Result<()> {
    let config = FleetConfig::load()?;
    fleet::telemetry::init(&config.log);
    let stack_config = args.stack_config(&config)?;
    println!("Starting the embedded stack in {} ...", stack_config.data_dir.display());
    let mut stack = Stack::start(&stack_config).await?;
    println!("Temporal      {}  (namespace {})", stack.temporal.address(), stack_config.namespace);
    println!("Web UI        {}", stack.temporal.ui_url().unwrap_or_default());
    println!("S3 endpoint   {}  (buckets: {})", stack.s3.endpoint(), devstack::BUCKETS.join(", "));
    println!("Logs          {}", stack.log_dir.display());
    for w in &stack.workers {
        println!("worker        {:<22} pid {}", w.name, w.pid().unwrap_or_default());
    }
    println!("Ready. Press Ctrl-C to stop.");

    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut reported = std::collections::HashSet::new();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {
                for (name, status) in stack.exited_workers() {
                    if reported.insert(name.clone()) {
                        eprintln!("worker {name} exited ({status}); see {}", stack.log_dir.join(format!("{name}.log")).display());
                    }
                }
            }
        }
    }
    println!("Stopping ...");
    stack.stop(config.tuning.shutdown_grace).await;
    println!("Stopped.");
    Ok(())
}
