//! Replays the recorded histories in `tests/histories/` (real runs on a dev server, recorded by
//! `cargo test -p fleet-tests --test automation -- --ignored record_replay_histories`) against
//! today's workflow code, with no server: a change that breaks determinism (a reordered or
//! removed activity, child or timer) fails here before it can break running batches.

use orchestrator::workflows::{AutomationPipelineWorkflow, ImagePipelineWorkflow};
use std::path::{Path, PathBuf};
use temporalio_client::WorkflowHistory;
use temporalio_common::protos::temporal::api::history::v1::{History, history_event::Attributes};
use temporalio_sdk::workflow_replayer::{WorkflowReplayError, WorkflowReplayFailure, WorkflowReplayer, WorkflowReplayerOptions};

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn load(path: &Path) -> History {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The workflow type and task queue a history was started with.
fn started(history: &History) -> (String, String) {
    match history.events.first().and_then(|e| e.attributes.as_ref()) {
        Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => (
            a.workflow_type.as_ref().map(|t| t.name.clone()).unwrap_or_default(),
            a.task_queue.as_ref().map(|q| q.name.clone()).unwrap_or_default(),
        ),
        other => panic!("a history starts with WorkflowExecutionStarted, not {other:?}"),
    }
}

/// Replays on the queue the history ran on: the workflows derive the fleet's queue prefix from it.
async fn replay(history: History) -> Result<(), WorkflowReplayError> {
    let (_, task_queue) = started(&history);
    let options = WorkflowReplayerOptions::new()
        .task_queue(task_queue)
        .register_workflow::<AutomationPipelineWorkflow>()
        .expect("registers")
        .register_workflow::<ImagePipelineWorkflow>()
        .expect("registers")
        .build();
    WorkflowReplayer::new(options)?.replay_workflow(WorkflowHistory::from(history)).await
}

#[tokio::test]
async fn recorded_histories_replay_with_todays_code() {
    let files = fixtures();
    let types: Vec<String> = files.iter().map(|f| started(&load(f)).0).collect();
    assert!(types.iter().filter(|t| *t == "AutomationPipeline").count() >= 2, "both runs of a batch: {types:?}");
    assert!(types.iter().any(|t| t == "ImagePipeline"), "{types:?}");
    for file in &files {
        if let Err(e) = replay(load(file)).await {
            panic!("{} no longer replays: {e}", file.display());
        }
    }
}

/// The guard itself: a history whose first activity is renamed must be refused as
/// nondeterministic, so the test above cannot pass by replaying nothing.
#[tokio::test]
async fn a_history_the_code_did_not_produce_is_refused() {
    let file = fixtures().into_iter().find(|f| f.file_name().is_some_and(|n| n == "automation-pipeline-run-1.json")).expect("fixture");
    let mut history = load(&file);
    let renamed = history.events.iter_mut().find_map(|e| match e.attributes.as_mut() {
        Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => a.activity_type.as_mut(),
        _ => None,
    });
    renamed.expect("the batch schedules activities").name = "SomeOtherActivity".to_owned();
    match replay(history).await {
        Err(WorkflowReplayError::Replay(WorkflowReplayFailure::Nondeterminism { message })) => {
            assert!(message.contains("SomeOtherActivity"), "{message}");
        }
        other => panic!("a tampered history must fail replay as nondeterministic, got {other:?}"),
    }
}
