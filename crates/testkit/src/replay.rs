//! Replay fixtures, recorded one way and replayed one way. Each worker's real runs, saved as
//! JSON under `workers/<worker>/tests/histories/`, are replayed against today's workflow code
//! with no server (each worker's `tests/replay.rs` calls [`replay_all`]), so a change that
//! breaks determinism fails CI before it breaks runs in flight.
//!
//! Recording: the tests that run a fixture's scenario end to end call [`record`] with the run.
//! It writes only when the [`RECORD_VAR`] variable (`RECORD_HISTORIES`) asks:
//! - unset, empty or `0`: nothing is written (every ordinary test run);
//! - `1`: fixtures that do not exist yet are written; existing ones are left alone, since they
//!   are the proof that today's code still replays the runs of yesterday's;
//! - `all`: every fixture the tests reach is written again, for an intended change to a
//!   workflow's commands (runs in flight then need `patched()` in the workflow instead).
//!
//! For example `RECORD_HISTORIES=1 cargo test -p fleet-tests --test automation` writes the
//! missing fixtures of the orchestrator, ingestion, accuracy-dispatcher and geolocalization.

use anyhow::Context;
use std::path::{Path, PathBuf};
use temporalio_client::{Client, WorkflowHistory};
use temporalio_common::protos::temporal::api::enums::v1::EventType;
use temporalio_common::protos::temporal::api::history::v1::{History, HistoryEvent, history_event::Attributes};
use temporalio_sdk::WorkflowRegistrationError;
use temporalio_sdk::workflow_replayer::{WorkflowReplayError, WorkflowReplayer, WorkflowReplayerOptions};

/// The variable that turns recording on (see the module docs for its values).
pub const RECORD_VAR: &str = "RECORD_HISTORIES";

/// What [`record`] writes, from [`RECORD_VAR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// Nothing: tests only replay the checked-in fixtures.
    Off,
    /// Fixtures that do not exist yet.
    Missing,
    /// Every fixture, replacing the checked-in ones.
    All,
}

impl Recording {
    /// Reads [`RECORD_VAR`]; any value other than empty, `0`, `1` or `all` is a mistake and
    /// panics naming the variable.
    pub fn from_env() -> Self {
        match std::env::var(RECORD_VAR) {
            Err(std::env::VarError::NotPresent) => Self::Off,
            Ok(value) => match value.as_str() {
                "" | "0" => Self::Off,
                "1" => Self::Missing,
                "all" => Self::All,
                other => panic!("{RECORD_VAR}={other}: expected 1 (record missing fixtures), all (re-record every fixture) or 0"),
            },
            Err(e) => panic!("{RECORD_VAR}: {e}"),
        }
    }
}

/// The fixture directory of a worker crate, `workers/<worker>/tests/histories`.
pub fn histories_dir(worker: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root).join("workers").join(worker).join("tests/histories")
}

/// Saves the history of a finished run (the latest run of `workflow_id` when `run_id` is
/// `None`) to `path` as a replay fixture, when [`RECORD_VAR`] asks for it; returns whether it
/// wrote. The one way fixtures are recorded.
pub async fn record(client: &Client, workflow_id: &str, run_id: Option<&str>, path: &Path) -> anyhow::Result<bool> {
    match Recording::from_env() {
        Recording::Off => return Ok(false),
        Recording::Missing if path.exists() => return Ok(false),
        Recording::Missing | Recording::All => {}
    }
    let events = crate::history::events(client, workflow_id, run_id).await?;
    let last = events.last().map(|e| e.event_type());
    let closed = [
        EventType::WorkflowExecutionCompleted,
        EventType::WorkflowExecutionFailed,
        EventType::WorkflowExecutionCanceled,
        EventType::WorkflowExecutionTimedOut,
        EventType::WorkflowExecutionTerminated,
        EventType::WorkflowExecutionContinuedAsNew,
    ];
    anyhow::ensure!(last.is_some_and(|t| closed.contains(&t)), "{workflow_id} has not finished (last event {last:?}): a fixture is a whole run");
    save(path, events).with_context(|| format!("writing {}", path.display()))?;
    println!("recorded {workflow_id} into {}", path.display());
    Ok(true)
}

fn save(path: &Path, events: Vec<HistoryEvent>) -> anyhow::Result<()> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    std::fs::write(path, serde_json::to_vec_pretty(&History { events })?)?;
    Ok(())
}

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

/// Types of the local activities a history recorded (their markers), in order: a run's
/// `Resolve<Type>` step shows here with the resolved request as its result.
pub fn local_activities(history: &History) -> Vec<String> {
    history
        .events
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(Attributes::MarkerRecordedEventAttributes(a)) if a.marker_name == "core_local_activity" => {
                let data = a.details.get("data")?.payloads.first()?;
                let data: serde_json::Value = serde_json::from_slice(&data.data).ok()?;
                data["activity_type"].as_str().map(str::to_owned)
            }
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

/// Replays every fixture in `dir` against the workflows `register` adds and panics naming each
/// one that no longer replays; returns the fixtures, by file name, for further checks.
pub async fn replay_all(dir: &Path, register: RegisterWorkflows) -> Vec<(String, History)> {
    let histories = load_all(dir);
    assert!(!histories.is_empty(), "no *.json history in {}", dir.display());
    let mut failures = Vec::new();
    for (name, history) in &histories {
        if let Err(e) = replay(history.clone(), register).await {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(failures.is_empty(), "recorded histories no longer replay with today's code:\n{}", failures.join("\n"));
    histories
}

/// The workflow types of `histories`, sorted, without repeats.
pub fn workflow_types(histories: &[(String, History)]) -> Vec<String> {
    let mut types: Vec<String> = histories.iter().map(|(_, h)| started(h).0).collect();
    types.sort();
    types.dedup();
    types
}
