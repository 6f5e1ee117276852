//! Plumbing shared by the sections that talk to Temporal: a dev server on a free port, and waiting until a task queue has pollers (a worker is
//! connected and polling, which is when its idle memory is read).

use anyhow::Context as _;
use devstack::{TemporalServer, find_temporal_executable};
use std::path::Path;
use std::time::{Duration, Instant};
use temporalio_client::Client;
use temporalio_common::protos::temporal::api::enums::v1::TaskQueueType;

/// Starts a headless dev server on a free port, its database and log under `dir`.
pub async fn start_server(dir: &Path, name: &str) -> anyhow::Result<TemporalServer> {
    Ok(TemporalServer::start_on_free_port(&find_temporal_executable()?, dir, name, "default").await?)
}

/// Short unique suffix for task queues and workflow ids of one run.
pub fn nonce() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{:x}", nanos & 0xffff_ffff_ffff)
}

/// Pollers currently seen on `task_queue` for one task type.
async fn pollers(client: &Client, namespace: &str, task_queue: &str, kind: TaskQueueType) -> anyhow::Result<usize> {
    let response = fleet::temporal::describe_task_queue(client, namespace, task_queue, kind, false)
        .await
        .with_context(|| format!("describing task queue {task_queue}"))?;
    Ok(response.pollers.len())
}

/// True when `task_queue` has pollers of either kind (a worker that serves only workflows or
/// only activities polls one kind).
pub async fn has_pollers(client: &Client, namespace: &str, task_queue: &str) -> anyhow::Result<bool> {
    Ok(pollers(client, namespace, task_queue, TaskQueueType::Workflow).await?
        + pollers(client, namespace, task_queue, TaskQueueType::Activity).await?
        > 0)
}

/// Waits until `task_queue` has activity pollers and, unless `activities_only`, workflow
/// pollers too.
pub async fn wait_for_pollers(client: &Client, namespace: &str, task_queue: &str, activities_only: bool, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let activity = pollers(client, namespace, task_queue, TaskQueueType::Activity).await?;
        let workflow = if activities_only { 1 } else { pollers(client, namespace, task_queue, TaskQueueType::Workflow).await? };
        if activity > 0 && workflow > 0 {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no worker polls task queue {task_queue} after {limit:?} ({workflow} workflow pollers, {activity} activity pollers)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
