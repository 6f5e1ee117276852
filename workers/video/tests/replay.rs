//! Replays the histories in `tests/histories/` (real runs on a dev server, saved by
//! `VIDEO_RECORD_HISTORIES=1 cargo test -p video --test pipeline`) against today's workflow code,
//! without a server: a change to `VideoPipeline` that alters the commands a recorded run issued
//! (a stage added, removed or reordered, the cleanup moved) fails here instead of breaking the
//! runs in flight. The fixtures cover a completed run, a run whose extraction was retried, a run
//! failing on a truncated input, and a run cancelled by signal mid-extraction.

use std::path::Path;
use temporalio_client::WorkflowHistory;
use temporalio_common::protos::temporal::api::history::v1::{History, history_event::Attributes};
use temporalio_sdk::workflow_replayer::{WorkflowReplayError, WorkflowReplayer, WorkflowReplayerOptions};
use video::workflows::VideoPipelineWorkflow;

const FIXTURES: [&str; 4] = ["video-cancelled.json", "video-completed.json", "video-failed.json", "video-resumed.json"];

fn recorded(name: &str) -> History {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn replay(history: History) -> Result<(), WorkflowReplayError> {
    let task_queue = match history.events.first().and_then(|e| e.attributes.as_ref()) {
        Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => a.task_queue.as_ref().map(|q| q.name.clone()).unwrap_or_default(),
        other => panic!("a history opens with WorkflowExecutionStarted, not {other:?}"),
    };
    let options = WorkflowReplayerOptions::new()
        .task_queue(task_queue)
        .register_workflow::<VideoPipelineWorkflow>()
        .expect("registers")
        .build();
    WorkflowReplayer::new(options)?.replay_workflow(WorkflowHistory::from(history)).await
}

fn scheduled_activities(history: &History) -> Vec<String> {
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
    assert_eq!(scheduled_activities(&recorded("video-completed.json")), ["AnalyzeVideo", "ExtractFrames", "ProcessFrames"]);
    assert_eq!(scheduled_activities(&recorded("video-cancelled.json")), ["AnalyzeVideo", "ExtractFrames", "RemoveVideoOutputs"]);
    for name in FIXTURES {
        if let Err(e) = replay(recorded(name)).await {
            panic!("{name} no longer replays: {e}");
        }
    }
}

/// The guard of the guard: the cancelled run with its cleanup renamed no longer matches the
/// code, so the test above cannot pass by replaying nothing.
#[tokio::test]
async fn a_history_the_code_did_not_produce_is_refused() {
    let mut history = recorded("video-cancelled.json");
    let cleanup = history
        .events
        .iter_mut()
        .find_map(|e| match e.attributes.as_mut() {
            Some(Attributes::ActivityTaskScheduledEventAttributes(a))
                if a.activity_type.as_ref().is_some_and(|t| t.name == "RemoveVideoOutputs") =>
            {
                a.activity_type.as_mut()
            }
            _ => None,
        })
        .expect("the cleanup is scheduled");
    cleanup.name = "SomethingElse".to_owned();
    match replay(history).await {
        Err(e) => assert!(e.to_string().to_lowercase().contains("nondetermin"), "refused for the wrong reason: {e}"),
        Ok(()) => panic!("a renamed cleanup must fail replay"),
    }
}
