//! `BenchChain`, the orchestration benchmark's workflow in Rust: `AddOne` three times in
//! sequence, returning its input plus three, and the worker process that serves it
//! (`bench-orchestration-worker`). The Python peer (bench/peer/orchestration_worker.py)
//! registers the same names, so one starter drives both.
//!
//! Kept apart from the harness so the worker binary links only the Temporal SDK and the fleet
//! runtime: its memory is then that of a Rust worker, not of a binary that also maps FFmpeg's
//! hundred shared libraries.

use std::time::Duration;
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder};
use temporalio_sdk::{ActivityOptions, Runtime, Worker, WorkerOptions, WorkflowContext, WorkflowResult};

/// Activities each `BenchChain` runs.
pub const ACTIVITIES_PER_WORKFLOW: i64 = 3;

contracts::workflow_contract!(
    /// The benchmark workflow; the Python peer registers the same name.
    BenchChain = "BenchChain", i64 => i64
);
contracts::activity_contract!(
    /// Returns its input plus one; the Python peer registers the same name.
    AddOne = "AddOne", i64 => i64
);

/// `BenchChain` in Rust.
#[workflow]
#[derive(Default)]
pub struct BenchChainWorkflow;

#[workflow_methods]
impl BenchChainWorkflow {
    /// `AddOne` three times in sequence, on this workflow's own queue.
    #[run(name = BenchChain::NAME)]
    pub async fn run(ctx: &mut WorkflowContext<Self>, value: i64) -> WorkflowResult<i64> {
        let mut value = value;
        for _ in 0..ACTIVITIES_PER_WORKFLOW {
            let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30)).task_queue(ctx.task_queue().to_owned()).build();
            value = ctx.execute_activity(BenchActivities::add_one, value, options).await?;
        }
        Ok(value)
    }
}

/// `AddOne` in Rust.
pub struct BenchActivities;

#[activities]
impl BenchActivities {
    /// `value + 1`.
    #[activity(definition = AddOne)]
    pub async fn add_one(self: std::sync::Arc<Self>, _ctx: ActivityContext, value: i64) -> Result<i64, ActivityError> {
        Ok(value + 1)
    }
}

/// The Rust worker process. Same slot counts and sticky
/// cache as the Python peer (100 workflow tasks, 100 activities, 1000 cached workflows; both
/// SDKs default to 5 pollers per task type). Prints `ready` once built, runs until SIGTERM.
pub async fn serve(address: &str, namespace: &str, task_queue: &str) -> anyhow::Result<()> {
    let config = crate::config::fleet_config(address, namespace, &[])?;
    fleet::telemetry::init(&config.log);
    let client = fleet::temporal::connect(&config).await?;
    let runtime = Runtime::from_current_tokio(Default::default())?;
    let mut options = WorkerOptions::new(task_queue)
        .max_cached_workflows(1000)
        .tuner(
            TunerHolder::builder()
                .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(100))
                .activity_task_slot_supplier(FixedSizeSlotSupplier::new(100))
                .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(100))
                .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(10))
                .build(),
        )
        .build();
    options.register_workflow::<BenchChainWorkflow>()?;
    options.register_activities(BenchActivities);
    let mut worker = Worker::new(&runtime, client, options)?;
    let shutdown = worker.shutdown_handle();
    tokio::spawn(async move {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        } else {
            let _ = tokio::signal::ctrl_c().await;
        }
        shutdown();
    });
    println!("ready");
    worker.run().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implements_its_contract() {
        assert!(contracts::implements_workflow(&BenchChainWorkflow::run, &BenchChain));
        assert_eq!(BenchChain::NAME, "BenchChain");
        assert_eq!(AddOne::NAME, "AddOne");
        assert_eq!(BenchActivities::add_one.name(), AddOne::NAME);
    }
}
