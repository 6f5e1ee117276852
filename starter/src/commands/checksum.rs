//! `starter checksum`: digest one object and write its `.sha256` sidecar.

use crate::commands::inputs;
use clap::Args;
use contracts::checksum::{ChecksumObject, ChecksumRequest};
use contracts::{Queue, settings::ActivitySettings};
use fleet::FleetConfig;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};

#[derive(Args, Debug)]
pub struct ChecksumArgs {
    /// `s3://bucket/key`, or a local file (uploaded to the inputs bucket first).
    pub input: String,
}

pub async fn run(args: ChecksumArgs) -> anyhow::Result<()> {
    let config = FleetConfig::load()?;
    fleet::telemetry::init(&config.log);
    let storage = fleet::Storage::new(&config.s3);
    let object = inputs::resolve_object(&storage, &args.input, "checksum").await?;
    let client = fleet::temporal::connect(&config).await?;
    let workflow_id = format!("checksum-{}", inputs::id_fragment(object.key()));
    let handle = client
        .start_workflow(
            ChecksumObject,
            ChecksumRequest { object, activity: ActivitySettings::default() },
            WorkflowStartOptions::new(config.queue(Queue::Ingestion), workflow_id.clone()).build(),
        )
        .await?;
    println!("started {workflow_id}: {}", config.workflow_url(&workflow_id));
    let result = handle.get_result(WorkflowGetResultOptions::default()).await?;
    println!("{}  {} ({} bytes) -> {}", result.sha256, result.object, result.size, result.sidecar);
    Ok(())
}
