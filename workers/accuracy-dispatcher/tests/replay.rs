//! Replays the histories in `tests/histories/` (real runs on a dev server: `AnalyzeAccuracy` as
//! a child of the automation batch, tiles measured on the accuracy-processor queue; recorded by
//! `RECORD_HISTORIES=1 cargo test -p fleet-tests --test automation`, see `testkit::replay`)
//! against today's workflow code, without a server: a change that alters the commands a
//! recorded run issued (the split, the fan-out of tiles, the report) fails here instead of
//! breaking the analyses in flight.

use accuracy_dispatcher::workflows::AnalyzeAccuracyWorkflow;
use temporalio_sdk::WorkflowRegistrationError;
use temporalio_sdk::workflow_replayer::WorkflowReplayerOptions;
use testkit::replay::{self, assert_refused, histories_dir, load, rename_scheduled_activity, replay_all, scheduled_activities};

fn register(options: &mut WorkflowReplayerOptions) -> Result<(), WorkflowRegistrationError> {
    options.register_workflow::<AnalyzeAccuracyWorkflow>()?;
    Ok(())
}

#[tokio::test]
async fn recorded_histories_replay_with_todays_code() {
    let histories = replay_all(&histories_dir("accuracy-dispatcher"), register).await;
    assert_eq!(replay::workflow_types(&histories), ["AnalyzeAccuracy"]);
    let navad = &histories.iter().find(|(n, _)| n == "analyze-accuracy-navad.json").expect("fixture").1;
    // A 2x2 grid: the split, four tiles measured at once, the report.
    let mut expected = vec!["SplitTiles"];
    expected.extend(["ComputeTileMetrics"; 4]);
    expected.push("WriteAccuracyReport");
    assert_eq!(scheduled_activities(navad), expected);
}

/// The guard of the guard: the history with its report step renamed no longer matches the
/// code, so the test above cannot pass by replaying nothing.
#[tokio::test]
async fn a_history_the_code_did_not_produce_is_refused() {
    let mut history = load(&histories_dir("accuracy-dispatcher").join("analyze-accuracy-navad.json"));
    rename_scheduled_activity(&mut history, Some("WriteAccuracyReport"), "SomethingElse");
    assert_refused(history, register, "SomethingElse").await;
}
