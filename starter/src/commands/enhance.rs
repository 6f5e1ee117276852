//! `starter enhance`: being built (see the pipeline's issue).

use clap::Args;

#[derive(Args, Debug)]
pub struct EnhanceArgs {}

pub async fn run(_args: EnhanceArgs) -> anyhow::Result<()> {
    anyhow::bail!("the enhance pipeline is not available in this build yet")
}

/// This pipeline's part of `starter demo`.
pub async fn demo(_ctx: &super::demo::DemoContext) -> anyhow::Result<()> {
    anyhow::bail!("the enhance pipeline is not available in this build yet")
}
