//! Replays the histories in `tests/histories/` (real runs on a dev server, recorded by the
//! ignored `record_replay_histories` test in `tests/enhancement.rs`) against today's workflow
//! code, without a server: a change that alters the commands a recorded run issued (an
//! activity or child added, removed, renamed or reordered) fails here instead of breaking the
//! batches in flight.

use enhancement::workflows::{EnhanceBatchWorkflow, EnhanceImageWorkflow};
use std::path::Path;
use temporalio_client::WorkflowHistory;
use temporalio_common::protos::temporal::api::history::v1::{History, history_event::Attributes};
use temporalio_sdk::workflow_replayer::{WorkflowReplayError, WorkflowReplayer, WorkflowReplayerOptions};

/// Every recorded history, by file name.
fn recorded() -> Vec<(String, History)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories");
    let mut out: Vec<(String, History)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let history = serde_json::from_slice(&std::fs::read(&path).expect("readable")).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.file_name().unwrap().to_string_lossy().into_owned(), history)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Replays on the task queue the history ran on (the workflows schedule their activities and
/// children on their own queue).
async fn replay(history: History) -> Result<(), WorkflowReplayError> {
    let task_queue = match history.events.first().and_then(|e| e.attributes.as_ref()) {
        Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => a.task_queue.as_ref().map(|q| q.name.clone()).unwrap_or_default(),
        other => panic!("a history opens with WorkflowExecutionStarted, not {other:?}"),
    };
    let options = WorkflowReplayerOptions::new()
        .task_queue(task_queue)
        .register_workflow::<EnhanceImageWorkflow>()
        .expect("registers")
        .register_workflow::<EnhanceBatchWorkflow>()
        .expect("registers")
        .build();
    WorkflowReplayer::new(options)?.replay_workflow(WorkflowHistory::from(history)).await
}

fn activity_types(history: &History) -> Vec<String> {
    history
        .events
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => a.activity_type.as_ref().map(|t| t.name.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn recorded_histories_replay_with_todays_code() {
    let histories = recorded();
    let names: Vec<&str> = histories.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    let withdrawn = &histories.iter().find(|(n, _)| n == "enhance-image-withdrawn.json").expect("the saga fixture").1;
    assert_eq!(activity_types(withdrawn), ["EnhanceObject", "VerifyEnhanced", "WithdrawEnhanced"], "the fixture holds the compensation");
    for (name, history) in histories {
        if let Err(e) = replay(history).await {
            panic!("{name} no longer replays: {e}");
        }
    }
}

/// The guard of the guard: the saga history with its compensation taken out of the recorded
/// commands no longer matches the code, so the test above cannot pass by replaying nothing.
#[tokio::test]
async fn a_history_the_code_did_not_produce_is_refused() {
    let (_, mut history) = recorded().into_iter().find(|(n, _)| n == "enhance-image-withdrawn.json").expect("the saga fixture");
    let withdraw = history
        .events
        .iter_mut()
        .find_map(|e| match e.attributes.as_mut() {
            Some(Attributes::ActivityTaskScheduledEventAttributes(a)) if a.activity_type.as_ref().is_some_and(|t| t.name == "WithdrawEnhanced") => {
                a.activity_type.as_mut()
            }
            _ => None,
        })
        .expect("the compensation is scheduled");
    withdraw.name = "SomethingElse".to_owned();
    match replay(history).await {
        Err(e) => assert!(e.to_string().to_lowercase().contains("nondetermin"), "refused for the wrong reason: {e}"),
        Ok(()) => panic!("a renamed compensation must fail replay"),
    }
}
