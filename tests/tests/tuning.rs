//! Tuning from the environment, end to end: a worker process with the SDK's resource-based tuner
//! and autoscaling pollers (set for that worker alone, `INGESTION_...`) completes work, and a bad
//! tuning value stops a worker process at start naming the variable.

use contracts::checksum::{ChecksumObject, ChecksumRequest};
use contracts::settings::ActivitySettings;
use contracts::{ObjectRef, Queue, buckets};
use std::time::Duration;
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use testkit::{TestStack, unique_id};

#[tokio::test(flavor = "multi_thread")]
async fn a_resource_based_worker_with_autoscaling_pollers_completes_work() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let metrics_port = devstack::ports::free_port()?.to_string();
    let mut worker = stack.worker_process(
        Queue::Ingestion,
        "ingestion-resource-based",
        &[
            ("INGESTION_WORKER_TUNER", "resource-based"),
            ("TUNER_TARGET_CPU", "0.9"),
            ("TUNER_TARGET_MEMORY", "0.9"),
            ("INGESTION_TUNER_ACTIVITY_SLOTS_MAX", "16"),
            ("POLLER_AUTOSCALING", "true"),
            ("POLLERS_MIN", "2"),
            ("POLLERS_MAX", "8"),
            ("POLLERS_INITIAL", "3"),
            ("METRICS_PORT", metrics_port.as_str()),
            ("LOG_LEVEL", "info"),
        ],
    )?;

    let mut handles = Vec::new();
    for i in 0..4u8 {
        let object = ObjectRef::new(buckets::INPUTS, format!("tuning/sample-{i}.bin"))?;
        stack.storage.put(&object, vec![i; 10_000 + usize::from(i)], "application/octet-stream").await?;
        let options = WorkflowStartOptions::new(stack.queue(Queue::Ingestion), unique_id(&format!("tuned-checksum-{i}"))).build();
        handles.push(stack.client.start_workflow(ChecksumObject, ChecksumRequest { object, activity: ActivitySettings::default() }, options).await?);
    }
    for (i, handle) in handles.iter().enumerate() {
        let result = tokio::time::timeout(Duration::from_secs(60), handle.get_result(WorkflowGetResultOptions::default()))
            .await
            .map_err(|_| anyhow::anyhow!("checksum {i} not done after 60 s:\n{}", stack.worker_log("ingestion-resource-based")))??;
        assert_eq!(result.size, 10_000 + i as u64);
    }
    assert!(worker.try_exit_status().is_none(), "the worker process is still running");

    // The SDK's resource-based slot suppliers publish the usage they steer by.
    let metrics = testkit::scrape_metrics(metrics_port.parse()?).await?;
    assert!(metrics.contains("resource_slots_cpu_usage"), "no resource-based tuner gauge in /metrics:\n{metrics}");
    worker.stop(Duration::from_secs(10)).await;

    let log = stack.worker_log("ingestion-resource-based");
    let line = log.lines().find(|l| l.contains("worker tuning")).unwrap_or_else(|| panic!("no 'worker tuning' line:\n{log}"));
    assert!(line.contains("resource-based"), "{line}");
    assert!(line.contains("Autoscaling") && line.contains("minimum: 2") && line.contains("maximum: 8") && line.contains("initial: 3"), "{line}");
    println!("TUNING resource-based ingestion worker with autoscaling pollers (2..8, 3 at start) completed 4 checksums");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_tuning_value_stops_the_worker_at_start_naming_the_variable() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    // (overrides, variable, what the message says)
    let cases: [(&[(&str, &str)], &str, &str); 4] = [
        (&[("INGESTION_WORKER_TUNER", "elastic")], "INGESTION_WORKER_TUNER", "'fixed' or 'resource-based'"),
        (&[("TUNER_TARGET_CPU", "80")], "TUNER_TARGET_CPU", "at most 1"),
        (&[("POLLERS_MIN", "10"), ("INGESTION_POLLERS_MAX", "4")], "POLLERS_MIN", "above maximum 4 (INGESTION_POLLERS_MAX)"),
        (&[("INGESTION_POLLER_AUTOSCALING", "sometimes")], "INGESTION_POLLER_AUTOSCALING", "is not a boolean"),
    ];
    let binary = Queue::Ingestion.worker_binary();
    for (overrides, variable, reason) in cases {
        let mut command = tokio::process::Command::new(devstack::workers::binary_dir().join(&binary));
        command.envs(stack.vars.iter()).envs(overrides.iter().copied()).current_dir(stack.dir.path()).kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .map_err(|_| anyhow::anyhow!("{binary} with {overrides:?} was still running after 60 s"))??;
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert_eq!(output.status.code(), Some(1), "{binary} with {overrides:?} must exit with an error: {text}");
        assert!(text.contains(variable) && text.contains(reason), "{binary} with {overrides:?}: expected {variable} and {reason:?} in:\n{text}");
        assert!(!text.contains("panicked"), "{text}");
    }
    Ok(())
}
