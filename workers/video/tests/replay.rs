//! Replays the histories in `tests/histories/` (real runs on a dev server, recorded by
//! `RECORD_HISTORIES=1 cargo test -p video --test pipeline`, see `testkit::replay`) against
//! today's workflow code, without a server: a change to `VideoPipeline` that alters the commands
//! a recorded run issued (a stage added, removed or reordered, the cleanup moved) fails here
//! instead of breaking the runs in flight. The fixtures cover a completed run, a run whose
//! extraction was retried, a run failing on a truncated input, a run cancelled by signal
//! mid-extraction (all four from before segmented extraction), a run refused for its frame
//! cap, and a run extracted in three segments.

use temporalio_sdk::WorkflowRegistrationError;
use temporalio_sdk::workflow_replayer::WorkflowReplayerOptions;
use testkit::replay::{self, assert_refused, histories_dir, load, rename_scheduled_activity, replay_all, scheduled_activities};
use video::workflows::VideoPipelineWorkflow;

fn register(options: &mut WorkflowReplayerOptions) -> Result<(), WorkflowRegistrationError> {
    options.register_workflow::<VideoPipelineWorkflow>()?;
    Ok(())
}

#[tokio::test]
async fn recorded_histories_replay_with_todays_code() {
    let histories = replay_all(&histories_dir("video"), register).await;
    let names: Vec<&str> = histories.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "video-cancelled.json",
            "video-completed.json",
            "video-failed.json",
            "video-frame-cap-refused.json",
            "video-resumed.json",
            "video-segmented-resolved.json",
            "video-segmented.json"
        ]
    );
    assert_eq!(replay::workflow_types(&histories), ["VideoPipeline"]);
    let activities = |name: &str| scheduled_activities(&histories.iter().find(|(n, _)| n == name).expect("fixture").1);
    assert_eq!(activities("video-completed.json"), ["AnalyzeVideo", "ExtractFrames", "ProcessFrames"]);
    assert_eq!(activities("video-cancelled.json"), ["AnalyzeVideo", "ExtractFrames", "RemoveVideoOutputs"]);
    // Recorded after the frame-cap check (`no-silent-frame-cap`): refused after the analysis.
    assert_eq!(activities("video-frame-cap-refused.json"), ["AnalyzeVideo"]);
    // Recorded after segmenting (`segmented-extraction`): three segments, then the assembly;
    // and again after requests were resolved in the run's first step (`resolved-request`).
    for fixture in ["video-segmented.json", "video-segmented-resolved.json"] {
        assert_eq!(
            activities(fixture),
            ["AnalyzeVideo", "ExtractSegment", "ExtractSegment", "ExtractSegment", "AssembleFrames", "ProcessFrames"],
            "{fixture}"
        );
    }
    let local = |name: &str| replay::local_activities(&histories.iter().find(|(n, _)| n == name).expect("fixture").1);
    assert_eq!(local("video-segmented-resolved.json"), ["ResolveVideoRequest"]);
}

/// The guard of the guard: the cancelled run with its cleanup renamed no longer matches the
/// code, so the test above cannot pass by replaying nothing.
#[tokio::test]
async fn a_history_the_code_did_not_produce_is_refused() {
    let mut history = load(&histories_dir("video").join("video-cancelled.json"));
    rename_scheduled_activity(&mut history, Some("RemoveVideoOutputs"), "SomethingElse");
    assert_refused(history, register, "SomethingElse").await;
}
