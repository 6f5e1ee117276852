//! The embedded S3 endpoint (`devstack::S3Endpoint`: `s3s` + `s3s-fs` over a directory, SigV4)
//! as a process of its own, so the end-to-end section can read its CPU time and memory from
//! /proc like every other process of a fleet's stack. `starter up` and the tests run the same
//! code inside their own process. Prints `ready` once listening; serves until SIGTERM or
//! Ctrl-C.

use clap::Parser;

/// Serves a directory as S3 with the fleet's buckets.
#[derive(Debug, Parser)]
struct Args {
    /// Directory served (one sub-directory per bucket).
    #[arg(long)]
    root: std::path::PathBuf,
    /// Port on 127.0.0.1.
    #[arg(long)]
    port: u16,
    /// Access key.
    #[arg(long)]
    access_key: String,
    /// Secret key.
    #[arg(long)]
    secret_key: String,
}

async fn serve(args: Args) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let endpoint = devstack::S3Endpoint::start(&args.root, args.port, &args.access_key, &args.secret_key, &devstack::BUCKETS).await?;
    println!("ready");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    endpoint.stop().await;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let outcome =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(anyhow::Error::from).and_then(|rt| rt.block_on(serve(args)));
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-s3-endpoint: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
