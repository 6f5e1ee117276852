//! `starter video`: being built (see the pipeline's issue).

use clap::Args;

#[derive(Args, Debug)]
pub struct VideoArgs {}

pub async fn run(_args: VideoArgs) -> anyhow::Result<()> {
    anyhow::bail!("the video pipeline is not available in this build yet")
}

/// This pipeline's part of `starter demo`.
pub async fn demo(_ctx: &super::demo::DemoContext) -> anyhow::Result<()> {
    anyhow::bail!("the video pipeline is not available in this build yet")
}
