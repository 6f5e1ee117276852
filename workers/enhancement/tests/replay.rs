//! Replays the histories in `tests/histories/` (real runs on a dev server, recorded by the
//! ignored `record_replay_histories` test in `tests/enhancement.rs`) against today's workflow
//! code, without a server: a change that alters the commands a recorded run issued (an
//! activity or child added, removed, renamed or reordered) fails here instead of breaking the
//! batches in flight.

use enhancement::workflows::{EnhanceBatchWorkflow, EnhanceImageWorkflow};
use fleet_tests::replay::{self, assert_refused, load_all, rename_scheduled_activity, scheduled_activities};
use std::path::Path;
use temporalio_sdk::WorkflowRegistrationError;
use temporalio_sdk::workflow_replayer::WorkflowReplayerOptions;

fn register(options: &mut WorkflowReplayerOptions) -> Result<(), WorkflowRegistrationError> {
    options.register_workflow::<EnhanceImageWorkflow>()?.register_workflow::<EnhanceBatchWorkflow>()?;
    Ok(())
}

fn recorded() -> Vec<(String, temporalio_common::protos::temporal::api::history::v1::History)> {
    load_all(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories"))
}

#[tokio::test]
async fn recorded_histories_replay_with_todays_code() {
    let histories = recorded();
    let names: Vec<&str> = histories.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    let withdrawn = &histories.iter().find(|(n, _)| n == "enhance-image-withdrawn.json").expect("the saga fixture").1;
    assert_eq!(scheduled_activities(withdrawn), ["EnhanceObject", "VerifyEnhanced", "WithdrawEnhanced"], "the fixture holds the compensation");
    for (name, history) in histories {
        if let Err(e) = replay::replay(history, register).await {
            panic!("{name} no longer replays: {e}");
        }
    }
}

/// The guard of the guard: the saga history with its compensation renamed no longer matches
/// the code, so the test above cannot pass by replaying nothing.
#[tokio::test]
async fn a_history_the_code_did_not_produce_is_refused() {
    let (_, mut history) = recorded().into_iter().find(|(n, _)| n == "enhance-image-withdrawn.json").expect("the saga fixture");
    rename_scheduled_activity(&mut history, Some("WithdrawEnhanced"), "SomethingElse");
    assert_refused(history, register, "SomethingElse").await;
}
