//! The foundation end to end: a worker on a real dev server reads an object over S3 and writes a
//! derived object back. Both runs are the ingestion worker's `ChecksumObject` replay fixtures
//! (recorded when `RECORD_HISTORIES` asks, see `testkit::replay`).

use contracts::checksum::{ChecksumObject, ChecksumRequest};
use contracts::settings::ActivitySettings;
use contracts::{ObjectRef, Queue, buckets};
use sha2::{Digest, Sha256};
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use testkit::{TestStack, replay, unique_id};

#[tokio::test(flavor = "multi_thread")]
async fn checksum_workflow_reads_and_writes_over_s3() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let _worker = stack.worker(Queue::Ingestion, ingestion::register)?;

    // Bytes that are not trivially recognisable, so a wrong read cannot match by chance.
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let object = ObjectRef::new(buckets::INPUTS, "foundation/sample.bin")?;
    stack.storage.put(&object, payload.clone(), "application/octet-stream").await?;

    let handle = stack
        .client
        .start_workflow(
            ChecksumObject,
            ChecksumRequest { object: object.clone(), activity: ActivitySettings::default() },
            WorkflowStartOptions::new(stack.queue(Queue::Ingestion), unique_id("checksum")).build(),
        )
        .await?;
    let result = handle.get_result(WorkflowGetResultOptions::default()).await?;

    let expected = hex::encode(Sha256::digest(&payload));
    assert_eq!(result.sha256, expected);
    assert_eq!(result.size, payload.len() as u64);
    assert_eq!(result.sidecar.key(), "foundation/sample.bin.sha256");
    let written = stack.storage.get(&result.sidecar).await?;
    assert_eq!(written.as_ref(), format!("{expected}  sample.bin\n").as_bytes());
    // Its request resolved by the run's first step (`checksum-object.json` is a run from before).
    let fixture = replay::histories_dir("ingestion").join("checksum-object-resolved.json");
    replay::record(&stack.client, &handle.info().workflow_id, handle.run_id(), &fixture).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_object_fails_without_retrying_and_names_the_key() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let _worker = stack.worker(Queue::Ingestion, ingestion::register)?;
    let object = ObjectRef::new(buckets::INPUTS, "foundation/does-not-exist.bin")?;
    let handle = stack
        .client
        .start_workflow(
            ChecksumObject,
            ChecksumRequest { object, activity: ActivitySettings::default() },
            WorkflowStartOptions::new(stack.queue(Queue::Ingestion), unique_id("checksum-missing")).build(),
        )
        .await?;
    let err = handle.get_result(WorkflowGetResultOptions::default()).await.expect_err("must fail");
    let text = format!("{err:?}");
    assert!(text.contains("foundation/does-not-exist.bin"), "{text}");
    assert!(text.contains("NotFound"), "{text}");
    assert!(text.contains("NonRetryableFailure"), "the failure must not be retried: {text}");
    let fixture = replay::histories_dir("ingestion").join("checksum-object-missing.json");
    replay::record(&stack.client, &handle.info().workflow_id, handle.run_id(), &fixture).await?;
    Ok(())
}
