//! Worker versioning on a real dev server, through the fleet's own configuration
//! (`WORKER_DEPLOYMENT_NAME`, `WORKER_BUILD_ID`) and its per-worker default behaviours: two
//! builds of a probe workflow (build A returns "A", build B returns "B") run on the ingestion
//! queue (pinned by default) and the orchestrator queue (auto-upgrade by default). Build A is made
//! current, probes start and block on a signal, build B starts and is made current, then:
//! - the pinned probe started on A finishes on A (its every workflow task completed by A);
//! - a probe started after the switch runs on B;
//! - the auto-upgrade probe started on A moves to B at its next workflow task.

use anyhow::Context;
use contracts::Queue;
use fleet::config::Env;
use fleet::{FleetConfig, RunningWorker, Services};
use std::time::{Duration, Instant};
use temporalio_client::{Client, WorkflowDescribeOptions, WorkflowGetResultOptions, WorkflowHandle, WorkflowSignalOptions, WorkflowStartOptions};
use temporalio_common::protos::temporal::api::enums::v1::VersioningBehavior;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_common::protos::temporal::api::workflowservice::v1::SetWorkerDeploymentCurrentVersionRequest;
use temporalio_sdk::WorkerOptions;
use testkit::{TestStack, history, unique_id};

const DEPLOYMENT: &str = "media-fleet";

contracts::workflow_contract!(
    /// Blocks until released, then returns the build that ran its last workflow task.
    Probe = "VersionProbe", () => String
);
contracts::signal_contract!(
    /// Lets a probe finish.
    Release = "release" on Probe, ()
);

/// The probe as build A and build B ship it: the same type name, different code.
macro_rules! probe_build {
    ($module:ident, $answer:literal) => {
        mod $module {
            use temporalio_macros::{workflow, workflow_methods};
            use temporalio_sdk::{SyncWorkflowContext, WorkflowContext, WorkflowResult};

            #[workflow]
            #[derive(Default)]
            pub struct ProbeWorkflow {
                released: bool,
            }

            #[workflow_methods]
            impl ProbeWorkflow {
                #[run(name = super::Probe::NAME)]
                pub async fn run(ctx: &mut WorkflowContext<Self>, _input: ()) -> WorkflowResult<String> {
                    ctx.wait_condition(|s| s.released).await?;
                    Ok($answer.to_owned())
                }

                #[signal(name = "release")]
                pub fn release(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _input: ()) {
                    self.released = true;
                }
            }
        }
    };
}
probe_build!(build_a, "A");
probe_build!(build_b, "B");

fn register_a(options: &mut WorkerOptions, _services: &Services) -> anyhow::Result<()> {
    options.register_workflow::<build_a::ProbeWorkflow>()?;
    Ok(())
}

fn register_b(options: &mut WorkerOptions, _services: &Services) -> anyhow::Result<()> {
    options.register_workflow::<build_b::ProbeWorkflow>()?;
    Ok(())
}

/// The stack's configuration as a worker of `build_id` reads it.
fn build_config(stack: &TestStack, build_id: &str) -> anyhow::Result<FleetConfig> {
    let mut vars = stack.vars.clone();
    vars.insert("WORKER_BUILD_ID".to_owned(), build_id.to_owned());
    Ok(FleetConfig::from_env(&Env::from_map(vars))?)
}

/// Workers of one build on the pinned (ingestion) and auto-upgrade (orchestrator) queues.
fn start_build(stack: &TestStack, build_id: &str, register: fleet::Register) -> anyhow::Result<Vec<RunningWorker>> {
    let config = build_config(stack, build_id)?;
    [Queue::Ingestion, Queue::Orchestrator].into_iter().map(|queue| fleet::start_worker(config.clone(), queue, register)).collect()
}

/// Makes `build_id` the current version of the deployment, retrying while the server has not
/// registered the version's pollers on every task queue yet.
async fn set_current(client: &Client, build_id: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let request = SetWorkerDeploymentCurrentVersionRequest {
            namespace: client.options().namespace.clone(),
            deployment_name: DEPLOYMENT.to_owned(),
            build_id: build_id.to_owned(),
            identity: "versioning-test".to_owned(),
            ..Default::default()
        };
        match client.connection().workflow_service().set_worker_deployment_current_version(temporalio_client::tonic::Request::new(request)).await {
            Ok(_) => return Ok(()),
            Err(status) if Instant::now() < deadline => {
                eprintln!("set current version {build_id}: {} (retrying)", status.message());
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(status) => anyhow::bail!("could not make {build_id} current: {status}"),
        }
    }
}

async fn start_probe(stack: &TestStack, queue: Queue, id: &str) -> anyhow::Result<WorkflowHandle<Client, Probe>> {
    let options = WorkflowStartOptions::new(stack.queue(queue), unique_id(id)).build();
    Ok(stack.client.start_workflow(Probe, (), options).await?)
}

/// Waits until the probe's first workflow task has completed, and returns the behaviour and the
/// build the server recorded for it.
async fn versioning_of(handle: &WorkflowHandle<Client, Probe>) -> anyhow::Result<(VersioningBehavior, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let description = handle.describe(WorkflowDescribeOptions::default()).await?;
        let info = description.raw().workflow_execution_info.as_ref().and_then(|i| i.versioning_info.as_ref());
        if let Some(info) = info
            && info.behavior() != VersioningBehavior::Unspecified
        {
            let build = info.deployment_version.as_ref().map(|v| v.build_id.clone()).unwrap_or_default();
            return Ok((info.behavior(), build));
        }
        anyhow::ensure!(Instant::now() < deadline, "no versioning info on {} after 30 s: {info:?}", handle.info().workflow_id);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `(build id, behaviour)` of every completed workflow task of a finished probe.
async fn completed_tasks(stack: &TestStack, handle: &WorkflowHandle<Client, Probe>) -> anyhow::Result<Vec<(String, VersioningBehavior)>> {
    let events = history::events(&stack.client, &handle.info().workflow_id, None).await?;
    Ok(events
        .iter()
        .filter_map(|e| match &e.attributes {
            Some(Attributes::WorkflowTaskCompletedEventAttributes(a)) => {
                Some((a.deployment_version.as_ref().map(|v| v.build_id.clone()).unwrap_or_default(), a.versioning_behavior()))
            }
            _ => None,
        })
        .collect())
}

async fn release_and_wait(handle: &WorkflowHandle<Client, Probe>) -> anyhow::Result<String> {
    handle.signal(Release, (), WorkflowSignalOptions::default()).await?;
    let result = tokio::time::timeout(Duration::from_secs(30), handle.get_result(WorkflowGetResultOptions::default()))
        .await
        .with_context(|| format!("{} not finished 30 s after its release", handle.info().workflow_id))??;
    Ok(result)
}

#[tokio::test(flavor = "multi_thread")]
async fn pinned_workflows_finish_on_their_build_while_new_ones_go_to_the_current_one() -> anyhow::Result<()> {
    let stack = TestStack::start_in("default", &[("WORKER_DEPLOYMENT_NAME", DEPLOYMENT)]).await?;
    // Build A carries the binary's own build id (`<version>+<commit>` from a checkout): the
    // server takes it as it is.
    let build_a = fleet::versioning::default_build_id();
    let _build_a = start_build(&stack, &build_a, register_a)?;
    set_current(&stack.client, &build_a).await?;

    let pinned = start_probe(&stack, Queue::Ingestion, "pinned-on-a").await?;
    let upgrading = start_probe(&stack, Queue::Orchestrator, "auto-upgrade-from-a").await?;
    assert_eq!(versioning_of(&pinned).await?, (VersioningBehavior::Pinned, build_a.clone()));
    assert_eq!(versioning_of(&upgrading).await?, (VersioningBehavior::AutoUpgrade, build_a.clone()));

    let _build_b = start_build(&stack, "build-b", register_b)?;
    set_current(&stack.client, "build-b").await?;
    let after_switch = start_probe(&stack, Queue::Ingestion, "pinned-on-b").await?;
    assert_eq!(versioning_of(&after_switch).await?, (VersioningBehavior::Pinned, "build-b".to_owned()));

    // Build A's worker is still up, and the pinned probe's last task goes to it, not to the current build.
    assert_eq!(release_and_wait(&pinned).await?, "A", "the pinned probe finished on build A's code");
    assert_eq!(release_and_wait(&after_switch).await?, "B");
    assert_eq!(release_and_wait(&upgrading).await?, "B", "the auto-upgrade probe moved to build B's code");

    let tasks = completed_tasks(&stack, &pinned).await?;
    assert!(tasks.len() >= 2, "{tasks:?}");
    assert!(tasks.iter().all(|t| *t == (build_a.clone(), VersioningBehavior::Pinned)), "pinned probe's tasks: {tasks:?}");
    let tasks = completed_tasks(&stack, &after_switch).await?;
    assert!(tasks.iter().all(|t| *t == ("build-b".to_owned(), VersioningBehavior::Pinned)), "new probe's tasks: {tasks:?}");
    let tasks = completed_tasks(&stack, &upgrading).await?;
    assert_eq!(tasks.first(), Some(&(build_a.clone(), VersioningBehavior::AutoUpgrade)), "{tasks:?}");
    assert_eq!(tasks.last(), Some(&("build-b".to_owned(), VersioningBehavior::AutoUpgrade)), "{tasks:?}");
    Ok(())
}

/// Without `WORKER_DEPLOYMENT_NAME` a worker stays unversioned (existing setups unchanged) and
/// still reports its build id, the one the fleet's binaries share.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_deployment_name_workers_stay_unversioned() -> anyhow::Result<()> {
    let stack = TestStack::start().await?;
    let _worker = fleet::start_worker(stack.config.clone(), Queue::Ingestion, register_a)?;
    let probe = start_probe(&stack, Queue::Ingestion, "unversioned").await?;
    assert_eq!(release_and_wait(&probe).await?, "A");
    let description = probe.describe(WorkflowDescribeOptions::default()).await?;
    let info = description.raw().workflow_execution_info.as_ref().and_then(|i| i.versioning_info.as_ref());
    assert!(info.is_none_or(|i| i.behavior() == VersioningBehavior::Unspecified), "{info:?}");
    Ok(())
}
