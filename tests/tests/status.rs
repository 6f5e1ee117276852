//! `starter status` against a real dev server with a backlog made on purpose: checksum workflows
//! queued on the ingestion queue while no ingestion worker runs. The report (the real binary,
//! `--json`) shows that backlog (the server's approximate count converges to what was queued) on
//! a queue without pollers and the workflows running; once a worker starts it shows the worker
//! polling with its build id, and the backlog drained. `--watch --json` streams one report per
//! refresh.

use contracts::checksum::{ChecksumObject, ChecksumRequest};
use contracts::settings::ActivitySettings;
use contracts::{ObjectRef, Queue, buckets};
use serde_json::Value;
use std::time::{Duration, Instant};
use temporalio_client::WorkflowStartOptions;
use testkit::{TestStack, unique_id};
use tokio::io::AsyncBufReadExt;

const QUEUED: i64 = 6;

fn starter(stack: &TestStack) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(devstack::workers::binary_dir().join("starter"));
    command.arg("status").envs(stack.vars.iter()).current_dir(stack.dir.path()).kill_on_drop(true);
    command
}

async fn status_json(stack: &TestStack) -> anyhow::Result<Value> {
    let output = starter(stack).arg("--json").output().await?;
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    anyhow::ensure!(output.status.success(), "starter status --json failed:\n{stderr}");
    serde_json::from_str(&stdout).map_err(|e| anyhow::anyhow!("stdout is not one JSON document ({e}):\n{stdout}"))
}

fn queue<'a>(status: &'a Value, worker: &str) -> &'a Value {
    status["queues"].as_array().and_then(|qs| qs.iter().find(|q| q["worker"] == worker)).unwrap_or(&Value::Null)
}

fn running(status: &Value, workflow_type: &str) -> i64 {
    status["running"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["workflow_type"] == workflow_type))
        .and_then(|r| r["count"].as_i64())
        .unwrap_or(-1)
}

/// Reports until `done` holds for one, or fails with the last report after `limit`.
async fn report_until(stack: &TestStack, limit: Duration, what: &str, done: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    let deadline = Instant::now() + limit;
    loop {
        let status = status_json(stack).await?;
        if done(&status) {
            return Ok(status);
        }
        anyhow::ensure!(Instant::now() < deadline, "{what}: not seen within {limit:?}; last report:\n{status:#}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_a_backlog_then_the_worker_that_drains_it() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    for i in 0..QUEUED {
        let object = ObjectRef::new(buckets::INPUTS, format!("status/sample-{i}.bin"))?;
        stack.storage.put(&object, vec![7; 1000], "application/octet-stream").await?;
        let options = WorkflowStartOptions::new(stack.queue(Queue::Ingestion), unique_id(&format!("backlog-{i}"))).build();
        stack.client.start_workflow(ChecksumObject, ChecksumRequest { object, activity: ActivitySettings::default() }, options).await?;
    }

    // No ingestion worker: every first workflow task waits in the backlog.
    let status = report_until(&stack, Duration::from_secs(20), "the queued backlog and running workflows", |s| {
        queue(s, "ingestion")["workflow"]["backlog_count"] == QUEUED && running(s, ChecksumObject::NAME) == QUEUED
    })
    .await?;
    let ingestion = queue(&status, "ingestion");
    assert_eq!(ingestion["task_queue"], stack.queue(Queue::Ingestion));
    assert_eq!(ingestion["workflow"]["pollers"].as_array().map(Vec::len), Some(0), "{ingestion:#}");
    assert!(ingestion["workflow"]["backlog_age_secs"].as_f64().is_some_and(|age| age >= 0.0), "{ingestion:#}");
    assert!(ingestion["workflow"]["add_rate"].as_f64().is_some(), "{ingestion:#}");
    assert!(ingestion["workflow"]["dispatch_rate"].as_f64().is_some(), "{ingestion:#}");
    assert!(ingestion["current_version"].is_null(), "unversioned workers: {ingestion:#}");
    assert_eq!(status["namespace"], "default");
    assert_eq!(status["queues"].as_array().map(Vec::len), Some(Queue::ALL.len()));
    for other in Queue::ALL.into_iter().filter(|q| *q != Queue::Ingestion) {
        assert_eq!(queue(&status, other.base_name())["workflow"]["backlog_count"], 0, "{other}");
    }

    // The text report says the same for people.
    let output = starter(&stack).output().await?;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let row = text.lines().find(|l| l.starts_with(&stack.queue(Queue::Ingestion))).unwrap_or_default();
    assert!(row.split_whitespace().nth(2) == Some(&QUEUED.to_string()), "backlog column of {row:?} in:\n{text}");
    assert!(text.contains("no worker polls any queue"), "{text}");

    // A worker starts: it shows up polling, with the build id the fleet's binaries share, and
    // the backlog drains.
    let _worker = stack.worker(Queue::Ingestion, ingestion::register)?;
    let status = report_until(&stack, Duration::from_secs(60), "the worker polling and the backlog drained", |s| {
        let q = queue(s, "ingestion");
        q["workflow"]["pollers"].as_array().is_some_and(|p| !p.is_empty())
            && q["activity"]["pollers"].as_array().is_some_and(|p| !p.is_empty())
            && q["workflow"]["backlog_count"] == 0
            && running(s, ChecksumObject::NAME) == 0
    })
    .await?;
    let poller = &queue(&status, "ingestion")["workflow"]["pollers"][0];
    assert!(poller["identity"].as_str().is_some_and(|i| !i.is_empty()), "{poller:#}");
    assert_eq!(poller["build_id"].as_str(), Some(fleet::versioning::default_build_id().as_str()), "{poller:#}");
    assert_eq!(poller["versioned"], false, "{poller:#}");
    assert!(poller["last_access_secs_ago"].as_f64().is_some_and(|s| s < 60.0), "{poller:#}");

    // --watch --json: one JSON document per line, every refresh.
    let mut child = starter(&stack).args(["--watch", "0.5", "--json"]).stdout(std::process::Stdio::piped()).spawn()?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    for n in 0..2 {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await??
            .ok_or_else(|| anyhow::anyhow!("watch ended after {n} reports"))?;
        let report: Value = serde_json::from_str(&line)?;
        assert_eq!(report["queues"].as_array().map(Vec::len), Some(Queue::ALL.len()));
    }
    child.kill().await?;
    Ok(())
}
