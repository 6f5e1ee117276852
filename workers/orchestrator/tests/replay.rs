//! Replays the recorded histories in `tests/histories/` (real runs on a dev server, recorded by
//! `RECORD_HISTORIES=1 cargo test -p fleet-tests --test automation`, see `testkit::replay`)
//! against today's workflow code, with no server: a change that breaks determinism (a reordered
//! or removed activity, child or timer) fails here before it can break running batches.

use orchestrator::workflows::{AutomationPipelineWorkflow, ImagePipelineWorkflow};
use temporalio_common::protos::temporal::api::history::v1::History;
use temporalio_sdk::WorkflowRegistrationError;
use temporalio_sdk::workflow_replayer::WorkflowReplayerOptions;
use testkit::replay::{self, assert_refused, histories_dir, load, rename_scheduled_activity, replay_all, scheduled_activities, started};

fn register(options: &mut WorkflowReplayerOptions) -> Result<(), WorkflowRegistrationError> {
    options.register_workflow::<AutomationPipelineWorkflow>()?.register_workflow::<ImagePipelineWorkflow>()?;
    Ok(())
}

#[tokio::test]
async fn recorded_histories_replay_with_todays_code() {
    let histories = replay_all(&histories_dir("orchestrator"), register).await;
    let types: Vec<String> = histories.iter().map(|(_, h)| started(h).0).collect();
    assert!(types.iter().filter(|t| *t == "AutomationPipeline").count() >= 2, "both runs of a batch: {types:?}");
    assert_eq!(replay::workflow_types(&histories), ["AutomationPipeline", "ImagePipeline"]);
    // A prefix batch of three runs recorded before the batch engine (crates/batch) replaced
    // the orchestrator's own cursor: its listing pages must replay on the engine.
    let prefix_runs: Vec<&History> = histories.iter().filter(|(n, _)| n.starts_with("automation-pipeline-prefix-run-")).map(|(_, h)| h).collect();
    assert_eq!(prefix_runs.len(), 3);
    for run in prefix_runs {
        assert!(scheduled_activities(run).iter().any(|a| a == "ListBatchPage"), "a prefix run lists");
    }
    // Both paths of `ImagePipeline`: each step a child (recorded before `one-task-per-step`)
    // and each step one task.
    let fixture = |name: &str| &histories.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{name}")).1;
    assert!(scheduled_activities(fixture("image-pipeline-navad.json")).is_empty(), "the children path runs no activity itself");
    assert_eq!(
        scheduled_activities(fixture("image-pipeline-tasks-navad.json")),
        ["ValidateImage", "SplitTiles", "MeasureTiles", "WriteAccuracyReport"]
    );
    assert_eq!(scheduled_activities(fixture("image-pipeline-tasks-satellite-detected.json")), ["DetectImageKind", "ComputeFootprint"]);
    // Both runs of a batch whose request was resolved in each run's first step
    // (`resolved-request`): the second run resolves the request the first continued with.
    for run in ["automation-pipeline-resolved-run-1.json", "automation-pipeline-resolved-run-2.json"] {
        assert_eq!(replay::local_activities(fixture(run)), ["ResolveAutomationRequest"], "{run}");
    }
    assert!(replay::local_activities(fixture("automation-pipeline-run-1.json")).is_empty());
}

/// The same guard on the listing path: a prefix run whose page listing is renamed is refused.
#[tokio::test]
async fn a_prefix_run_with_another_listing_is_refused() {
    let mut history = load(&histories_dir("orchestrator").join("automation-pipeline-prefix-run-2.json"));
    rename_scheduled_activity(&mut history, Some("ListBatchPage"), "ListEnhanceable");
    assert_refused(history, register, "ListEnhanceable").await;
}

/// The guard itself: a history whose first activity is renamed must be refused as
/// nondeterministic, so the test above cannot pass by replaying nothing.
#[tokio::test]
async fn a_history_the_code_did_not_produce_is_refused() {
    let mut history = load(&histories_dir("orchestrator").join("automation-pipeline-run-1.json"));
    rename_scheduled_activity(&mut history, None, "SomeOtherActivity");
    assert_refused(history, register, "SomeOtherActivity").await;
}
