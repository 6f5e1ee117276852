//! Replays the histories in `tests/histories/` (real runs on a dev server: `IngestImage` as a
//! child of the automation batch, `ChecksumObject` started by a client; recorded by
//! `RECORD_HISTORIES=1 cargo test -p fleet-tests --test automation --test foundation`, see
//! `testkit::replay`) against today's workflow code, without a server: a change that alters the
//! commands a recorded run issued fails here instead of breaking the runs in flight.

use ingestion::workflows::{ChecksumWorkflow, IngestImageWorkflow};
use temporalio_sdk::WorkflowRegistrationError;
use temporalio_sdk::workflow_replayer::WorkflowReplayerOptions;
use testkit::replay::{self, assert_refused, histories_dir, load, rename_scheduled_activity, replay_all, scheduled_activities};

fn register(options: &mut WorkflowReplayerOptions) -> Result<(), WorkflowRegistrationError> {
    options.register_workflow::<ChecksumWorkflow>()?.register_workflow::<IngestImageWorkflow>()?;
    Ok(())
}

#[tokio::test]
async fn recorded_histories_replay_with_todays_code() {
    let histories = replay_all(&histories_dir("ingestion"), register).await;
    assert_eq!(replay::workflow_types(&histories), ["ChecksumObject", "IngestImage"]);
    let activities = |name: &str| scheduled_activities(&histories.iter().find(|(n, _)| n == name).expect("fixture").1);
    assert_eq!(activities("ingest-image-navad.json"), ["ValidateImage"]);
    assert_eq!(activities("ingest-image-corrupt.json"), ["ValidateImage"], "a bad input is one attempt of one activity");
    assert_eq!(activities("checksum-object.json"), ["DigestObject"]);
    // Recorded after requests were resolved in the run's first step (`resolved-request`).
    assert_eq!(activities("checksum-object-resolved.json"), ["DigestObject"]);
    let local = |name: &str| replay::local_activities(&histories.iter().find(|(n, _)| n == name).expect("fixture").1);
    assert_eq!(local("checksum-object-resolved.json"), ["ResolveChecksumRequest"]);
    assert!(local("checksum-object.json").is_empty());
}

/// The guard of the guard: each workflow type's history with its activity renamed no longer
/// matches the code, so the test above cannot pass by replaying nothing.
#[tokio::test]
async fn a_history_the_code_did_not_produce_is_refused() {
    for (fixture, activity) in [("ingest-image-navad.json", "ValidateImage"), ("checksum-object.json", "DigestObject")] {
        let mut history = load(&histories_dir("ingestion").join(fixture));
        rename_scheduled_activity(&mut history, Some(activity), "SomethingElse");
        assert_refused(history, register, "SomethingElse").await;
    }
}
