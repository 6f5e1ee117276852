//! Replays the histories in `tests/histories/` (real runs on a dev server: `Geolocalize` as a
//! child of the automation batch, and started by a client on a UTM scene and on a TIFF without
//! georeferencing; recorded by `RECORD_HISTORIES=1 cargo test -p fleet-tests --test automation`
//! and `RECORD_HISTORIES=1 cargo test -p geolocalization --test geolocalization`, see
//! `testkit::replay`) against today's workflow code, without a server: a change that alters the
//! commands a recorded run issued fails here instead of breaking the runs in flight.

use geolocalization::workflows::GeolocalizeWorkflow;
use temporalio_sdk::WorkflowRegistrationError;
use temporalio_sdk::workflow_replayer::WorkflowReplayerOptions;
use testkit::replay::{self, assert_refused, histories_dir, load, rename_scheduled_activity, replay_all, scheduled_activities};

fn register(options: &mut WorkflowReplayerOptions) -> Result<(), WorkflowRegistrationError> {
    options.register_workflow::<GeolocalizeWorkflow>()?;
    Ok(())
}

#[tokio::test]
async fn recorded_histories_replay_with_todays_code() {
    let histories = replay_all(&histories_dir("geolocalization"), register).await;
    assert_eq!(replay::workflow_types(&histories), ["Geolocalize"]);
    for (name, history) in &histories {
        assert_eq!(scheduled_activities(history), ["ComputeFootprint"], "{name}");
    }
}

/// The guard of the guard: the history with its activity renamed no longer matches the code,
/// so the test above cannot pass by replaying nothing.
#[tokio::test]
async fn a_history_the_code_did_not_produce_is_refused() {
    let mut history = load(&histories_dir("geolocalization").join("geolocalize-wgs84.json"));
    rename_scheduled_activity(&mut history, Some("ComputeFootprint"), "SomethingElse");
    assert_refused(history, register, "SomethingElse").await;
}
