//! Replays the recorded histories in `tests/histories/` (real runs on a dev server, recorded by
//! `cargo test -p fleet-tests --test automation -- --ignored record_replay_histories`) against
//! today's workflow code, with no server: a change that breaks determinism (a reordered or
//! removed activity, child or timer) fails here before it can break running batches.

use fleet_tests::replay::{self, assert_refused, load_all, rename_scheduled_activity, started};
use orchestrator::workflows::{AutomationPipelineWorkflow, ImagePipelineWorkflow};
use std::path::Path;
use temporalio_sdk::WorkflowRegistrationError;
use temporalio_sdk::workflow_replayer::WorkflowReplayerOptions;

fn register(options: &mut WorkflowReplayerOptions) -> Result<(), WorkflowRegistrationError> {
    options.register_workflow::<AutomationPipelineWorkflow>()?.register_workflow::<ImagePipelineWorkflow>()?;
    Ok(())
}

fn recorded() -> Vec<(String, temporalio_common::protos::temporal::api::history::v1::History)> {
    load_all(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories"))
}

#[tokio::test]
async fn recorded_histories_replay_with_todays_code() {
    let histories = recorded();
    let types: Vec<String> = histories.iter().map(|(_, h)| started(h).0).collect();
    assert!(types.iter().filter(|t| *t == "AutomationPipeline").count() >= 2, "both runs of a batch: {types:?}");
    assert!(types.iter().any(|t| t == "ImagePipeline"), "{types:?}");
    for (name, history) in histories {
        if let Err(e) = replay::replay(history, register).await {
            panic!("{name} no longer replays: {e}");
        }
    }
}

/// The guard itself: a history whose first activity is renamed must be refused as
/// nondeterministic, so the test above cannot pass by replaying nothing.
#[tokio::test]
async fn a_history_the_code_did_not_produce_is_refused() {
    let (_, mut history) = recorded().into_iter().find(|(n, _)| n == "automation-pipeline-run-1.json").expect("fixture");
    rename_scheduled_activity(&mut history, None, "SomeOtherActivity");
    assert_refused(history, register, "SomeOtherActivity").await;
}
