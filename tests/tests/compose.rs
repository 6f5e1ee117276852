//! docker-compose.yml and the Dockerfile checked against the workspace (no Docker engine runs
//! here): every worker binary has a scalable service, every variable the services read is in
//! .env.example, and the image builds the binaries the services run.

use contracts::Queue;
use serde_yaml::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_owned()
}

fn compose() -> Value {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).expect("docker-compose.yml");
    let mut value: Value = serde_yaml::from_str(&text).expect("docker-compose.yml parses");
    value.apply_merge().expect("merge keys resolve");
    value
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"].get(name).unwrap_or_else(|| panic!("service {name} missing"))
}

fn documented_variables() -> Vec<String> {
    let text = std::fs::read_to_string(root().join(".env.example")).expect(".env.example");
    text.lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .collect()
}

#[test]
fn every_worker_has_a_scalable_service() {
    let compose = compose();
    for queue in Queue::ALL {
        let svc = service(&compose, queue.base_name());
        assert_eq!(svc["image"].as_str(), Some("media-fleet:latest"), "{queue}");
        assert_eq!(svc["command"][0].as_str(), Some(queue.worker_binary().as_str()), "{queue} runs its binary");
        assert!(svc.get("container_name").is_none(), "{queue}: a fixed container name prevents --scale");
        assert!(svc.get("ports").is_none(), "{queue}: a host port prevents --scale");
        assert!(svc.get("restart").is_some(), "{queue}: restart policy");
        assert!(svc.get("healthcheck").is_some(), "{queue}: healthcheck");
        assert_eq!(svc["environment"]["TEMPORAL_ADDRESS"].as_str(), Some("temporal:7233"), "{queue}");
        assert_eq!(svc["environment"]["S3_ENDPOINT"].as_str(), Some("http://minio:9000"), "{queue}");
    }
}

#[test]
fn dependencies_name_existing_services() {
    let compose = compose();
    let services = compose["services"].as_mapping().expect("services");
    for (name, svc) in services {
        if let Some(deps) = svc.get("depends_on").and_then(Value::as_mapping) {
            for dep in deps.keys() {
                assert!(services.contains_key(dep), "{name:?} depends on unknown service {dep:?}");
            }
        }
    }
    for infra in ["temporal", "temporal-ui", "postgresql", "minio", "minio-setup", "temporal-setup"] {
        service(&compose, infra);
    }
    // The setup job registers exactly the search attributes the pipelines upsert.
    let setup = serde_yaml::to_string(&service(&compose, "temporal-setup")["command"]).unwrap();
    for (name, _) in contracts::search::ALL {
        assert!(setup.contains(name), "temporal-setup must register {name}");
    }
    let buckets = serde_yaml::to_string(&service(&compose, "minio-setup")["command"]).unwrap();
    for bucket in devstack::BUCKETS {
        assert!(buckets.contains(bucket), "minio-setup must create {bucket}");
    }
}

#[test]
fn every_variable_the_services_read_is_documented() {
    let documented = documented_variables();
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    // `${VAR}` / `${VAR:-default}` interpolations.
    let mut read: Vec<String> =
        text.split("${").skip(1).filter_map(|rest| rest.split(|c| c == '}' || c == ':' || c == '-').next()).map(str::to_owned).collect();
    // Variables set for the workers.
    let compose = compose();
    for queue in Queue::ALL {
        if let Some(env) = service(&compose, queue.base_name())["environment"].as_mapping() {
            read.extend(env.keys().filter_map(Value::as_str).map(str::to_owned));
        }
    }
    read.sort();
    read.dedup();
    let undocumented: Vec<_> = read.iter().filter(|v| !documented.contains(v)).collect();
    assert!(undocumented.is_empty(), "not in .env.example: {undocumented:?}");
}

#[test]
fn the_image_builds_the_binaries_the_services_run() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    assert!(dockerfile.contains("cargo build --release --locked --bins"), "the build stage builds every binary");
    assert!(dockerfile.contains("cp target/release/*-worker target/release/starter /out/"));
    for lib in ["libavcodec59", "libavformat59", "libavutil57", "libswscale6"] {
        assert!(dockerfile.contains(lib), "runtime image needs {lib} (ffmpeg-next links it)");
    }
    assert!(dockerfile.matches("FROM ").count() >= 2, "multi-stage build");
    // Each worker crate really produces `<name>-worker`, which the `*-worker` copy picks up.
    for queue in Queue::ALL {
        let manifest = std::fs::read_to_string(root().join("workers").join(queue.base_name()).join("Cargo.toml")).unwrap();
        let manifest: toml::Table = manifest.parse().expect("worker Cargo.toml parses");
        let bins: Vec<&str> = manifest["bin"].as_array().into_iter().flatten().filter_map(|b| b["name"].as_str()).collect();
        assert!(bins.contains(&queue.worker_binary().as_str()), "{queue}: bin {} not declared", queue.worker_binary());
    }
    let starter = std::fs::read_to_string(root().join("starter/Cargo.toml")).unwrap();
    assert!(starter.contains("name = \"starter\""));
}
