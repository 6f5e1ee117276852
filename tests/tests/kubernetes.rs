//! deploy/k8s/fleet.yaml checked against the workspace (no cluster here): every document parses
//! with a known kind and apiVersion, each worker has a Deployment running its binary with probes
//! on the metrics port and a termination grace above WORKER_SHUTDOWN_GRACE_SECS, and each
//! CPU-bound queue has a KEDA ScaledObject (temporal scaler) targeting its Deployment and queue.
//! And every document validates against the Kubernetes v1.30 (strict) and KEDA ScaledObject
//! schemas vendored in deploy/k8s/schemas, with the pinned `jsonschema` validator
//! (deploy/k8s/schemas/validate.py; scripts/test.sh installs its requirements): no network.

use contracts::Queue;
use serde::Deserialize;
use serde_yaml::Value;
use std::path::Path;

fn documents() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("deploy/k8s/fleet.yaml");
    let text = std::fs::read_to_string(&path).expect("deploy/k8s/fleet.yaml");
    serde_yaml::Deserializer::from_str(&text).map(|d| Value::deserialize(d).expect("document parses")).collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter().find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
}

#[test]
fn manifests_match_the_workspace() {
    let docs = documents();
    for doc in &docs {
        let expected = match doc["kind"].as_str() {
            Some("ConfigMap") => "v1",
            Some("Deployment") => "apps/v1",
            Some("ScaledObject") => "keda.sh/v1alpha1",
            other => panic!("unexpected kind {other:?}"),
        };
        assert_eq!(doc["apiVersion"].as_str(), Some(expected), "{:?}", doc["metadata"]["name"]);
    }
    let settings = find(&docs, "ConfigMap", "fleet-settings").expect("ConfigMap fleet-settings");
    let port = settings["data"]["METRICS_PORT"].as_str().expect("METRICS_PORT").parse::<u64>().unwrap();
    let grace = settings["data"]["WORKER_SHUTDOWN_GRACE_SECS"].as_str().expect("WORKER_SHUTDOWN_GRACE_SECS").parse::<u64>().unwrap();
    for queue in Queue::ALL {
        let name = queue.base_name();
        let dep = find(&docs, "Deployment", name).unwrap_or_else(|| panic!("Deployment {name}"));
        let spec = &dep["spec"]["template"]["spec"];
        let labels = &dep["spec"]["template"]["metadata"]["labels"];
        for (k, v) in dep["spec"]["selector"]["matchLabels"].as_mapping().expect("selector") {
            assert_eq!(labels.get(k), Some(v), "{name}: selector does not match the pod labels");
        }
        assert!(spec["terminationGracePeriodSeconds"].as_u64().expect("terminationGracePeriodSeconds") > grace, "{name}");
        let container = &spec["containers"][0];
        assert_eq!(container["command"][0].as_str(), Some(queue.worker_binary().as_str()), "{name} runs its binary");
        let env_from = serde_yaml::to_string(&container["envFrom"]).unwrap();
        assert!(env_from.contains("fleet-settings") && env_from.contains("secretRef"), "{name}: ConfigMap and Secret wiring");
        let metrics = container["ports"].as_sequence().unwrap().iter().find(|p| p["name"].as_str() == Some("metrics")).expect("metrics port");
        assert_eq!(metrics["containerPort"].as_u64(), Some(port), "{name}: metrics port is METRICS_PORT");
        for probe in ["readinessProbe", "livenessProbe"] {
            assert_eq!(container[probe]["httpGet"]["port"].as_str(), Some("metrics"), "{name}: {probe}");
            assert_eq!(container[probe]["httpGet"]["path"].as_str(), Some("/metrics"), "{name}: {probe}");
        }
    }
    let scaled: Vec<&Value> = docs.iter().filter(|d| d["kind"].as_str() == Some("ScaledObject")).collect();
    for queue in Queue::ALL.into_iter().filter(|q| ["accuracy-processor", "enhancement", "video"].contains(&q.base_name())) {
        assert!(scaled.iter().any(|s| s["metadata"]["name"].as_str() == Some(queue.base_name())), "ScaledObject for {queue}");
    }
    for so in scaled {
        let target = so["spec"]["scaleTargetRef"]["name"].as_str().expect("scaleTargetRef.name");
        assert!(find(&docs, "Deployment", target).is_some(), "ScaledObject targets unknown Deployment {target}");
        let trigger = &so["spec"]["triggers"][0];
        assert_eq!(trigger["type"].as_str(), Some("temporal"));
        let meta = &trigger["metadata"];
        assert_eq!(meta["taskQueue"].as_str(), Some(target), "{target}: the queue its Deployment polls (no TASK_QUEUE_PREFIX)");
        assert!(meta["targetQueueSize"].as_str().is_some_and(|s| s.parse::<u64>().is_ok()), "{target}: targetQueueSize");
        let types = meta["queueTypes"].as_str().expect("queueTypes set explicitly");
        assert!(types.split(',').all(|t| ["workflow", "activity", "nexus"].contains(&t)), "{target}: queueTypes {types}");
        assert_eq!(meta["namespace"].as_str(), settings["data"]["TEMPORAL_NAMESPACE"].as_str());
        assert_eq!(meta["endpoint"].as_str(), settings["data"]["TEMPORAL_ADDRESS"].as_str());
    }
}

/// Runs the vendored-schema validator on `manifest`: (success, everything it printed).
fn validate(manifest: &Path) -> (bool, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let output = std::process::Command::new("python3")
        .arg(root.join("deploy/k8s/schemas/validate.py"))
        .arg(manifest)
        .output()
        .expect("python3 runs (scripts/setup.sh installs it with the validator's requirements)");
    (output.status.success(), format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

#[test]
fn manifests_validate_against_the_kubernetes_and_keda_schemas() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("deploy/k8s/fleet.yaml");
    let (ok, report) = validate(&manifest);
    assert!(ok, "deploy/k8s/fleet.yaml does not validate:\n{report}");
}

/// The validator is not a rubber stamp: a typo'd field, a wrong type, a trigger without its type
/// and a kind without a vendored schema each fail, naming the document and the path.
#[test]
fn the_schema_validator_rejects_broken_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("broken.yaml");
    std::fs::write(
        &manifest,
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: video}
spec:
  replicas: two
  selector: {matchLabels: {app: video}}
  template:
    metadata: {labels: {app: video}}
    spec:
      terminationGracePeriodSecond: 45
      containers: [{name: worker, image: media-fleet:latest}]
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: video}
spec:
  scaleTargetRef: {name: video}
  triggers:
    - metadata: {taskQueue: video, targetQueueSize: 4}
---
apiVersion: batch/v1
kind: Job
metadata: {name: setup}
"#,
    )
    .unwrap();
    let (ok, report) = validate(&manifest);
    assert!(!ok, "a broken manifest validated:\n{report}");
    for expected in [
        "(Deployment video): spec/replicas: 'two' is not of type 'integer'",
        "'terminationGracePeriodSecond' was unexpected",
        "(ScaledObject video): spec/triggers/0: 'type' is a required property",
        "spec/triggers/0/metadata/targetQueueSize: 4 is not of type 'string'",
        "no vendored schema for apiVersion 'batch/v1' kind 'Job'",
    ] {
        assert!(report.contains(expected), "{expected:?} missing from:\n{report}");
    }
}
