//! `starter schema <workflow> [--result]`: prints the published JSON Schema of a workflow's
//! input (or result), as checked in under `schemas/`.

use contracts::schemas;

/// Arguments of `starter schema`.
#[derive(clap::Args)]
pub struct SchemaArgs {
    /// The workflow type: AutomationPipeline, EnhanceImage, EnhanceBatch, VideoPipeline or
    /// ChecksumObject (any case).
    pub workflow: String,
    /// The result's schema instead of the input's.
    #[arg(long)]
    pub result: bool,
}

/// Prints the schema.
pub fn run(args: SchemaArgs) -> anyhow::Result<()> {
    let Some(workflow) = schemas::find(&args.workflow) else {
        let names: Vec<&str> = schemas::published().iter().map(|w| w.name).collect();
        anyhow::bail!("no published workflow {:?}: one of {}", args.workflow, names.join(", "));
    };
    let schema = if args.result { workflow.result() } else { workflow.input() };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(())
}
