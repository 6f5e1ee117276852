//! Replay tests from recorded histories: each parent workflow's real runs, saved as JSON, are
//! replayed against today's workflow code with no server, so a change that breaks determinism
//! fails CI before it breaks runs in flight.

use std::path::{Path, PathBuf};
use temporalio_client::WorkflowHistory;
use temporalio_common::protos::temporal::api::history::v1::{History, HistoryEvent, history_event::Attributes};
use temporalio_sdk::WorkflowRegistrationError;
use temporalio_sdk::workflow_replayer::{WorkflowReplayError, WorkflowReplayer, WorkflowReplayerOptions};

/// Registers the workflows a history may contain.
pub type RegisterWorkflows = fn(&mut WorkflowReplayerOptions) -> Result<(), WorkflowRegistrationError>;

/// Every `*.json` history in `dir`, by file name, in name order.
pub fn load_all(dir: &Path) -> Vec<(String, History)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files.iter().map(|path| (path.file_name().unwrap_or_default().to_string_lossy().into_owned(), load(path))).collect()
}

/// One recorded history.
pub fn load(path: &Path) -> History {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Saves a history fetched from a server (the recording side of a replay test).
pub fn save(path: &Path, events: Vec<HistoryEvent>) -> anyhow::Result<()> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    std::fs::write(path, serde_json::to_vec_pretty(&History { events })?)?;
    Ok(())
}

/// The workflow type and task queue a history was started with.
pub fn started(history: &History) -> (String, String) {
    match history.events.first().and_then(|e| e.attributes.as_ref()) {
        Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => {
            (a.workflow_type.as_ref().map(|t| t.name.clone()).unwrap_or_default(), a.task_queue.as_ref().map(|q| q.name.clone()).unwrap_or_default())
        }
        other => panic!("a history opens with WorkflowExecutionStarted, not {other:?}"),
    }
}

/// The activity types a history scheduled, in order.
pub fn scheduled_activities(history: &History) -> Vec<String> {
    history
        .events
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => a.activity_type.as_ref().map(|t| t.name.clone()),
            _ => None,
        })
        .collect()
}

/// Renames the first scheduled activity of type `from` (any type when `None`): a history the
/// code did not produce, for the guard test that proves replay can fail.
pub fn rename_scheduled_activity(history: &mut History, from: Option<&str>, to: &str) {
    let activity = history
        .events
        .iter_mut()
        .find_map(|e| match e.attributes.as_mut() {
            Some(Attributes::ActivityTaskScheduledEventAttributes(a))
                if from.is_none_or(|name| a.activity_type.as_ref().is_some_and(|t| t.name == name)) =>
            {
                a.activity_type.as_mut()
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no scheduled activity {from:?} in the history"));
    activity.name = to.to_owned();
}

/// Replays a history against the workflows `register` adds, on the queue the history ran on
/// (workflows derive their cross-queue targets from it).
pub async fn replay(history: History, register: RegisterWorkflows) -> Result<(), WorkflowReplayError> {
    let (_, task_queue) = started(&history);
    let mut options = WorkflowReplayerOptions::new().task_queue(task_queue).build();
    register(&mut options).expect("workflows register");
    WorkflowReplayer::new(options)?.replay_workflow(WorkflowHistory::from(history)).await
}

/// Asserts a tampered history is refused as nondeterministic.
pub async fn assert_refused(history: History, register: RegisterWorkflows, renamed_to: &str) {
    match replay(history, register).await {
        Err(e) => {
            let text = e.to_string();
            assert!(text.to_lowercase().contains("nondetermin"), "refused for the wrong reason: {text}");
            assert!(text.contains(renamed_to), "the refusal should name {renamed_to}: {text}");
        }
        Ok(()) => panic!("a history with {renamed_to} renamed in must fail replay"),
    }
}
