//! The embedded stack as `starter up` runs it: dev server, S3 endpoint and the seven real worker
//! binaries as processes (scaled), each polling its queue; a taken port is a clear error.

use contracts::automation::{AccuracyRequest, AccuracyThresholds, AnalyzeAccuracy, AutomationActivities};
use contracts::{ObjectRef, Queue, buckets};
use devstack::{Stack, StackConfig, StackError, ports};
use fleet::FleetConfig;
use fleet::config::Env;
use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use temporalio_client::{WorkflowGetResultOptions, WorkflowStartOptions};

/// Identities polling `task_queue` (workflow or activity pollers), as the server reports them.
fn pollers(address: &str, task_queue: &str) -> BTreeSet<String> {
    let cli = devstack::find_temporal_executable().expect("temporal CLI");
    let mut identities = BTreeSet::new();
    for kind in ["workflow", "activity"] {
        let out = std::process::Command::new(&cli)
            .args(["task-queue", "describe", "-o", "json", "--address", address, "--task-queue", task_queue, "--task-queue-type", kind])
            .output()
            .expect("temporal task-queue describe");
        let text = String::from_utf8_lossy(&out.stdout);
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        collect_identities(&json, &mut identities);
    }
    identities
}

fn collect_identities(value: &serde_json::Value, into: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if k == "identity" {
                    if let Some(s) = v.as_str() {
                        into.insert(s.to_owned());
                    }
                } else {
                    collect_identities(v, into);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_identities(v, into)),
        _ => {}
    }
}

fn stack_config(dir: &std::path::Path) -> anyhow::Result<StackConfig> {
    Ok(StackConfig {
        data_dir: dir.to_owned(),
        temporal_port: ports::free_port()?,
        ui_port: None,
        s3_port: ports::free_port()?,
        namespace: "default".into(),
        s3_access_key: "stack-test".into(),
        s3_secret_key: "stack-test-secret".into(),
        scale: BTreeMap::from([(Queue::AccuracyProcessor, 2)]),
        start_workers: true,
        // Two slots each, so neither processor can take all 16 tiles of an image at once.
        worker_env: vec![("LOG_LEVEL".into(), "info".into()), ("ACCURACY_PROCESSOR_MAX_CONCURRENT_ACTIVITIES".into(), "2".into())],
        metrics_base_port: None,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn seven_worker_binaries_poll_their_queues() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = stack_config(dir.path())?;
    let mut stack = Stack::start(&config).await?;
    assert_eq!(stack.workers.len(), 8, "seven workers, the processor twice");

    let address = stack.temporal.address();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut missing: Vec<Queue> = Queue::ALL.to_vec();
    let mut processor_identities = BTreeSet::new();
    while Instant::now() < deadline {
        let exited = stack.exited_workers();
        assert!(exited.is_empty(), "workers exited: {exited:?}; logs in {}", stack.log_dir.display());
        missing.retain(|q| pollers(&address, q.base_name()).is_empty());
        processor_identities = pollers(&address, Queue::AccuracyProcessor.base_name());
        if missing.is_empty() && processor_identities.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(missing.is_empty(), "no poller on {missing:?}");
    assert!(processor_identities.len() >= 2, "two processor processes poll: {processor_identities:?}");

    // Objects written through the endpoint land in its directory: the buckets exist.
    for bucket in devstack::BUCKETS {
        assert!(dir.path().join("s3").join(bucket).is_dir(), "{bucket}");
    }

    // The scaled processors share the tiles of one image: the report names both processes.
    let vars: HashMap<String, String> =
        stack.worker_env(&config).into_iter().chain([("TEMPORAL_CONFIG_FILE".to_owned(), "/nonexistent/temporal.toml".to_owned())]).collect();
    let fleet_config = FleetConfig::from_env(&Env::from_map(vars))?;
    let storage = fleet::Storage::new(&fleet_config.s3);
    let client = fleet::temporal::connect(&fleet_config).await?;
    let image = ObjectRef::new(buckets::INPUTS, "stack/sharp.jpg")?;
    storage.put(&image, samples::navad::sharp_jpeg(1024, 768)?, "image/jpeg").await?;
    let request = AccuracyRequest {
        image,
        output_bucket: buckets::OUTPUTS.to_owned(),
        output_prefix: "stack/sharp".to_owned(),
        tile_columns: 4,
        tile_rows: 4,
        thresholds: AccuracyThresholds::default(),
        activities: AutomationActivities::default(),
    };
    let outcome = client
        .start_workflow(AnalyzeAccuracy, request, WorkflowStartOptions::new(Queue::AccuracyDispatcher.base_name(), "stack-accuracy").build())
        .await?
        .get_result(WorkflowGetResultOptions::default())
        .await?;
    assert!(outcome.passed, "{outcome:?}");
    assert_eq!(outcome.processors.len(), 2, "tiles spread over both processor processes: {:?}", outcome.processors);
    stack.stop(Duration::from_secs(10)).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_taken_port_is_a_clear_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = stack_config(dir.path())?;
    config.start_workers = false;
    let holder = std::net::TcpListener::bind("127.0.0.1:0")?;
    config.s3_port = holder.local_addr()?.port();
    let err = match Stack::start(&config).await {
        Ok(_) => panic!("a taken port must fail"),
        Err(e) => e,
    };
    assert!(matches!(err, StackError::PortTaken { port, setting: "S3_PORT", .. } if port == config.s3_port), "{err}");
    assert!(err.to_string().contains(&config.s3_port.to_string()));
    Ok(())
}
