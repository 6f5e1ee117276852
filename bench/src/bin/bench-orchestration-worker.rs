//! The Rust worker of the orchestration benchmark: serves `BenchChain` on one task queue until
//! SIGTERM. The harness starts it; see `bench::chain`.

use clap::Parser;

/// Serves the `BenchChain` workflow and `AddOne` activity.
#[derive(Debug, Parser)]
struct Args {
    /// host:port of the Temporal front end.
    #[arg(long)]
    address: String,
    /// Namespace.
    #[arg(long, default_value = "default")]
    namespace: String,
    /// Task queue to poll.
    #[arg(long)]
    task_queue: String,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| runtime.block_on(bench::chain::serve(&args.address, &args.namespace, &args.task_queue)));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-orchestration-worker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
