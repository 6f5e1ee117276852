//! Operating the fleet: a non-default namespace honoured end to end, and the SDK's Prometheus
//! metrics served by a worker and scraped after a workflow.

use contracts::checksum::{ChecksumObject, ChecksumRequest};
use contracts::settings::ActivitySettings;
use contracts::{ObjectRef, Queue, buckets};
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};
use testkit::{TestStack, unique_id};

#[tokio::test(flavor = "multi_thread")]
async fn non_default_namespace_and_prometheus_metrics() -> anyhow::Result<()> {
    let metrics_port = devstack::ports::free_port()?;
    let port_text = metrics_port.to_string();
    let stack = TestStack::start_in("media-team", &[("METRICS_PORT", &port_text), ("TASK_QUEUE_PREFIX", "blue-")]).await?;
    assert_eq!(stack.config.temporal.namespace, "media-team");
    let _worker = stack.worker(Queue::Ingestion, ingestion::register)?;

    let object = ObjectRef::new(buckets::INPUTS, "ops/namespaced.bin")?;
    stack.storage.put(&object, b"namespaced bytes".to_vec(), "application/octet-stream").await?;
    let workflow_id = unique_id("ns-checksum");
    let handle = stack
        .client
        .start_workflow(
            ChecksumObject,
            ChecksumRequest { object, activity: ActivitySettings::default() },
            WorkflowStartOptions::new(stack.queue(Queue::Ingestion), workflow_id.clone()).build(),
        )
        .await?;
    assert_eq!(stack.queue(Queue::Ingestion), "blue-ingestion");
    let result = handle.get_result(WorkflowGetResultOptions::default()).await?;
    assert_eq!(result.size, 16);

    // The run lives in the configured namespace, not in `default`.
    let cli = devstack::find_temporal_executable()?;
    let describe = |namespace: &str| {
        std::process::Command::new(&cli)
            .args([
                "workflow",
                "describe",
                "-o",
                "json",
                "--address",
                &stack.server.address(),
                "--namespace",
                namespace,
                "--workflow-id",
                &workflow_id,
            ])
            .output()
    };
    let in_namespace = describe("media-team")?;
    assert!(in_namespace.status.success(), "{}", String::from_utf8_lossy(&in_namespace.stderr));
    let description = String::from_utf8_lossy(&in_namespace.stdout);
    assert!(description.contains("WORKFLOW_EXECUTION_STATUS_COMPLETED"), "{description}");
    assert!(!describe("default")?.status.success(), "the workflow must not exist in the default namespace");

    // The worker counts a completion as it reports it: the client may see the result first.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let metrics = loop {
        let metrics = testkit::scrape_metrics(metrics_port).await?;
        let counted = metrics.lines().any(|l| l.starts_with("temporal_workflow_completed_total") && l.contains("ChecksumObject"));
        if counted || std::time::Instant::now() > deadline {
            break metrics;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    for counter in ["temporal_workflow_completed_total", "temporal_activity_execution_latency", "temporal_workflow_task_execution_latency"] {
        assert!(metrics.contains(counter), "{counter} missing from /metrics:\n{metrics}");
    }
    let completed = metrics
        .lines()
        .find(|l| l.starts_with("temporal_workflow_completed_total") && l.contains("ChecksumObject"))
        .unwrap_or_else(|| panic!("no ChecksumObject completion counter:\n{metrics}"));
    assert!(completed.contains("namespace=\"media-team\""), "{completed}");
    assert!(completed.contains("worker=\"ingestion\""), "{completed}");
    assert!(completed.trim_end().ends_with(" 1"), "{completed}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_carry_workflow_id_run_id_and_activity_type() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let mut worker = stack.worker_process(Queue::Ingestion, "ingestion-json", &[("LOG_FORMAT", "json"), ("LOG_LEVEL", "info")])?;
    let object = ObjectRef::new(buckets::INPUTS, "ops/logged.bin")?;
    stack.storage.put(&object, b"log me".to_vec(), "application/octet-stream").await?;
    let workflow_id = unique_id("logged-checksum");
    let handle = stack
        .client
        .start_workflow(
            ChecksumObject,
            ChecksumRequest { object, activity: ActivitySettings::default() },
            WorkflowStartOptions::new(stack.queue(Queue::Ingestion), workflow_id.clone()).build(),
        )
        .await?;
    let run_id = handle.run_id().map(str::to_owned).expect("a started workflow has a run id");
    handle.get_result(WorkflowGetResultOptions::default()).await?;
    assert!(worker.try_exit_status().is_none(), "the worker process is still running");
    worker.stop(std::time::Duration::from_secs(10)).await;

    let log = stack.worker_log("ingestion-json");
    let line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "digested")
        .unwrap_or_else(|| panic!("no JSON 'digested' line in the worker log:\n{log}"));
    let spans = line.to_string();
    assert!(spans.contains(&workflow_id), "workflow id missing: {line}");
    assert!(spans.contains(&run_id), "run id missing: {line}");
    assert!(spans.contains("RunActivity:DigestObject"), "activity type missing: {line}");
    assert!(log.contains("worker stopped"), "SIGTERM ends the worker gracefully:\n{log}");
    Ok(())
}
