//! The fleet's command-line launcher: `up` brings up the embedded stack (Temporal dev server,
//! S3 endpoint, every worker); the pipeline subcommands upload inputs and start parent
//! workflows, showing progress and printing results with their Web UI links.

mod commands;
mod progress;
mod stack_args;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "starter", version, about = "Run the media pipelines on a Temporal fleet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the embedded stack (Temporal dev server + Web UI, S3 endpoint, all seven workers)
    /// and keep it running until Ctrl-C.
    Up(stack_args::StackArgs),
    /// Run every pipeline on generated samples (brings up the embedded stack when no server
    /// answers at TEMPORAL_ADDRESS).
    Demo(commands::demo::DemoArgs),
    /// Image automation: navad and satellite images, end to end.
    Automation(commands::automation::AutomationArgs),
    /// Enhance an image (local enhancer by default, OpenAI when configured).
    Enhance(commands::enhance::EnhanceArgs),
    /// Analyze a video, extract and process frames.
    Video(commands::video::VideoArgs),
    /// Digest an object (or a local file, uploaded first) and write its `.sha256` sidecar.
    Checksum(commands::checksum::ChecksumArgs),
    /// The fleet's task queues as the server sees them: pollers and their build ids, backlog
    /// count and age, add and dispatch rates, running workflows per type.
    Status(commands::status::StatusArgs),
    /// Print the JSON Schema of a workflow's input (or, with --result, its result), for
    /// clients in any language; the same files are under schemas/.
    Schema(commands::schema::SchemaArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => commands::up::run(args).await,
            Command::Demo(args) => commands::demo::run(args).await,
            Command::Automation(args) => commands::automation::run(args).await,
            Command::Enhance(args) => commands::enhance::run(args).await,
            Command::Video(args) => commands::video::run(args).await,
            Command::Checksum(args) => commands::checksum::run(args).await,
            Command::Status(args) => commands::status::run(args).await,
            Command::Schema(args) => commands::schema::run(args),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
