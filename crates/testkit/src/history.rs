//! Reading what the server recorded, for tests that must prove more than a result: every
//! execution in the namespace, one run's events, the activities a run executed (how many
//! attempts each took and why the earlier ones failed), and the activities running right now.

use futures_util::StreamExt;
use std::collections::HashMap;
use temporalio_client::{
    Client, UntypedWorkflowHandle, WorkflowDescribeOptions, WorkflowExecutionInfo, WorkflowFetchHistoryOptions, WorkflowListOptions,
};
use temporalio_common::protos::temporal::api::failure::v1::{Failure, failure::FailureInfo};
use temporalio_common::protos::temporal::api::history::v1::{HistoryEvent, history_event::Attributes};
use temporalio_common::protos::temporal::api::workflow::v1::PendingActivityInfo;

fn handle(client: &Client, workflow_id: &str, run_id: Option<&str>) -> UntypedWorkflowHandle<Client> {
    WorkflowExecutionInfo::builder()
        .namespace(client.options().namespace.clone())
        .workflow_id(workflow_id)
        .maybe_run_id(run_id.map(str::to_owned))
        .build()
        .bind_untyped(client.clone())
}

/// The events of a run (the latest run when `run_id` is `None`).
pub async fn events(client: &Client, workflow_id: &str, run_id: Option<&str>) -> anyhow::Result<Vec<HistoryEvent>> {
    Ok(handle(client, workflow_id, run_id).fetch_history(WorkflowFetchHistoryOptions::default()).into_events().await?)
}

/// `(workflow id, run id, workflow type)` of every execution the namespace's visibility lists
/// for `query` (`""` for all), open and closed runs alike.
pub async fn executions(client: &Client, query: &str) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut stream = client.list_workflows(query, WorkflowListOptions::default());
    let mut out = Vec::new();
    while let Some(execution) = stream.next().await {
        let execution = execution?;
        out.push((execution.id().to_owned(), execution.run_id().to_owned(), execution.workflow_type().to_owned()));
    }
    Ok(out)
}

/// The activities of a run that is still going, as the server describes them.
pub async fn pending_activities(client: &Client, workflow_id: &str) -> anyhow::Result<Vec<PendingActivityInfo>> {
    let description = handle(client, workflow_id, None).describe(WorkflowDescribeOptions::default()).await?;
    Ok(description.raw().pending_activities.clone())
}

/// How an activity ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ActivityEnd {
    /// Completed.
    Completed,
    /// Failed for good.
    Failed(FailureSummary),
    /// Timed out for good.
    TimedOut,
    /// Cancelled.
    Cancelled,
    /// Still running (or scheduled) when the history was read.
    Open,
}

/// The innermost failure of a chain, in the fields tests check.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureSummary {
    /// The innermost message.
    pub message: String,
    /// Application error type (`InvalidInput`, `NotFound`, ...), if the root is one.
    pub error_type: Option<String>,
    /// Marked non-retryable by the code that raised it.
    pub non_retryable: bool,
}

/// Flattens a failure chain to its root cause.
pub fn summarize(failure: &Failure) -> FailureSummary {
    let mut current = failure;
    while let Some(cause) = current.cause.as_deref() {
        current = cause;
    }
    let (error_type, non_retryable) = match &current.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(info)) => ((!info.r#type.is_empty()).then(|| info.r#type.clone()), info.non_retryable),
        Some(FailureInfo::TimeoutFailureInfo(_)) => (Some("Timeout".to_owned()), false),
        _ => (None, false),
    };
    FailureSummary { message: current.message.clone(), error_type, non_retryable }
}

/// One activity of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRecord {
    /// The activity type.
    pub activity_type: String,
    /// The attempt that ran last (1 when it was never retried); 0 when it never started.
    pub attempt: u32,
    /// Why the attempt before the last one failed, when there was one.
    pub retried_after: Option<FailureSummary>,
    /// Identity of the worker that ran the last attempt (`pid@host`).
    pub identity: String,
    /// How it ended.
    pub end: ActivityEnd,
}

/// Every activity a run scheduled, in scheduling order. The server writes an activity's
/// `ActivityTaskStarted` event when the activity ends, with the final attempt number and the
/// previous attempt's failure, so retries are visible without the intermediate attempts.
pub fn activities(events: &[HistoryEvent]) -> Vec<ActivityRecord> {
    let mut records: Vec<ActivityRecord> = Vec::new();
    let mut by_scheduled: HashMap<i64, usize> = HashMap::new();
    for event in events {
        match &event.attributes {
            Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => {
                by_scheduled.insert(event.event_id, records.len());
                records.push(ActivityRecord {
                    activity_type: a.activity_type.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
                    attempt: 0,
                    retried_after: None,
                    identity: String::new(),
                    end: ActivityEnd::Open,
                });
            }
            Some(Attributes::ActivityTaskStartedEventAttributes(a)) => {
                if let Some(&i) = by_scheduled.get(&a.scheduled_event_id) {
                    records[i].attempt = a.attempt.max(0) as u32;
                    records[i].retried_after = a.last_failure.as_ref().map(summarize);
                    records[i].identity = a.identity.clone();
                }
            }
            Some(Attributes::ActivityTaskCompletedEventAttributes(a)) => {
                if let Some(&i) = by_scheduled.get(&a.scheduled_event_id) {
                    records[i].end = ActivityEnd::Completed;
                }
            }
            Some(Attributes::ActivityTaskFailedEventAttributes(a)) => {
                if let Some(&i) = by_scheduled.get(&a.scheduled_event_id) {
                    records[i].end = ActivityEnd::Failed(a.failure.as_ref().map(summarize).unwrap_or(FailureSummary {
                        message: String::new(),
                        error_type: None,
                        non_retryable: false,
                    }));
                }
            }
            Some(Attributes::ActivityTaskTimedOutEventAttributes(a)) => {
                if let Some(&i) = by_scheduled.get(&a.scheduled_event_id) {
                    records[i].end = ActivityEnd::TimedOut;
                }
            }
            Some(Attributes::ActivityTaskCanceledEventAttributes(a)) => {
                if let Some(&i) = by_scheduled.get(&a.scheduled_event_id) {
                    records[i].end = ActivityEnd::Cancelled;
                }
            }
            _ => {}
        }
    }
    records
}

/// Messages of the workflow-task failures of a run (a worker that could not run the workflow
/// code, e.g. because its input did not deserialize).
pub fn workflow_task_failures(events: &[HistoryEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(Attributes::WorkflowTaskFailedEventAttributes(a)) => a.failure.as_ref().map(|f| {
                let mut text = f.message.clone();
                let mut cause = f.cause.as_deref();
                while let Some(c) = cause {
                    text.push_str(": ");
                    text.push_str(&c.message);
                    cause = c.cause.as_deref();
                }
                text
            }),
            _ => None,
        })
        .collect()
}
