//! Following a running workflow: waiting for its result while a progress bar is fed by the
//! workflow's progress query.

use indicatif::{ProgressBar, ProgressStyle};
use std::future::Future;
use std::time::Duration;
use temporalio_client::errors::WorkflowGetResultError;
use temporalio_client::{Client, WorkflowGetResultOptions, WorkflowHandle, WorkflowQueryOptions};
use temporalio_common::{HasWorkflowDefinition, QueryDefinition};

/// A bar with the fleet's layout (`template` adds the counters); hidden when `show` is false
/// (e.g. `--json` output).
pub fn bar(show: bool, len: u64, counters: &str) -> anyhow::Result<ProgressBar> {
    let bar = if show { ProgressBar::new(len) } else { ProgressBar::hidden() };
    bar.set_style(ProgressStyle::with_template(&format!("{{spinner}} [{{elapsed_precise}}] {{bar:30}} {counters}  {{msg}}"))?);
    bar.enable_steady_tick(Duration::from_millis(120));
    Ok(bar)
}

/// What to do on the first Ctrl-C while waiting (e.g. signal the workflow to cancel).
pub type OnInterrupt<'a> = Box<dyn FnOnce() -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>> + 'a>;

/// Waits for the workflow's result, asking `query` every `every` and handing the answer to
/// `show`. A handle without a run id follows continue-as-new to the last run. The query can fail
/// for a moment (between two runs, while a worker restarts): the bar keeps its last state and
/// the next tick asks again. With `on_interrupt`, the first Ctrl-C runs it and waiting goes on.
pub async fn follow<W, Q>(
    handle: &WorkflowHandle<Client, W>,
    query: Q,
    every: Duration,
    mut show: impl FnMut(&Q::Output),
    mut on_interrupt: Option<OnInterrupt<'_>>,
) -> anyhow::Result<Result<W::Output, WorkflowGetResultError>>
where
    W: HasWorkflowDefinition,
    Q: QueryDefinition<Workflow = W::Run, Input = ()> + Clone,
    Q::Output: Send,
{
    let result = handle.get_result(WorkflowGetResultOptions::default());
    tokio::pin!(result);
    let mut ticker = tokio::time::interval(every);
    loop {
        tokio::select! {
            outcome = &mut result => return Ok(outcome),
            _ = ticker.tick() => {
                if let Ok(progress) = handle.query(query.clone(), (), WorkflowQueryOptions::default()).await {
                    show(&progress);
                }
            }
            _ = tokio::signal::ctrl_c(), if on_interrupt.is_some() => {
                if let Some(interrupt) = on_interrupt.take() {
                    interrupt().await?;
                }
            }
        }
    }
}
