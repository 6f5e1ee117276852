//! Replays the histories in `tests/histories/` (real runs on a dev server, saved by
//! `VIDEO_RECORD_HISTORIES=1 cargo test -p video --test pipeline`) against today's workflow code,
//! without a server: a change to `VideoPipeline` that alters the commands a recorded run issued
//! (a stage added, removed or reordered, the cleanup moved) fails here instead of breaking the
//! runs in flight. The fixtures cover a completed run, a run whose extraction was retried, a run
//! failing on a truncated input, and a run cancelled by signal mid-extraction.

use fleet_tests::replay::{self, assert_refused, load, rename_scheduled_activity, scheduled_activities};
use std::path::Path;
use temporalio_common::protos::temporal::api::history::v1::History;
use temporalio_sdk::WorkflowRegistrationError;
use temporalio_sdk::workflow_replayer::WorkflowReplayerOptions;
use video::workflows::VideoPipelineWorkflow;

const FIXTURES: [&str; 4] = ["video-cancelled.json", "video-completed.json", "video-failed.json", "video-resumed.json"];

fn register(options: &mut WorkflowReplayerOptions) -> Result<(), WorkflowRegistrationError> {
    options.register_workflow::<VideoPipelineWorkflow>()?;
    Ok(())
}

fn recorded(name: &str) -> History {
    load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories").join(name))
}

#[tokio::test]
async fn recorded_histories_replay_with_todays_code() {
    assert_eq!(scheduled_activities(&recorded("video-completed.json")), ["AnalyzeVideo", "ExtractFrames", "ProcessFrames"]);
    assert_eq!(scheduled_activities(&recorded("video-cancelled.json")), ["AnalyzeVideo", "ExtractFrames", "RemoveVideoOutputs"]);
    for name in FIXTURES {
        if let Err(e) = replay::replay(recorded(name), register).await {
            panic!("{name} no longer replays: {e}");
        }
    }
}

/// The guard of the guard: the cancelled run with its cleanup renamed no longer matches the
/// code, so the test above cannot pass by replaying nothing.
#[tokio::test]
async fn a_history_the_code_did_not_produce_is_refused() {
    let mut history = recorded("video-cancelled.json");
    rename_scheduled_activity(&mut history, Some("RemoveVideoOutputs"), "SomethingElse");
    assert_refused(history, register, "SomethingElse").await;
}
