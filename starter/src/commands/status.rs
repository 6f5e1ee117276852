//! `starter status [--watch [SECS]] [--json]`: the fleet as the Temporal server sees it. Per task
//! queue of the fleet (under `TASK_QUEUE_PREFIX`) and per task type: the pollers (identity, build
//! id, last access), the approximate backlog count and age, the add and dispatch rates
//! (`DescribeTaskQueue` with `report_stats`), and the version new work goes to; then the running
//! workflows per type (`CountWorkflowExecutions`; visibility cannot group by type, so one count per
//! type the fleet registers).
//!
//! The backlog of a queue with no pollers is the sign that its workers are missing; a growing
//! backlog age with pollers present, that it needs more of them.

use anyhow::Context;
use clap::Args;
use contracts::Queue;
use fleet::FleetConfig;
use serde::Serialize;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use temporalio_client::{Client, WorkflowCountOptions};
use temporalio_common::protos::temporal::api::deployment::v1::WorkerDeploymentVersion;
use temporalio_common::protos::temporal::api::enums::v1::{TaskQueueType, WorkerVersioningMode};
use temporalio_common::protos::temporal::api::taskqueue::v1::PollerInfo;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Refresh every SECS seconds (2 when given without a value) until Ctrl-C.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2")]
    pub watch: Option<f64>,
    /// Print only JSON: one document, or one line per refresh with --watch.
    #[arg(long)]
    pub json: bool,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct FleetStatus {
    /// The namespace described.
    pub namespace: String,
    /// The frontend asked.
    pub address: String,
    /// When the report was taken, milliseconds since the Unix epoch.
    pub taken_at_unix_ms: u64,
    /// One entry per worker queue of the fleet, in start order.
    pub queues: Vec<QueueStatus>,
    /// Running workflows per type, for every type the fleet registers (zeros included).
    pub running: Vec<RunningCount>,
}

/// One task queue of the fleet.
#[derive(Debug, Serialize)]
pub struct QueueStatus {
    /// The worker (queue base name).
    pub worker: String,
    /// The full task-queue name (prefix applied).
    pub task_queue: String,
    /// The version new workflows of this queue go to (`deployment:build`); `None`: unversioned workers.
    pub current_version: Option<String>,
    /// The ramping version and its percentage, if a rollout is ramping.
    pub ramping_version: Option<String>,
    /// Workflow tasks.
    pub workflow: TaskTypeStatus,
    /// Activity tasks.
    pub activity: TaskTypeStatus,
}

/// One task type of a queue.
#[derive(Debug, Serialize)]
pub struct TaskTypeStatus {
    /// Tasks waiting for a worker (approximate; sticky workflow tasks not counted).
    pub backlog_count: i64,
    /// Age of the oldest waiting task, seconds.
    pub backlog_age_secs: f64,
    /// Tasks added per second, last 30 s.
    pub add_rate: f32,
    /// Tasks dispatched per second, last 30 s.
    pub dispatch_rate: f32,
    /// True when a rate limit held dispatches back (more workers would not help).
    pub rate_limited: bool,
    /// Workers that polled recently.
    pub pollers: Vec<Poller>,
}

/// A worker polling a queue.
#[derive(Debug, Serialize)]
pub struct Poller {
    /// The worker's identity (`pid@host` unless configured).
    pub identity: String,
    /// Its build id.
    pub build_id: Option<String>,
    /// Its Worker Deployment, when it is versioned.
    pub deployment: Option<String>,
    /// True when the worker takes only the tasks of its deployment version.
    pub versioned: bool,
    /// Last poll, milliseconds since the Unix epoch.
    pub last_access_unix_ms: Option<u64>,
    /// Seconds since the last poll.
    pub last_access_secs_ago: Option<f64>,
}

/// Running workflows of one type.
#[derive(Debug, Serialize)]
pub struct RunningCount {
    /// The workflow type.
    pub workflow_type: String,
    /// The task queue its workers poll.
    pub task_queue: String,
    /// Running executions (visibility is eventually consistent: a start shows within a second or so).
    pub count: usize,
}

pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let config = FleetConfig::load()?;
    if !args.json {
        fleet::telemetry::init(&config.log);
    }
    let client = fleet::temporal::connect(&config).await?;
    let Some(every) = args.watch else {
        let status = collect(&client, &config).await?;
        print(&status, args.json)?;
        return Ok(());
    };
    anyhow::ensure!(every.is_finite() && every >= 0.1, "--watch {every}: refresh at most every 0.1 s");
    let mut tick = tokio::time::interval(Duration::from_secs_f64(every));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tick.tick() => {
                let status = collect(&client, &config).await?;
                if !args.json {
                    // Redraw in place on a terminal; a pipe gets one report after another.
                    use std::io::IsTerminal;
                    if std::io::stdout().is_terminal() {
                        print!("\x1b[2J\x1b[H");
                    }
                }
                print(&status, args.json)?;
            }
        }
    }
}

fn print(status: &FleetStatus, json: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if json {
        // One line per report, so `--watch --json` is a JSON-lines stream.
        serde_json::to_writer(&mut out, status)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", render(status))?;
    }
    out.flush()?;
    Ok(())
}

/// Asks the server about every queue of the fleet and counts the running workflows.
pub async fn collect(client: &Client, config: &FleetConfig) -> anyhow::Result<FleetStatus> {
    let now = SystemTime::now();
    let mut queues = Vec::new();
    let mut running = Vec::new();
    for queue in Queue::ALL {
        let task_queue = config.queue(queue);
        let (workflow, versioning) = describe(client, config, &task_queue, TaskQueueType::Workflow, now).await?;
        let (activity, _) = describe(client, config, &task_queue, TaskQueueType::Activity, now).await?;
        let current_version = versioning.as_ref().and_then(|v| v.current_deployment_version.as_ref()).map(version_name);
        let ramping_version = versioning
            .as_ref()
            .and_then(|v| v.ramping_deployment_version.as_ref().map(|r| format!("{} at {}%", version_name(r), v.ramping_version_percentage)));
        queues.push(QueueStatus {
            worker: queue.base_name().to_owned(),
            task_queue: task_queue.clone(),
            current_version,
            ramping_version,
            workflow,
            activity,
        });
        for workflow_type in queue.workflow_types() {
            let query = format!("TaskQueue = {} AND WorkflowType = {} AND ExecutionStatus = \"Running\"", quoted(&task_queue), quoted(workflow_type));
            let count =
                client.count_workflows(query, WorkflowCountOptions::default()).await.with_context(|| format!("counting running {workflow_type}"))?;
            running.push(RunningCount { workflow_type: (*workflow_type).to_owned(), task_queue: task_queue.clone(), count: count.count() });
        }
    }
    Ok(FleetStatus {
        namespace: config.temporal.namespace.clone(),
        address: config.temporal.address.clone(),
        taken_at_unix_ms: unix_ms(now),
        queues,
        running,
    })
}

/// A visibility-query string literal.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn unix_ms(t: SystemTime) -> u64 {
    u64::try_from(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(u64::MAX)
}

fn version_name(version: &WorkerDeploymentVersion) -> String {
    format!("{}:{}", version.deployment_name, version.build_id)
}

async fn describe(
    client: &Client,
    config: &FleetConfig,
    task_queue: &str,
    kind: TaskQueueType,
    now: SystemTime,
) -> anyhow::Result<(TaskTypeStatus, Option<temporalio_common::protos::temporal::api::taskqueue::v1::TaskQueueVersioningInfo>)> {
    let response = fleet::temporal::describe_task_queue(client, &config.temporal.namespace, task_queue, kind, true)
        .await
        .with_context(|| format!("describing task queue {task_queue}"))?;
    let stats = response.stats.unwrap_or_default();
    let backlog_age_secs = stats.approximate_backlog_age.map_or(0.0, |d| d.seconds as f64 + f64::from(d.nanos) / 1e9);
    let pollers = response.pollers.iter().map(|p| poller(p, now)).collect();
    let status = TaskTypeStatus {
        backlog_count: stats.approximate_backlog_count,
        backlog_age_secs,
        add_rate: stats.tasks_add_rate,
        dispatch_rate: stats.tasks_dispatch_rate,
        rate_limited: stats.rate_limiting_active,
        pollers,
    };
    Ok((status, response.versioning_info))
}

fn poller(info: &PollerInfo, now: SystemTime) -> Poller {
    let options = info.deployment_options.as_ref();
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let build_id = options.and_then(|o| non_empty(&o.build_id));
    let versioned = options.is_some_and(|o| o.worker_versioning_mode() == WorkerVersioningMode::Versioned);
    let last = info.last_access_time.as_ref().map(|t| UNIX_EPOCH + Duration::new(t.seconds.max(0) as u64, t.nanos.max(0) as u32));
    Poller {
        identity: info.identity.clone(),
        build_id,
        deployment: options.and_then(|o| non_empty(&o.deployment_name)),
        versioned,
        last_access_unix_ms: last.map(unix_ms),
        last_access_secs_ago: last.map(|t| now.duration_since(t).unwrap_or_default().as_secs_f64()),
    }
}

/// The report as a table for people.
pub fn render(status: &FleetStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Fleet status: namespace {} at {}", status.namespace, status.address);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<26} {:<8} {:>8} {:>8} {:>7} {:>10} {:>7}  CURRENT VERSION",
        "TASK QUEUE", "TASKS", "BACKLOG", "AGE", "ADD/s", "DISPATCH/s", "POLLERS"
    );
    for q in &status.queues {
        for (kind, t) in [("workflow", &q.workflow), ("activity", &q.activity)] {
            let name = if kind == "workflow" { q.task_queue.as_str() } else { "" };
            let version = match (kind, &q.current_version, &q.ramping_version) {
                ("workflow", Some(current), Some(ramping)) => format!("{current} (ramping {ramping})"),
                ("workflow", Some(current), None) => current.clone(),
                ("workflow", None, _) => "unversioned".to_owned(),
                _ => String::new(),
            };
            let limited = if t.rate_limited { " rate-limited" } else { "" };
            let line = format!(
                "{name:<26} {kind:<8} {:>8} {:>8} {:>7.1} {:>10.1} {:>7}  {version}{limited}",
                t.backlog_count,
                age(t.backlog_age_secs),
                t.add_rate,
                t.dispatch_rate,
                t.pollers.len(),
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "POLLERS");
    let mut any = false;
    for q in &status.queues {
        for (kind, t) in [("workflow", &q.workflow), ("activity", &q.activity)] {
            for p in &t.pollers {
                any = true;
                let build = p.build_id.as_deref().unwrap_or("-");
                let deployment = match (&p.deployment, p.versioned) {
                    (Some(d), true) => format!("  {d} (versioned)"),
                    (Some(d), false) => format!("  {d}"),
                    (None, _) => String::new(),
                };
                let seen = p.last_access_secs_ago.map_or_else(|| "-".to_owned(), |s| format!("{} ago", age(s)));
                let _ = writeln!(out, "  {:<26} {kind:<8} {:<16} build {build}{deployment}  last poll {seen}", q.task_queue, p.identity);
            }
        }
    }
    if !any {
        let _ = writeln!(out, "  none: no worker polls any queue of the fleet");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "RUNNING WORKFLOWS");
    for r in &status.running {
        let _ = writeln!(out, "  {:<20} {:<26} {:>6}", r.workflow_type, r.task_queue, r.count);
    }
    out
}

/// `-` for nothing waiting, else seconds, minutes or hours.
fn age(secs: f64) -> String {
    match secs {
        s if s <= 0.0 => "-".to_owned(),
        s if s < 90.0 => format!("{s:.0}s"),
        s if s < 5400.0 => format!("{:.0}m", s / 60.0),
        s => format!("{:.1}h", s / 3600.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_at_a_glance() {
        assert_eq!(age(0.0), "-");
        assert_eq!(age(42.4), "42s");
        assert_eq!(age(600.0), "10m");
        assert_eq!(age(7200.0), "2.0h");
    }

    #[test]
    fn query_literals_are_escaped() {
        assert_eq!(quoted("blue-ingestion"), "\"blue-ingestion\"");
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
    }
}
