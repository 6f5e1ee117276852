//! Replays the histories in `tests/histories/` (real runs on a dev server, recorded by
//! `RECORD_HISTORIES=1 cargo test -p enhancement --test enhancement`, see `testkit::replay`)
//! against today's workflow code, without a server: a change that alters the commands a
//! recorded run issued (an activity or child added, removed, renamed or reordered) fails here
//! instead of breaking the batches in flight.

use enhancement::workflows::{EnhanceBatchWorkflow, EnhanceImageWorkflow};
use temporalio_sdk::WorkflowRegistrationError;
use temporalio_sdk::workflow_replayer::WorkflowReplayerOptions;
use testkit::replay::{self, assert_refused, histories_dir, load, rename_scheduled_activity, replay_all, scheduled_activities};

fn register(options: &mut WorkflowReplayerOptions) -> Result<(), WorkflowRegistrationError> {
    options.register_workflow::<EnhanceImageWorkflow>()?.register_workflow::<EnhanceBatchWorkflow>()?;
    Ok(())
}

#[tokio::test]
async fn recorded_histories_replay_with_todays_code() {
    let histories = replay_all(&histories_dir("enhancement"), register).await;
    assert_eq!(replay::workflow_types(&histories), ["EnhanceBatch", "EnhanceImage"]);
    let withdrawn = &histories.iter().find(|(n, _)| n == "enhance-image-withdrawn.json").expect("the saga fixture").1;
    assert_eq!(scheduled_activities(withdrawn), ["EnhanceObject", "VerifyEnhanced", "WithdrawEnhanced"], "the fixture holds the compensation");
    // Runs whose request was resolved in their first step (`resolved-request`).
    let local = |name: &str| replay::local_activities(&histories.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{name}")).1);
    assert_eq!(local("enhance-batch-resolved-run-1.json"), ["ResolveEnhanceBatchRequest"]);
    assert_eq!(local("enhance-batch-resolved-run-2.json"), ["ResolveEnhanceBatchRequest"]);
    assert_eq!(local("enhance-image-resolved-enhanced.json"), ["ResolveEnhanceImageRequest"]);
    assert!(local("enhance-batch-run-1.json").is_empty());
}

/// The guard of the guard: the saga history with its compensation renamed no longer matches
/// the code, so the test above cannot pass by replaying nothing.
#[tokio::test]
async fn a_history_the_code_did_not_produce_is_refused() {
    let mut history = load(&histories_dir("enhancement").join("enhance-image-withdrawn.json"));
    rename_scheduled_activity(&mut history, Some("WithdrawEnhanced"), "SomethingElse");
    assert_refused(history, register, "SomethingElse").await;
}
