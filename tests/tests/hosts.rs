//! Faults between hosts: the fleet spread over hosts built as Linux network namespaces
//! (`testkit::netns`: one switch, a veth per host): a server host running the Temporal dev
//! server on its own address, an S3 host (an address of the test's own port, where the embedded
//! endpoint answers), and two worker hosts running the real worker binaries (`ip netns exec`)
//! pointed at those addresses. The faults are cables pulled and routes taken away, so a worker
//! stays alive while it loses its peers, which killing processes on one loopback cannot show:
//! 1. a processor host cut off mid-activity: its tiles time out on heartbeat and are measured
//!    again on the other host; when the cut-off copy finishes late, nothing changes;
//! 2. the video worker's host cut off mid-extraction: the other host resumes the segment from
//!    the last heartbeat checkpoint, and the cut-off copy's late uploads change no frame;
//! 3. a worker host cut off from S3 only (unreachable route, its S3 connections reset; the
//!    server link stays up): its tile activities fail at once as retryable storage errors and
//!    complete after the route returns or on the other host;
//! 4. the server host's dev server restarted (on its database) while a worker host is cut off,
//!    then the host healed: every worker on both hosts polls the new server by itself and the
//!    batch completes;
//! 5. a worker host shut down gracefully (SIGTERM) mid-batch: its processor exits 0 within the
//!    grace period (`WORKER_SHUTDOWN_GRACE_SECS`, 5 s here) and what it held either finished in
//!    that time or is retried on the other host.
//!
//! Each automation test runs a clean batch first: the faulted batch's reports must equal its.
//! The tests need root (CI runs them as root) and iproute2; where namespaces cannot be made they
//! fail saying so. Slow (a fleet of processes each, 15 s to 1.5 min; about 4 min for the five), so `#[ignore]`d for a plain
//! `cargo test` and run by `scripts/test.sh` (`-- --ignored`), one at a time.

use anyhow::Context;
use contracts::automation::{AutomationPipeline, AutomationSummary, ImageInput, ImageKind, batch_workflow_id};
use contracts::object::PrefixRef;
use contracts::settings::RetrySettings;
use contracts::video::{Sampling, VideoPipeline, VideoRequest};
use contracts::{ObjectRef, Queue, buckets};
use devstack::S3Endpoint;
use documents::video::FrameManifest;
use fleet::config::Env;
use fleet::{FleetConfig, Storage};
use orchestrator::bookkeeping;
use samples::video::{ClipSpec, Segment, write_clip};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use temporalio_client::{Client, WorkflowStartOptions};
use temporalio_common::protos::temporal::api::enums::v1::TaskQueueType;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_common::protos::temporal::api::workflow::v1::PendingActivityInfo;
use testkit::history::{self, ActivityEnd, ActivityRecord};
use testkit::netns::{Host, HostProcess, Network};
use testkit::unique_id;

#[path = "support/batches.rs"]
mod batches;
use batches::*;
/// The dev server's front-end port on the server host.
const TEMPORAL_PORT: u16 = 7233;
/// The S3 endpoint's port on the S3 host's address.
const S3_PORT: u16 = 9000;
/// `WORKER_SHUTDOWN_GRACE_SECS` of every worker: how long in-flight activities may finish after
/// a SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(testkit::SHUTDOWN_GRACE_SECS);

// ---------------------------------------------------------------------------------------------
// The hosts: a network, the server host, the S3 host, two worker hosts, and their processes.

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The fleet across hosts. Fields drop in order: processes first, then the S3 endpoint, then
/// the network (every namespace and veth), then the directory.
struct Hosts {
    workers: BTreeMap<String, HostProcess>,
    /// The queue each worker of `workers` polls.
    queues: BTreeMap<String, Queue>,
    server: Option<HostProcess>,
    _s3_forward: AbortOnDrop,
    s3: S3Endpoint,
    client: Client,
    storage: Storage,
    config: FleetConfig,
    vars: HashMap<String, String>,
    server_host: Host,
    /// The S3 host's address.
    s3_addr: Ipv4Addr,
    w1: Host,
    w2: Host,
    net: Network,
    dir: tempfile::TempDir,
}

impl BatchStack for Hosts {
    fn client(&self) -> &Client {
        &self.client
    }
    fn storage(&self) -> &Storage {
        &self.storage
    }
    fn queue(&self, queue: Queue) -> String {
        Hosts::queue(self, queue)
    }
}

/// SHA-256 and entity tag of every object under a prefix, by key.
type Snapshot = BTreeMap<String, (String, Option<String>)>;

impl Hosts {
    /// Builds the network and its hosts and starts the dev server on the server host and the
    /// S3 endpoint on the S3 host's address; no workers yet.
    async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut net = Network::create()?;
        let s3_addr = net.add_local_address()?;
        let server_host = net.add_host("server")?;
        let w1 = net.add_host("w1")?;
        let w2 = net.add_host("w2")?;

        // The embedded endpoint binds loopback only: it answers on the S3 host's address through
        // a forwarder of the test process.
        let s3 = S3Endpoint::start(&dir.path().join("s3"), 0, testkit::ACCESS_KEY, testkit::SECRET_KEY, &devstack::BUCKETS).await?;
        let forward = testkit::netns::forward(SocketAddr::from((s3_addr, S3_PORT)), SocketAddr::from((Ipv4Addr::LOCALHOST, s3.port()))).await?;
        let server = start_server(&net, &server_host, dir.path()).await?;

        let vars = testkit::fleet_env(server_address(&server_host), "default", format!("http://{s3_addr}:{S3_PORT}"), dir.path());
        let config = FleetConfig::from_env(&Env::from_map(vars.clone())).context("test configuration")?;
        let storage = Storage::new(&config.s3);
        let client = fleet::temporal::connect(&config).await?;
        Ok(Self {
            workers: BTreeMap::new(),
            queues: BTreeMap::new(),
            server: Some(server),
            _s3_forward: AbortOnDrop(forward),
            s3,
            client,
            storage,
            config,
            vars,
            server_host,
            s3_addr,
            w1,
            w2,
            net,
            dir,
        })
    }

    /// The hosts with the automation workers running, a batch's images uploaded under
    /// `faults/<name>-.../` and a clean batch of them run: what each automation test starts
    /// from. Returns the area, the images and the clean batch's id and summary.
    async fn automation_after_a_clean_batch(name: &str) -> anyhow::Result<(Self, String, Vec<ImageInput>, (String, AutomationSummary))> {
        let mut hosts = Self::start().await?;
        hosts.automation()?;
        let area = unique_id(name);
        let images = upload_images(&hosts, &area).await?;
        let clean = clean_batch(&hosts, &area, &images).await?;
        Ok((hosts, area, images, clean))
    }

    /// Stops the dev server as a host shutting down would (SIGTERM) and starts it again with the
    /// same arguments on the same database; returns once it answers, with when it was stopped.
    async fn restart_server(&mut self) -> anyhow::Result<SystemTime> {
        let stopped_at = SystemTime::now();
        if let Some(server) = self.server.take() {
            server.stop(Duration::from_secs(10)).await;
        }
        self.server = Some(start_server(&self.net, &self.server_host, self.dir.path()).await?);
        Ok(stopped_at)
    }

    /// Starts the worker binary of `queue` on `host` as `name`, logging to `<dir>/<name>.log`.
    fn spawn(&mut self, host: &Host, queue: Queue, name: &str, extra: &[(&str, &str)]) -> anyhow::Result<()> {
        let mut env: Vec<(String, String)> = self.vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let binary = devstack::workers::binary_dir().join(queue.worker_binary());
        anyhow::ensure!(binary.is_file(), "worker binary {} missing: cargo build --bins", binary.display());
        let process = self.net.spawn(host, name, &binary, &[], &env, &self.dir.path().join(format!("{name}.log")))?;
        self.workers.insert(name.to_owned(), process);
        self.queues.insert(name.to_owned(), queue);
        Ok(())
    }

    /// The automation workers: orchestrator, ingestion, dispatcher, geolocalization and
    /// `processor-2` on w2, `processor-1` on w1 (two slots each).
    fn automation(&mut self) -> anyhow::Result<()> {
        let w2 = self.w2.clone();
        for queue in [Queue::Orchestrator, Queue::Ingestion, Queue::AccuracyDispatcher, Queue::Geolocalization] {
            self.spawn(&w2, queue, queue.base_name(), &[])?;
        }
        let slots = [("ACCURACY_PROCESSOR_MAX_CONCURRENT_ACTIVITIES", "2")];
        let w1 = self.w1.clone();
        self.spawn(&w1, Queue::AccuracyProcessor, "processor-1", &slots)?;
        self.spawn(&w2, Queue::AccuracyProcessor, "processor-2", &slots)?;
        Ok(())
    }

    fn queue(&self, queue: Queue) -> String {
        self.config.queue(queue)
    }

    /// How the server names worker `name` (identities are `<pid>@<hostname>`, and the hosts share
    /// one hostname): the prefix `<pid>@`.
    fn identity(&self, name: &str) -> String {
        format!("{}@", self.workers[name].pid().expect("a running process has a pid"))
    }

    fn worker_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    fn assert_all_running(&mut self) {
        for (name, process) in &mut self.workers {
            if let Some(status) = process.try_exit_status() {
                let log = std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                panic!("worker process {name} exited ({status}):\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            }
        }
    }

    /// Stops every worker gracefully and waits for each to exit.
    async fn stop_workers(&mut self) {
        let workers = std::mem::take(&mut self.workers);
        futures_util::future::join_all(workers.into_values().map(|w| w.stop(Duration::from_secs(10)))).await;
    }

    /// Stops every worker gracefully, then the server; the network goes with `self`.
    async fn stop(mut self) {
        self.stop_workers().await;
        if let Some(server) = self.server.take() {
            server.stop(Duration::from_secs(10)).await;
        }
    }
}

/// The dev server's front end on `host`.
fn server_address(host: &Host) -> String {
    format!("{}:{TEMPORAL_PORT}", host.addr)
}

/// Starts the dev server on `host` with its database in `dir` (the same database each time, so
/// a second start is a restart) and waits until it answers.
async fn start_server(net: &Network, host: &Host, dir: &Path) -> anyhow::Result<HostProcess> {
    let executable = devstack::find_temporal_executable()?;
    // `--ip 0.0.0.0`: the host's only addresses are its own and loopback, so the front end
    // answers on the host's address. With `--ip <that address>` the CLI 1.9.1 dev server binds
    // its internal services there too but dials them on 127.0.0.1 (connection refused), and
    // StartWorkflowExecution fails with Unavailable.
    let mut args: Vec<String> =
        ["server", "start-dev", "--ip", "0.0.0.0", "--headless", "--log-level", "warn"].iter().map(|s| s.to_string()).collect();
    args.extend(["--port".into(), TEMPORAL_PORT.to_string(), "--db-filename".into(), dir.join("temporal.db").display().to_string()]);
    for (name, kind) in contracts::search::ALL {
        args.extend(["--search-attribute".into(), format!("{name}={kind}")]);
    }
    let log = dir.join("temporal.log");
    let server = net.spawn(host, "temporal", &executable, &args, &[], &log)?;
    wait_for_server(&executable, &server_address(host), &log).await?;
    Ok(server)
}

/// Polls the dev server on `address` (through the test's own port) until its front end answers
/// and every search attribute is registered.
async fn wait_for_server(executable: &Path, address: &str, log: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = tokio::process::Command::new(executable)
            .args(["operator", "search-attribute", "list", "--namespace", "default", "--address", address])
            .stdin(std::process::Stdio::null())
            .output()
            .await?;
        if out.status.success() && contracts::search::ALL.iter().all(|(name, _)| String::from_utf8_lossy(&out.stdout).contains(name)) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the dev server on the server host ({address}) not ready within 90 s:\n{}",
            devstack::temporal_server::tail(log)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Batches and what the server recorded of them.

/// SHA-256 and entity tag of every object under a prefix, by key.
async fn snapshot(hosts: &Hosts, bucket: &str, prefix: &str) -> anyhow::Result<Snapshot> {
    use futures_util::{StreamExt, TryStreamExt};
    use sha2::{Digest, Sha256};
    // A video's 1500 frames are 3000 requests: 16 at a time.
    futures_util::stream::iter(hosts.storage.list(bucket, prefix).await?)
        .map(|object| async move {
            let bytes = hosts.storage.get(&object).await?;
            let etag = hosts.storage.version(&object).await?.and_then(|v| v.etag);
            anyhow::Ok((object.key().to_owned(), (hex::encode(Sha256::digest(&bytes)), etag)))
        })
        .buffer_unordered(16)
        .try_collect()
        .await
}

/// Keys under `prefix` of `bucket` whose file the S3 host wrote at or after `since`.
fn written_since(hosts: &Hosts, bucket: &str, prefix: &str, since: SystemTime) -> BTreeSet<String> {
    let root = hosts.s3.root().join(bucket);
    let mut out = BTreeSet::new();
    let mut stack = vec![root.join(prefix)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if entry.metadata().and_then(|m| m.modified()).is_ok_and(|m| m >= since) {
                out.insert(path.strip_prefix(&root).unwrap_or(&path).display().to_string());
            }
        }
    }
    out
}

/// The outputs of the finished batches, to check once the workers are gone that no late copy
/// changed or added any: [`LateWrites::after_workers_stop`].
struct LateWrites {
    prefix: String,
    before: Snapshot,
    since: SystemTime,
}

impl LateWrites {
    /// Takes every batch's outputs now, when the last has just finished.
    async fn snapshot(hosts: &Hosts) -> anyhow::Result<Self> {
        let since = SystemTime::now();
        let prefix = "automation/".to_owned();
        Ok(Self { before: snapshot(hosts, buckets::OUTPUTS, &prefix).await?, prefix, since })
    }

    /// Stops every worker and waits for each to exit (so whatever a late copy still had to write
    /// has landed), checks that no output changed, and returns the keys written since the
    /// snapshot.
    async fn after_workers_stop(self, hosts: &mut Hosts) -> anyhow::Result<BTreeSet<String>> {
        hosts.stop_workers().await;
        let after = snapshot(hosts, buckets::OUTPUTS, &self.prefix).await?;
        assert_eq!(after, self.before, "an output changed after the batch finished");
        Ok(written_since(hosts, buckets::OUTPUTS, &self.prefix, self.since))
    }
}

/// Waits until `ready` holds on `name`'s log, or `limit` passes; returns whether it held.
async fn wait_for_log(hosts: &Hosts, name: &str, limit: Duration, ready: impl Fn(&str) -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ready(&hosts.worker_log(name)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Waits for batch `batch_id` to finish, and checks that it is complete and that its reports
/// equal the clean batch's.
async fn finish_like_the_clean_batch(
    hosts: &Hosts,
    batch_id: &str,
    area: &str,
    images: &[ImageInput],
    clean: (&str, &AutomationSummary),
) -> anyhow::Result<()> {
    let summary = result_of::<AutomationPipeline>(hosts, &batch_workflow_id(batch_id)).await?;
    assert_complete(hosts, batch_id, area, images, &summary).await?;
    assert_same_reports(hosts, clean, (batch_id, &summary)).await
}

/// Polls the pending activities of the navad image pipelines of batch `batch_id` (as the server
/// holds them) until some match; returns the pipeline's workflow id and the matching activities.
async fn wait_for_pending_tiles(
    hosts: &Hosts,
    batch_id: &str,
    images: &[ImageInput],
    what: &str,
    matches: impl Fn(&PendingActivityInfo) -> bool,
) -> anyhow::Result<(String, Vec<PendingActivityInfo>)> {
    let ids: Vec<String> = images
        .iter()
        .enumerate()
        .filter(|(_, i)| i.kind == Some(ImageKind::Navad))
        .map(|(index, i)| bookkeeping::image_workflow_id(batch_id, index as u64, &i.object))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        for id in &ids {
            let Ok(pending) = history::pending_activities(&hosts.client, id).await else { continue };
            let found: Vec<PendingActivityInfo> = pending.into_iter().filter(&matches).collect();
            if !found.is_empty() {
                return Ok((id.clone(), found));
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "within 120 s no tile activity of batch {batch_id} was {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `worker` holds a started tile activity of batch `batch_id`; returns the image
/// pipeline's workflow id and the activity ids it holds.
async fn wait_until_holding_tiles(hosts: &Hosts, worker: &str, batch_id: &str, images: &[ImageInput]) -> anyhow::Result<(String, Vec<String>)> {
    let identity = hosts.identity(worker);
    let (id, held) = wait_for_pending_tiles(hosts, batch_id, images, &format!("started by {worker}"), |a| {
        a.state == 2 && a.last_worker_identity.starts_with(&identity)
    })
    .await?;
    Ok((id, held.into_iter().map(|a| a.activity_id).collect()))
}

/// The activities of the latest run of `workflow_id`, by activity id.
async fn activities_by_id(hosts: &Hosts, workflow_id: &str) -> anyhow::Result<BTreeMap<String, ActivityRecord>> {
    let events = history::events(&hosts.client, workflow_id, None).await?;
    // `history::activities` keeps one record per scheduled activity, in scheduling order.
    let ids = events.iter().filter_map(|e| match &e.attributes {
        Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => Some(a.activity_id.clone()),
        _ => None,
    });
    Ok(ids.zip(history::activities(&events)).collect())
}

/// The tile activities of batch `batch_id` run more than once, checking that every activity of
/// the batch completed.
async fn redone_tiles(hosts: &Hosts, batch_id: &str, images: &[ImageInput]) -> anyhow::Result<Vec<ActivityRecord>> {
    let activities = batch_activities(hosts, batch_id, images).await?;
    for (id, activity) in &activities {
        assert_eq!(activity.end, ActivityEnd::Completed, "{id}: {activity:?}");
    }
    Ok(activities.into_iter().map(|(_, a)| a).filter(|a| a.activity_type == "MeasureTiles" && a.attempt >= 2).collect())
}

/// Identities of the workers the server has seen polling `queue` (workflow or activity tasks)
/// since `since`.
async fn pollers_since(hosts: &Hosts, queue: Queue, since: SystemTime) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for kind in [TaskQueueType::Workflow, TaskQueueType::Activity] {
        let response =
            fleet::temporal::describe_task_queue(&hosts.client, &hosts.config.temporal.namespace, &hosts.queue(queue), kind, false).await?;
        for poller in response.pollers {
            let seen = poller.last_access_time.map(|t| SystemTime::UNIX_EPOCH + Duration::new(t.seconds.max(0) as u64, t.nanos.max(0) as u32));
            if seen.is_some_and(|seen| seen >= since) {
                out.push(poller.identity);
            }
        }
    }
    Ok(out)
}

/// Waits until every worker has polled the server since `since`; returns, per worker, how long
/// after `since` it was first seen.
async fn wait_until_all_poll(hosts: &Hosts, since: SystemTime) -> anyhow::Result<BTreeMap<String, Duration>> {
    let mut seen = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < hosts.workers.len() {
        for (name, queue) in &hosts.queues {
            if seen.contains_key(name) || !hosts.workers.contains_key(name) {
                continue;
            }
            let identity = hosts.identity(name);
            if pollers_since(hosts, *queue, since).await.unwrap_or_default().iter().any(|p| p.starts_with(&identity)) {
                seen.insert(name.clone(), since.elapsed().unwrap_or_default());
            }
        }
        let missing: Vec<&String> = hosts.workers.keys().filter(|n| !seen.contains_key(*n)).collect();
        anyhow::ensure!(Instant::now() < deadline, "workers not polling the restarted server within 120 s: {missing:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(seen)
}

// ---------------------------------------------------------------------------------------------
// 1. A processor host cut off from the server mid-activity.

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow: hosts as network namespaces (root) and a fleet of worker processes; scripts/test.sh runs it"]
async fn a_processor_host_cut_off_mid_activity_is_replaced_and_its_late_copy_changes_nothing() -> anyhow::Result<()> {
    let _fleet_lock = one_fleet_at_a_time().await;
    let started = Instant::now();
    // processor-1 logs what becomes of its work after the cut (the SDK's own lines included).
    let (mut hosts, area, images, (clean_id, clean)) = Hosts::automation_after_a_clean_batch("hosts").await?;

    // The faulted run: pull w1's cable while processor-1 holds a started tile activity.
    let faulted_id = unique_id("cut");
    start_batch(&hosts, &faulted_id, &images).await?;
    let victim_identity = hosts.identity("processor-1");
    let held = wait_until_holding_tiles(&hosts, "processor-1", &faulted_id, &images).await?;
    hosts.net.cut(&hosts.w1)?;
    eprintln!("cut w1 off (processor-1 {victim_identity}) holding tile activities {:?} of {}", held.1, held.0);

    finish_like_the_clean_batch(&hosts, &faulted_id, &area, &images, (&clean_id, &clean)).await?;
    eprintln!("faulted batch done after {:?}", started.elapsed());

    let redone = redone_tiles(&hosts, &faulted_id, &images).await?;
    assert!(!redone.is_empty(), "no tile activity was retried after the cut");
    for tile in &redone {
        assert!(!tile.identity.starts_with(&victim_identity), "a host cut off from the server cannot complete a tile: {tile:?}");
        let cause = tile.retried_after.as_ref().expect("a retried attempt records why the previous one failed");
        assert_eq!(cause.error_type.as_deref(), Some("Timeout"), "{tile:?}");
    }

    // The late copy: heal w1, so processor-1 delivers what its cut-off attempts ended with.
    // MeasureTiles writes no object (it reads tiles and returns their metrics), so its only
    // output is that completion; the server refuses it (the task token is of a timed-out
    // attempt): fenced by attempt. Both buckets stay byte for byte, ETag for ETag, the same.
    let outputs_before = snapshot(&hosts, buckets::OUTPUTS, "automation/").await?;
    let inputs_before = snapshot(&hosts, buckets::INPUTS, &format!("faults/{area}/")).await?;
    let healed_at = std::time::SystemTime::now();
    hosts.net.heal(&hosts.w1)?;
    // The SDK tries a completion once: the server refuses it (it logs the server's NotFound for
    // its task token), or the try fails on the network (the connection the cut left behind is
    // reset) and the SDK drops it. Either line ends the late copy's story.
    let refused = |l: &str| l.contains("Activity not found on completion") && l.contains("NotFound");
    let dropped = |l: &str| l.contains("Network error while completing activity");
    wait_for_log(&hosts, "processor-1", Duration::from_secs(60), |log| log.lines().any(|l| refused(l) || dropped(l))).await;
    let log = hosts.worker_log("processor-1");
    eprintln!("processor-1 log after the heal:\n{log}");
    let outputs_after = snapshot(&hosts, buckets::OUTPUTS, "automation/").await?;
    let inputs_after = snapshot(&hosts, buckets::INPUTS, &format!("faults/{area}/")).await?;
    assert_eq!(outputs_after, outputs_before, "the late copy changed an output");
    assert_eq!(inputs_after, inputs_before, "the late copy changed an input or its sidecar");
    let late_writes = written_since(&hosts, buckets::OUTPUTS, "automation/", healed_at);
    assert!(late_writes.is_empty(), "objects written after the heal: {late_writes:?}");
    // Whether the late completion reaches the server depends on the connection the cut left
    // behind (TCP backs off through a long cut; the server host may reset it): when it does, it
    // is refused; either way nothing it carried lands anywhere (checked above).
    let late_completion = if log.lines().any(refused) {
        "delivered and refused (fenced by attempt)"
    } else if log.lines().any(dropped) {
        "dropped by the SDK on a reset connection"
    } else {
        "not attempted within 60 s of the heal"
    };
    hosts.assert_all_running();
    println!(
        "RESILIENCE host-cut-processor: w1 cut off holding {} tile activities; {} tile activities redone on w2 after heartbeat timeout; late writes: 0 objects, late completion {late_completion}; outputs lost 0; {:?}",
        held.1.len(),
        redone.len(),
        started.elapsed()
    );
    hosts.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. The video worker's host cut off mid-extraction.

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow: hosts as network namespaces (root) and a fleet of worker processes; scripts/test.sh runs it"]
async fn a_video_host_cut_off_mid_extraction_is_resumed_elsewhere_and_its_late_uploads_change_nothing() -> anyhow::Result<()> {
    let _fleet_lock = one_fleet_at_a_time().await;
    let started = Instant::now();
    let mut hosts = Hosts::start().await?;
    let video_env = [("LOG_LEVEL", "warn,video=info")];
    let (w1, w2) = (hosts.w1.clone(), hosts.w2.clone());
    hosts.spawn(&w1, Queue::Video, "video-1", &video_env)?;

    // 1 minute at 25 fps, every frame kept (one segment): several heartbeats of extraction.
    let mut spec = ClipSpec::three_scenes();
    spec.segments = [[200, 40, 40], [40, 200, 40]].into_iter().map(|color| Segment { color, frames: 750 }).collect();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("long.mp4");
    write_clip(&path, &spec)?;
    let area = unique_id("video");
    let clip = ObjectRef::new(buckets::INPUTS, format!("hosts/{area}/long.mp4"))?;
    hosts.storage.put_file(&clip, &path, "video/mp4").await?;
    let out_prefix = format!("hosts/{area}/long/");
    let output: PrefixRef = format!("s3://{}/hosts/{area}/long", buckets::OUTPUTS).parse()?;
    let mut request = VideoRequest::new(clip.clone(), output, Sampling::EveryNthFrame(1));
    request.frames.format = contracts::video::FrameFormat::Png;
    request.frames.max_frames = 5_000;
    request.frames.max_width = 64;
    request.process.thumb_width = 32;
    request.activities.extract.heartbeat_ms = 1_000;
    request.activities.extract.retry = RetrySettings { initial_interval_ms: 300, maximum_interval_ms: 1_000, ..RetrySettings::default() };
    let workflow_id = unique_id("video-cut");
    hosts.client.start_workflow(VideoPipeline, request, WorkflowStartOptions::new(hosts.queue(Queue::Video), workflow_id.clone()).build()).await?;

    // Strike as soon as the server holds heartbeat details recording uploaded frames.
    let checkpointed = wait_for_segment_checkpoint(&hosts, &workflow_id).await?;
    hosts.net.cut(&w1)?;
    let frames_prefix = format!("{out_prefix}frames/");
    let uploaded_at_cut = hosts.storage.list(buckets::OUTPUTS, &frames_prefix).await?.len();
    assert!(uploaded_at_cut < spec.frame_count() as usize, "the extraction was still going when w1 was cut off");
    hosts.spawn(&w2, Queue::Video, "video-2", &video_env)?;
    eprintln!("cut w1 off after {:?}: {checkpointed} frames checkpointed, {uploaded_at_cut} uploaded", started.elapsed());

    let outcome = result_of::<VideoPipeline>(&hosts, &workflow_id).await?;
    eprintln!("finished after {:?}", started.elapsed());
    let extraction = &outcome.extraction;
    assert_eq!(extraction.frames as u64, spec.frame_count(), "{extraction:?}");
    assert!(extraction.attempt >= 2, "the cut-off attempt was retried: {extraction:?}");
    assert!(
        extraction.resumed_from as usize >= checkpointed,
        "resumed from at least the {checkpointed} frames checkpointed before the cut: {extraction:?}"
    );
    assert_eq!(
        extraction.resumed_from + extraction.extracted_this_attempt,
        extraction.frames,
        "the new attempt extracted only the rest: {extraction:?}"
    );
    assert!(hosts.worker_log("video-2").contains("resuming the segment from its last piece"), "{}", hosts.worker_log("video-2"));
    let manifest: FrameManifest = serde_json::from_slice(&hosts.storage.get(&extraction.manifest).await?)?;
    assert_eq!(manifest.frames.iter().map(|f| f.index).collect::<Vec<_>>(), (0..extraction.frames).collect::<Vec<_>>());
    assert!(manifest.frames.windows(2).all(|w| w[1].frame_number == w[0].frame_number + 1), "no frame lost or repeated at the seam");
    let expected: BTreeSet<String> = manifest.frames.iter().map(|f| f.object.key().to_owned()).collect();
    assert_eq!(keys_under(&hosts, buckets::OUTPUTS, &frames_prefix).await?, expected);
    assert_eq!(outcome.scene_cuts.len(), 1, "{:?}", outcome.scene_cuts);
    let events = history::events(&hosts.client, &workflow_id, None).await?;
    let extract = history::activities(&events).into_iter().find(|a| a.activity_type == "ExtractSegment").expect("ExtractSegment");
    assert_eq!(extract.retried_after.as_ref().and_then(|f| f.error_type.as_deref()), Some("Timeout"), "{extract:?}");

    // The late copy: heal w1. video-1 was cut off mid-upload; what it still had in flight, and
    // whatever it goes on extracting until it learns its attempt is gone, lands after video-2's
    // writes under the same deterministic keys.
    let before = snapshot(&hosts, buckets::OUTPUTS, &out_prefix).await?;
    let healed_at = std::time::SystemTime::now();
    hosts.net.heal(&w1)?;
    // Then stop video-1 gracefully and wait for it to exit: whatever it still writes has landed.
    // (Its log is not a reliable signal while it runs: it was seen empty mid-run.)
    let late_copy = hosts.workers.remove("video-1").expect("video-1");
    late_copy.stop(Duration::from_secs(30)).await;
    let after = snapshot(&hosts, buckets::OUTPUTS, &out_prefix).await?;
    let late = written_since(&hosts, buckets::OUTPUTS, &out_prefix, healed_at);
    let changed: Vec<&String> = after.keys().filter(|k| before.get(*k) != after.get(*k)).collect();
    let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    eprintln!("late writes after the heal: {late:?}");
    assert!(added.is_empty(), "the late copy added {added:?}");
    // Frames, thumbnails, the manifest, the segment pieces (each covers a fixed stretch of the
    // video) and every other result: same bytes, same ETags.
    assert!(changed.is_empty(), "the late copy changed {changed:?}");
    assert!(hosts.workers.get_mut("video-2").is_some_and(|w| w.try_exit_status().is_none()), "video-2 still running");
    println!(
        "RESILIENCE host-cut-video: {} frames, {} checkpointed before the cut, resumed from {} on w2, {} extracted again; late writes after the heal {} (all identical in bytes and ETag), outputs lost 0; {:?}",
        extraction.frames,
        checkpointed,
        extraction.resumed_from,
        extraction.extracted_this_attempt,
        late.len(),
        started.elapsed()
    );
    hosts.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. A worker host cut off from S3 only.

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow: hosts as network namespaces (root) and a fleet of worker processes; scripts/test.sh runs it"]
async fn a_worker_host_cut_off_from_s3_fails_its_tiles_as_retryable_storage_errors_and_they_complete() -> anyhow::Result<()> {
    let _fleet_lock = one_fleet_at_a_time().await;
    let started = Instant::now();
    let (mut hosts, area, images, (clean_id, clean)) = Hosts::automation_after_a_clean_batch("s3cut").await?;

    // w1 loses S3 before the batch starts (its connections from the clean run reset too), so
    // every tile processor-1 takes fails on its first download; its server link stays up, so
    // it reports each failure at once.
    let victim_identity = hosts.identity("processor-1");
    hosts.net.refuse(&hosts.w1, hosts.s3_addr)?;
    let refused_at = Instant::now();
    let faulted_id = unique_id("s3cut");
    start_batch(&hosts, &faulted_id, &images).await?;
    let (image_id, failed) = wait_for_pending_tiles(&hosts, &faulted_id, &images, "failed by processor-1", |a| {
        a.last_failure.is_some() && a.last_worker_identity.starts_with(&victim_identity)
    })
    .await?;
    // What the server recorded of that attempt: a retryable storage error naming the object
    // and the refused connection, not a timeout (of the S3 client's 120 s attempt, or of the
    // heartbeat).
    let attempt = &failed[0];
    let cause = history::summarize(attempt.last_failure.as_ref().expect("filtered on a failure"));
    assert_eq!(cause.error_type.as_deref(), Some(contracts::errors::TRANSIENT), "{attempt:?}");
    assert!(!cause.non_retryable && cause.message.starts_with("storage: s3://"), "{cause:?}");
    assert!(!cause.message.to_lowercase().contains("timeout"), "{cause:?}");
    let reason = cause.message.rsplit(": ").next().unwrap_or_default().to_owned();
    let first_failure = refused_at.elapsed();
    eprintln!(
        "processor-1's attempt {} of tile activity {} of {image_id} failed {:?} after the route went: {}",
        attempt.attempt - 1,
        attempt.activity_id,
        first_failure,
        cause.message
    );
    // Leave the route away a few retry intervals longer (retries back off 0.3 s to 2 s), so
    // further attempts meet w1 failing and w2 succeeding, then give it back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    hosts.net.unrefuse(&hosts.w1, hosts.s3_addr)?;
    let outage = refused_at.elapsed();

    finish_like_the_clean_batch(&hosts, &faulted_id, &area, &images, (&clean_id, &clean)).await?;
    let late = LateWrites::snapshot(&hosts).await?;

    // Only w1 failed anything, and only on storage: each tile retried after a Transient failure
    // that names storage (no heartbeat timeout: the host was never cut off from the server).
    let redone = redone_tiles(&hosts, &faulted_id, &images).await?;
    assert!(!redone.is_empty(), "no tile activity was retried");
    for tile in &redone {
        let cause = tile.retried_after.as_ref().expect("a retried attempt records why the previous one failed");
        assert_eq!(cause.error_type.as_deref(), Some(contracts::errors::TRANSIENT), "{tile:?}");
        assert!(cause.message.contains("storage"), "{tile:?}");
    }
    let on_w1 = redone.iter().filter(|t| t.identity.starts_with(&victim_identity)).count();
    hosts.assert_all_running();
    let late = late.after_workers_stop(&mut hosts).await?;
    assert!(late.is_empty(), "objects written after the batch finished: {late:?}");
    println!(
        "RESILIENCE host-s3-refused: w1 cut off from S3 for {outage:.1?} (server link up); its tile attempts failed at once as retryable storage errors (the first {first_failure:.1?} after the route went, batch start included: {reason}); {} tile activities redone ({on_w1} completed on w1 after the route returned, {} on w2); late writes 0; outputs lost 0; {:?}",
        redone.len(),
        redone.len() - on_w1,
        started.elapsed()
    );
    hosts.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 4. The server host restarted while a worker host is cut off.

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow: hosts as network namespaces (root) and a fleet of worker processes; scripts/test.sh runs it"]
async fn the_server_restarted_while_a_worker_host_is_cut_off_and_every_worker_reconnects_by_itself() -> anyhow::Result<()> {
    let _fleet_lock = one_fleet_at_a_time().await;
    let started = Instant::now();
    let (mut hosts, area, images, (clean_id, clean)) = Hosts::automation_after_a_clean_batch("restart").await?;

    // Mid-batch, with processor-1 holding a tile: cut w1, restart the dev server on its
    // database, and only then heal w1. w1's workers keep the old server's connections
    // (nothing tells them it went away) and must find the new one by themselves.
    let faulted_id = unique_id("restart");
    start_batch(&hosts, &faulted_id, &images).await?;
    let held = wait_until_holding_tiles(&hosts, "processor-1", &faulted_id, &images).await?;
    hosts.net.cut(&hosts.w1)?;
    let cut_at = Instant::now();
    let stopped_at = hosts.restart_server().await?;
    let down = stopped_at.elapsed().unwrap_or_default();
    hosts.net.heal(&hosts.w1)?;
    let cut_for = cut_at.elapsed();
    eprintln!("w1 cut off for {cut_for:?} holding {:?} of {}; the dev server restarted in {down:?}", held.1, held.0);

    // Every worker, both hosts, polls the restarted server again, and the batch completes.
    let (polling, finished) =
        tokio::join!(wait_until_all_poll(&hosts, stopped_at), finish_like_the_clean_batch(&hosts, &faulted_id, &area, &images, (&clean_id, &clean)));
    let polling = polling?;
    finished?;
    eprintln!("first polls after the restart began: {polling:?}");
    let late = LateWrites::snapshot(&hosts).await?;
    let redone = redone_tiles(&hosts, &faulted_id, &images).await?;
    hosts.assert_all_running();
    let late = late.after_workers_stop(&mut hosts).await?;
    assert!(late.is_empty(), "objects written after the batch finished: {late:?}");
    let w1_back = polling["processor-1"].saturating_sub(down);
    println!(
        "RESILIENCE host-server-restart: w1 cut off {cut_for:.1?} holding {} tile activities while the dev server restarted on its database ({down:.1?}); all {} workers polled the new server by themselves (w1's {w1_back:.1?} after the heal), none exited; {} tile activities redone; late writes 0; outputs lost 0; {:?}",
        held.1.len(),
        polling.len(),
        redone.len(),
        started.elapsed()
    );
    hosts.stop().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 5. A worker host shut down gracefully mid-batch.

/// What a SIGTERM to a processor holding tiles came to.
struct Shutdown {
    /// Tile activities it held when signalled.
    held: usize,
    /// From the signal to the process's exit.
    exited_after: Duration,
    /// Tile activities of the batch it completed itself (within the grace period).
    finished: usize,
    /// Tile activities it failed back at the end of the grace period (`WorkerShutdown`), then
    /// completed on w2.
    handed_back: usize,
}

/// Runs a batch, SIGTERMs processor `worker` (on w1) once it holds a started tile activity and
/// checks that it exits by itself with success within the grace period plus a margin, that the
/// batch completes with the clean run's reports, and that each held activity either finished
/// on `worker` or was handed back and completed elsewhere.
async fn sigterm_mid_batch(
    hosts: &mut Hosts,
    worker: &str,
    area: &str,
    images: &[ImageInput],
    clean: (&str, &AutomationSummary),
) -> anyhow::Result<Shutdown> {
    let batch_id = unique_id("sigterm");
    start_batch(hosts, &batch_id, images).await?;
    let victim_identity = hosts.identity(worker);
    let (image_id, held) = wait_until_holding_tiles(hosts, worker, &batch_id, images).await?;
    let mut victim = hosts.workers.remove(worker).expect("a running worker");
    let terminated_at = Instant::now();
    victim.terminate()?;
    // The bootstrap stops polling, gives in-flight activities the grace period, then has the
    // SDK cancel what is left (reported as a retryable `WorkerShutdown` failure) and returns.
    let status = victim.wait(SHUTDOWN_GRACE + Duration::from_secs(5)).await;
    let exited_after = terminated_at.elapsed();
    let Some(status) = status else {
        anyhow::bail!("{worker} still running {exited_after:?} after SIGTERM (grace {SHUTDOWN_GRACE:?}):\n{}", hosts.worker_log(worker))
    };
    assert!(status.success(), "{worker} exited with {status} after SIGTERM:\n{}", hosts.worker_log(worker));
    eprintln!("{worker} exited ({status}) {exited_after:?} after SIGTERM, holding {held:?} of {image_id}");

    finish_like_the_clean_batch(hosts, &batch_id, area, images, clean).await?;
    let redone = redone_tiles(hosts, &batch_id, images).await?;
    let shut_down = |a: &ActivityRecord| a.retried_after.as_ref().is_some_and(|f| f.error_type.as_deref() == Some("WorkerShutdown"));
    let activities = batch_activities(hosts, &batch_id, images).await?;
    let finished = activities.iter().filter(|(_, a)| a.activity_type == "MeasureTiles" && a.identity.starts_with(&victim_identity)).count();
    let handed_back = redone.iter().filter(|a| shut_down(a)).count();
    let records = activities_by_id(hosts, &image_id).await?;
    for id in &held {
        let record = &records[id];
        let handed = shut_down(record) && !record.identity.starts_with(&victim_identity);
        assert!(record.identity.starts_with(&victim_identity) || handed, "{id} neither finished by {worker} nor handed back: {record:?}");
    }
    Ok(Shutdown { held: held.len(), exited_after, finished, handed_back })
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow: hosts as network namespaces (root) and a fleet of worker processes; scripts/test.sh runs it"]
async fn a_worker_host_shut_down_gracefully_mid_batch_finishes_or_hands_back_its_tiles() -> anyhow::Result<()> {
    let _fleet_lock = one_fleet_at_a_time().await;
    let started = Instant::now();
    let (mut hosts, area, images, (clean_id, clean)) = Hosts::automation_after_a_clean_batch("sigterm").await?;

    // w1's only process is its processor: the host going down. First as it comes: its tiles
    // take a fraction of a second, so what it holds finishes within the grace period.
    let quick = sigterm_mid_batch(&mut hosts, "processor-1", &area, &images, (&clean_id, &clean)).await?;
    assert!(quick.finished >= 1, "processor-1 finished none of the tiles it held within the grace period");

    // Then with w1's S3 packets lost: a new processor's downloads stall (past the grace period:
    // the S3 client gives a connect 5 s), so what it holds is handed back when the grace ends.
    let w1 = hosts.w1.clone();
    hosts.spawn(&w1, Queue::AccuracyProcessor, "processor-3", &[("ACCURACY_PROCESSOR_MAX_CONCURRENT_ACTIVITIES", "2")])?;
    hosts.net.block(&w1, hosts.s3_addr)?;
    let stalled = sigterm_mid_batch(&mut hosts, "processor-3", &area, &images, (&clean_id, &clean)).await;
    hosts.net.unblock(&w1, hosts.s3_addr)?;
    let stalled = stalled?;
    assert_eq!(stalled.finished, 0, "a processor cut off from S3 finished a tile");
    assert!(stalled.handed_back >= stalled.held, "held {} tile activities, handed back {}", stalled.held, stalled.handed_back);
    assert!(
        stalled.exited_after >= SHUTDOWN_GRACE.saturating_sub(Duration::from_millis(500)),
        "exited before the grace period ended: {:?}",
        stalled.exited_after
    );

    let late = LateWrites::snapshot(&hosts).await?;
    hosts.assert_all_running();
    let late = late.after_workers_stop(&mut hosts).await?;
    assert!(late.is_empty(), "objects written after the batches finished: {late:?}");
    println!(
        "RESILIENCE host-sigterm: w1's processor SIGTERMed mid-batch, twice: holding {} tile activities it exited 0 after {:.1?}, {} finished within the grace period, {} handed back; holding {} whose downloads stall (w1's S3 packets lost) it exited 0 after {:.1?} (grace {SHUTDOWN_GRACE:?}), {} finished, {} handed back as WorkerShutdown failures and redone on w2; late writes 0; outputs lost 0; {:?}",
        quick.held,
        quick.exited_after,
        quick.finished,
        quick.handed_back,
        stalled.held,
        stalled.exited_after,
        stalled.finished,
        stalled.handed_back,
        started.elapsed()
    );
    hosts.stop().await;
    Ok(())
}
