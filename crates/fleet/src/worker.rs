//! The worker bootstrap every binary shares: load the configuration, set up logging, connect to
//! Temporal with retry, register the worker's workflows and activities on its queue, poll until
//! SIGINT/SIGTERM, then shut down gracefully (in-flight activities get
//! `WORKER_SHUTDOWN_GRACE_SECS` before they are cancelled).

use crate::config::{Env, FleetConfig, TunerKind, WorkerTuning};
use crate::kit::Scratch;
use crate::{storage::Storage, telemetry, temporal};
use anyhow::Context;
use contracts::Queue;
use std::process::ExitCode;
use std::sync::Arc;
use temporalio_client::Client;
use temporalio_common::telemetry::metrics::CoreMeter;
use temporalio_common::telemetry::{PrometheusExporterOptions, TelemetryOptions, start_prometheus_metric_exporter};
use temporalio_sdk::runtime::worker_tuner::{
    FixedSizeSlotSupplier, ResourceBasedSlotOptions, ResourceBasedTuner, ResourceBasedTunerOptions, TunerHolder, WorkerTuner,
};
use temporalio_sdk::runtime::{AutoscalingOptions, PollerBehavior, RuntimeOptions};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

/// What a worker's registration function gets to build its activities with.
#[derive(Clone, Debug)]
pub struct Services {
    /// The configuration of this process.
    pub config: FleetConfig,
    /// Object storage client.
    pub storage: Storage,
    /// Where the worker's activities keep their temporary files.
    pub scratch: Scratch,
}

impl Services {
    /// The services of a worker on `queue`: storage, and its scratch root opened and swept.
    pub fn new(config: FleetConfig, queue: Queue) -> Result<Self, crate::ConfigError> {
        let scratch = scratch_for(queue, config.env())?;
        Ok(Self { storage: Storage::new(&config.s3), config, scratch })
    }
}

/// The scratch root of a worker: `<WORKER>_SCRATCH_DIR`, else `SCRATCH_DIR/<worker>`, else
/// `$TMPDIR/fleet-scratch/<worker>`. One root per worker type, so a sweep at start only meets
/// directories of its own kind.
pub fn scratch_for(queue: Queue, env: &Env) -> Result<Scratch, crate::ConfigError> {
    let own = format!("{}_SCRATCH_DIR", worker_var_prefix(queue));
    let (var, root) = match (env.get(&own), env.get("SCRATCH_DIR")) {
        (Some(dir), _) => (own, std::path::PathBuf::from(dir)),
        (None, Some(dir)) => ("SCRATCH_DIR".to_owned(), std::path::Path::new(dir).join(queue.base_name())),
        (None, None) => ("SCRATCH_DIR".to_owned(), std::env::temp_dir().join("fleet-scratch").join(queue.base_name())),
    };
    Scratch::open(root.clone()).map_err(|e| crate::ConfigError::Invalid { var, reason: format!("cannot create {}: {e}", root.display()) })
}

/// `ACCURACY_PROCESSOR` for the accuracy-processor worker: the prefix of its own variables.
pub(crate) fn worker_var_prefix(queue: Queue) -> String {
    queue.base_name().to_ascii_uppercase().replace('-', "_")
}

/// The registration function of a worker: adds its workflows and activities to the options.
pub type Register = fn(&mut WorkerOptions, &Services) -> anyhow::Result<()>;

/// The whole `main` of a worker binary: runs the worker on `queue` and turns a start-up error
/// into a clear message and a non-zero exit code.
pub fn worker_main(queue: Queue, register: Register) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", queue.worker_binary());
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run_worker(queue, register));
    // The worker has stopped and its grace period is over: work still on the blocking pool (a
    // decode, a measure) belongs to attempts already handed back, so it must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: {e:#}", queue.worker_binary());
            ExitCode::FAILURE
        }
    }
}

/// Runs a worker on `queue` with the process configuration until SIGINT or SIGTERM.
pub async fn run_worker(queue: Queue, register: Register) -> anyhow::Result<()> {
    let config = FleetConfig::load().context("configuration")?;
    telemetry::init(&config.log);
    let per_worker = tuning_for(queue, &Env::load()?, &config.tuning)?;
    let client = temporal::connect(&config).await?;
    let (runtime, _metrics) = sdk_runtime(queue, &per_worker)?;
    let services = Services::new(config, queue)?;
    let mut worker = build_worker(&runtime, client, queue, &services, &per_worker, register)?;

    let shutdown = worker.shutdown_handle();
    tokio::spawn(async move {
        wait_for_stop_signal().await;
        tracing::info!("stop requested: finishing in-flight work");
        shutdown();
    });
    tracing::info!(
        task_queue = %worker.task_queue(),
        namespace = %services.config.temporal.namespace,
        address = %services.config.temporal.address,
        "worker polling"
    );
    worker.run().await.context("worker stopped with an error")?;
    tracing::info!("worker stopped");
    Ok(())
}

/// Keeps the Prometheus endpoint served for as long as it lives.
pub struct MetricsEndpoint {
    /// Where `/metrics` is served.
    pub addr: std::net::SocketAddr,
    abort: tokio::task::AbortHandle,
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

/// The SDK runtime, exporting the SDK's metrics (task counters, latencies, slots) on
/// `METRICS_PORT` when set, labelled with the worker's name.
fn sdk_runtime(queue: Queue, tuning: &WorkerTuning) -> anyhow::Result<(Runtime, Option<MetricsEndpoint>)> {
    let Some(port) = tuning.metrics_port else {
        return Ok((Runtime::from_current_tokio(RuntimeOptions::default())?, None));
    };
    let exporter = PrometheusExporterOptions::builder()
        .socket_addr(std::net::SocketAddr::from(([0, 0, 0, 0], port)))
        .global_tags([("worker".to_owned(), queue.base_name().to_owned())].into())
        .counters_total_suffix(true)
        .build();
    let started = start_prometheus_metric_exporter(exporter).with_context(|| format!("serving metrics on port {port} (METRICS_PORT)"))?;
    let telemetry = TelemetryOptions::builder().metrics(started.meter as Arc<dyn CoreMeter>).build();
    let options = RuntimeOptions::builder().telemetry_options(telemetry).build().map_err(|e| anyhow::anyhow!("runtime options: {e}"))?;
    tracing::info!(addr = %started.bound_addr, "serving Prometheus metrics on /metrics");
    let endpoint = MetricsEndpoint { addr: started.bound_addr, abort: started.abort_handle };
    Ok((Runtime::from_current_tokio(options)?, Some(endpoint)))
}

fn build_worker(
    runtime: &Runtime,
    client: Client,
    queue: Queue,
    services: &Services,
    tuning: &WorkerTuning,
    register: Register,
) -> anyhow::Result<Worker> {
    let task_queue = services.config.queue(queue);
    let version = services.config.versioning.for_worker(queue, services.config.env())?;
    let mut options = WorkerOptions::new(task_queue.clone())
        .deployment_options(version.sdk_options())
        .maybe_max_worker_activities_per_second(tuning.activities_per_second)
        .max_cached_workflows(tuning.sticky_cache_size.unwrap_or(1000))
        .graceful_shutdown_period(tuning.shutdown_grace)
        .tuner(sdk_tuner(tuning))
        .maybe_workflow_task_poller_behavior(poller_behavior(tuning))
        .maybe_activity_task_poller_behavior(poller_behavior(tuning))
        .build();
    tracing::info!(
        tuner = %tuning.tuner,
        pollers = ?poller_behavior(tuning),
        version = %version,
        "worker tuning and version"
    );
    if tuning.tuner == TunerKind::ResourceBased && (tuning.max_concurrent_activities.is_some() || tuning.max_concurrent_workflow_tasks.is_some()) {
        tracing::warn!("MAX_CONCURRENT_* are ignored by WORKER_TUNER=resource-based: use TUNER_*_SLOTS_MAX to cap its slots");
    }
    register(&mut options, services).with_context(|| format!("registering the {queue} worker"))?;
    // The first step of the workflows clients start (crate::requests); cheap to have everywhere.
    options.register_activities(crate::requests::RequestResolvers);
    Worker::new(runtime, client, options).with_context(|| format!("creating the worker on task queue {task_queue}"))
}

/// The SDK tuner of `tuning`: fixed slot counts, or slots handed out while the host's CPU and
/// memory stay under their targets (local-activity and Nexus slots keep the SDK's defaults).
fn sdk_tuner(tuning: &WorkerTuning) -> WorkerTuner {
    match tuning.tuner {
        TunerKind::ResourceBased => {
            let (cpu, memory) = tuning.resource_targets();
            let slots = |(min, max): (usize, usize)| ResourceBasedSlotOptions::builder().minimum_slots(min).maximum_slots(max).build();
            ResourceBasedTuner::builder()
                .tuner_options(ResourceBasedTunerOptions::builder().target_cpu_usage(cpu).target_memory_usage(memory).build())
                .workflow_task_slot_options(slots(tuning.workflow_slots()))
                .activity_task_slot_options(slots(tuning.activity_slots()))
                .build()
                .into()
        }
        TunerKind::Fixed => TunerHolder::builder()
            .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(tuning.max_concurrent_workflow_tasks.unwrap_or(100)))
            .activity_task_slot_supplier(FixedSizeSlotSupplier::new(tuning.max_concurrent_activities.unwrap_or(100)))
            .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(100))
            .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(10))
            .build()
            .into(),
    }
}

/// Workflow and activity pollers: `None` leaves the SDK's own choice (5 polls, enrolled in
/// autoscaling when the namespace advertises it).
fn poller_behavior(tuning: &WorkerTuning) -> Option<PollerBehavior> {
    tuning.poller_autoscaling.map(|on| {
        if on {
            let (minimum, maximum, initial) = tuning.pollers();
            PollerBehavior::Autoscaling(AutoscalingOptions::builder().minimum(minimum).maximum(maximum).initial(initial).build())
        } else {
            PollerBehavior::SimpleMaximum(5)
        }
    })
}

/// Global tuning overridden by `<WORKER>_<SETTING>` (e.g. `ACCURACY_PROCESSOR_MAX_CONCURRENT_ACTIVITIES`,
/// `ACCURACY_PROCESSOR_WORKER_TUNER`).
pub fn tuning_for(queue: Queue, env: &Env, global: &WorkerTuning) -> Result<WorkerTuning, crate::ConfigError> {
    let mut tuning = global.overridden(&worker_var_prefix(queue), env)?;
    // A video activity decodes a whole segment flat out: unless told otherwise, a video worker
    // takes one per core, not the fleet's default 100 (which would decode a long video's every
    // segment at once, each with its frames in memory).
    if queue == Queue::Video && tuning.max_concurrent_activities.is_none() {
        tuning.max_concurrent_activities = Some(std::thread::available_parallelism().map_or(1, usize::from));
    }
    Ok(tuning)
}

async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A worker running on its own thread inside this process (tests and the benchmark harness).
/// `Worker::run` is not `Send`, so it gets a thread and a runtime of its own.
pub struct RunningWorker {
    shutdown: Box<dyn Fn() + Send>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    /// The full task-queue name it polls.
    pub task_queue: String,
}

impl RunningWorker {
    /// Asks the worker to stop and waits for it to finish.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> anyhow::Result<()> {
        (self.shutdown)();
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| anyhow::anyhow!("worker thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningWorker {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

/// Starts a worker for `queue` with an explicit configuration on a background thread and returns
/// once it is registered with the server.
pub fn start_worker(config: FleetConfig, queue: Queue, register: Register) -> anyhow::Result<RunningWorker> {
    let tuning = config.tuning.clone();
    start_worker_tuned(config, queue, register, tuning)
}

/// [`start_worker`] with explicit tuning.
pub fn start_worker_tuned(config: FleetConfig, queue: Queue, register: Register, tuning: WorkerTuning) -> anyhow::Result<RunningWorker> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<Box<dyn Fn() + Send>>>();
    let task_queue = config.queue(queue);
    let thread = std::thread::Builder::new().name(format!("{queue}-worker")).spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        rt.block_on(async move {
            telemetry::init(&config.log);
            let setup = async {
                let client = temporal::connect(&config).await?;
                let (runtime, metrics) = sdk_runtime(queue, &tuning)?;
                let services = Services::new(config.clone(), queue)?;
                let worker = build_worker(&runtime, client, queue, &services, &tuning, register)?;
                anyhow::Ok((runtime, metrics, worker))
            };
            match setup.await {
                Ok((_runtime, _metrics, mut worker)) => {
                    let _ = ready_tx.send(Ok(Box::new(worker.shutdown_handle())));
                    worker.run().await?;
                    Ok(())
                }
                Err(e) => {
                    let message = format!("{e:#}");
                    let _ = ready_tx.send(Err(e));
                    Err(anyhow::anyhow!(message))
                }
            }
        })
    })?;
    let shutdown = ready_rx.recv().map_err(|_| anyhow::anyhow!("worker thread exited before starting"))??;
    Ok(RunningWorker { shutdown, thread: Some(thread), task_queue })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env;

    fn tuning(queue: Queue, pairs: &[(&str, &str)]) -> Result<WorkerTuning, crate::ConfigError> {
        let env = env(pairs);
        tuning_for(queue, &env, &FleetConfig::from_env(&env)?.tuning)
    }

    #[test]
    fn defaults_keep_fixed_slots_and_the_sdk_pollers() {
        let t = tuning(Queue::Ingestion, &[]).unwrap();
        assert_eq!(t.tuner, TunerKind::Fixed);
        assert!(matches!(sdk_tuner(&t), WorkerTuner::TunerHolder(_)));
        assert_eq!(poller_behavior(&t), None);
    }

    #[test]
    fn one_worker_switches_to_resource_based_and_autoscaling_pollers() {
        let vars = [
            ("TUNER_TARGET_CPU", "0.7"),
            ("ACCURACY_PROCESSOR_WORKER_TUNER", "resource-based"),
            ("ACCURACY_PROCESSOR_TUNER_TARGET_MEMORY", "0.6"),
            ("ACCURACY_PROCESSOR_TUNER_ACTIVITY_SLOTS_MAX", "8"),
            ("ACCURACY_PROCESSOR_POLLER_AUTOSCALING", "true"),
            ("ACCURACY_PROCESSOR_POLLERS_MAX", "20"),
        ];
        let own = tuning(Queue::AccuracyProcessor, &vars).unwrap();
        assert_eq!(own.tuner, TunerKind::ResourceBased);
        assert_eq!(own.resource_targets(), (0.7, 0.6));
        assert_eq!(own.activity_slots(), (1, 8));
        assert_eq!(own.workflow_slots(), (2, 10_000));
        let WorkerTuner::ResourceBased(sdk) = sdk_tuner(&own) else { panic!("resource-based tuner expected") };
        assert_eq!(sdk.tuner_options.target_cpu_usage, 0.7);
        assert_eq!(sdk.tuner_options.target_memory_usage, 0.6);
        assert_eq!(sdk.activity_task_slot_options.and_then(|o| o.maximum_slots), Some(8));
        let Some(PollerBehavior::Autoscaling(pollers)) = poller_behavior(&own) else { panic!("autoscaling pollers expected") };
        assert_eq!((pollers.minimum, pollers.maximum, pollers.initial), (1, 20, 5));

        // The other workers keep the global settings.
        let other = tuning(Queue::Video, &vars).unwrap();
        assert_eq!(other.tuner, TunerKind::Fixed);
        assert_eq!(poller_behavior(&other), None);
    }

    #[test]
    fn a_video_worker_takes_one_segment_per_core_unless_told() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(tuning(Queue::Video, &[]).unwrap().max_concurrent_activities, Some(cores));
        assert_eq!(tuning(Queue::Ingestion, &[]).unwrap().max_concurrent_activities, None);
        assert_eq!(tuning(Queue::Video, &[("VIDEO_MAX_CONCURRENT_ACTIVITIES", "7")]).unwrap().max_concurrent_activities, Some(7));
        assert_eq!(tuning(Queue::Video, &[("MAX_CONCURRENT_ACTIVITIES", "9")]).unwrap().max_concurrent_activities, Some(9));
    }

    #[test]
    fn pollers_off_pins_the_simple_maximum_and_initial_follows_the_range() {
        let off = tuning(Queue::Video, &[("POLLER_AUTOSCALING", "false")]).unwrap();
        assert_eq!(poller_behavior(&off), Some(PollerBehavior::SimpleMaximum(5)));
        let small = tuning(Queue::Video, &[("POLLER_AUTOSCALING", "on"), ("POLLERS_MAX", "3")]).unwrap();
        assert_eq!(small.pollers(), (1, 3, 3));
        let big = tuning(Queue::Video, &[("POLLER_AUTOSCALING", "on"), ("POLLERS_MIN", "200")]).unwrap();
        assert_eq!(big.pollers(), (200, 200, 200));
    }

    #[test]
    fn bad_tuning_names_the_variable() {
        for (pairs, var, reason) in [
            (&[("WORKER_TUNER", "auto")][..], "WORKER_TUNER", "'fixed' or 'resource-based'"),
            (&[("VIDEO_WORKER_TUNER", "elastic")][..], "VIDEO_WORKER_TUNER", "\"elastic\""),
            (&[("TUNER_TARGET_CPU", "1.5")][..], "TUNER_TARGET_CPU", "1.5"),
            (&[("VIDEO_TUNER_TARGET_MEMORY", "0")][..], "VIDEO_TUNER_TARGET_MEMORY", "fraction"),
            (&[("TUNER_TARGET_CPU", "high")][..], "TUNER_TARGET_CPU", "\"high\""),
            (&[("POLLER_AUTOSCALING", "sometimes")][..], "POLLER_AUTOSCALING", "not a boolean"),
            (&[("POLLERS_MIN", "0")][..], "POLLERS_MIN", "at least 1"),
            (&[("POLLERS_MIN", "10"), ("POLLERS_MAX", "4")][..], "POLLERS_MIN", "above maximum 4 (POLLERS_MAX)"),
            (&[("POLLERS_MIN", "10"), ("VIDEO_POLLERS_MAX", "4")][..], "POLLERS_MIN", "(VIDEO_POLLERS_MAX)"),
            (&[("POLLERS_INITIAL", "500")][..], "POLLERS_INITIAL", "between the minimum 1"),
            (&[("TUNER_ACTIVITY_SLOTS_MIN", "50"), ("TUNER_ACTIVITY_SLOTS_MAX", "10")][..], "TUNER_ACTIVITY_SLOTS_MIN", "minimum 50"),
            (&[("VIDEO_TUNER_WORKFLOW_SLOTS_MAX", "1")][..], "VIDEO_TUNER_WORKFLOW_SLOTS_MAX", "minimum 2"),
            (&[("TUNER_WORKFLOW_SLOTS_MIN", "0")][..], "TUNER_WORKFLOW_SLOTS_MIN", "at least 1"),
            (&[("TUNER_ACTIVITY_SLOTS_MAX", "-1")][..], "TUNER_ACTIVITY_SLOTS_MAX", "\"-1\""),
        ] {
            let err = tuning(Queue::Video, pairs).unwrap_err().to_string();
            assert!(err.contains(var) && err.contains(reason), "{pairs:?}: expected {var} and {reason:?} in {err}");
        }
    }
}
