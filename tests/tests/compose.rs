//! docker-compose.yml and the Dockerfile checked against the workspace (no Docker engine runs
//! here): every worker binary has a scalable service, the Temporal services follow the
//! reference layout (temporalio/server + admin-tools jobs, no deprecated auto-setup), every image
//! is pinned through .env.example, every service starts after what it needs, every variable the
//! services read is in .env.example, and the image builds the binaries the services run.

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

/// `depends_on` of a service as (dependency, condition).
fn depends_on(svc: &Value) -> Vec<(String, String)> {
    let Some(deps) = svc.get("depends_on") else { return Vec::new() };
    if let Some(list) = deps.as_sequence() {
        return list.iter().filter_map(Value::as_str).map(|d| (d.to_owned(), "service_started".to_owned())).collect();
    }
    deps.as_mapping()
        .expect("depends_on is a list or a mapping")
        .iter()
        .map(|(k, v)| {
            let cond = v.get("condition").and_then(Value::as_str).unwrap_or("service_started");
            (k.as_str().expect("service name").to_owned(), cond.to_owned())
        })
        .collect()
}

fn condition<'a>(deps: &'a [(String, String)], name: &str) -> Option<&'a str> {
    deps.iter().find(|(d, _)| d == name).map(|(_, c)| c.as_str())
}

/// The variable a `${VAR}`, `${VAR:-default}` or `${VAR:?message}` names.
fn interpolated(text: &str) -> Vec<String> {
    text.split("${").skip(1).filter_map(|rest| rest.split(['}', ':', '-', '?']).next()).map(str::to_owned).collect()
}

/// `.env.example`'s value of an uncommented `VAR=value` line.
fn example_value(var: &str) -> Option<String> {
    let text = std::fs::read_to_string(root().join(".env.example")).expect(".env.example");
    text.lines().find_map(|l| l.strip_prefix(var).and_then(|r| r.strip_prefix('=')).map(|v| v.trim().to_owned()))
}

/// The file a one-shot job runs: its command's script, mounted from the tree.
fn mounted_script(svc: &Value, name: &str) -> String {
    let command = svc["command"][0].as_str().unwrap_or_else(|| panic!("{name}: command"));
    let volumes = svc["volumes"].as_sequence().unwrap_or_else(|| panic!("{name}: volumes"));
    let host = volumes
        .iter()
        .filter_map(Value::as_str)
        .find_map(|v| {
            let mut parts = v.split(':');
            let (host, container) = (parts.next()?, parts.next()?);
            (container == command).then(|| host.to_owned())
        })
        .unwrap_or_else(|| panic!("{name}: {command} is not mounted"));
    std::fs::read_to_string(root().join(&host)).unwrap_or_else(|e| panic!("{name}: {host}: {e}"))
}

#[test]
fn dependencies_name_existing_services() {
    let compose = compose();
    let services = compose["services"].as_mapping().expect("services");
    for (name, svc) in services {
        for (dep, cond) in depends_on(svc) {
            assert!(services.contains_key(dep.as_str()), "{name:?} depends on unknown service {dep:?}");
            assert!(
                ["service_started", "service_healthy", "service_completed_successfully"].contains(&cond.as_str()),
                "{name:?} -> {dep}: unknown condition {cond}"
            );
            if cond == "service_healthy" {
                assert!(service(&compose, &dep).get("healthcheck").is_some(), "{name:?} waits for {dep} to be healthy, which has no healthcheck");
            }
        }
    }
    for infra in ["temporal", "temporal-ui", "postgresql", "temporal-schema", "temporal-setup", "minio", "minio-setup"] {
        service(&compose, infra);
    }
    // Every service starts after what it depends on: the graph has a topological order.
    let names: Vec<String> = services.keys().filter_map(Value::as_str).map(str::to_owned).collect();
    let mut started: Vec<String> = Vec::new();
    while started.len() < names.len() {
        let ready: Vec<String> = names
            .iter()
            .filter(|n| !started.contains(n))
            .filter(|n| depends_on(service(&compose, n)).iter().all(|(d, _)| started.contains(d)))
            .cloned()
            .collect();
        assert!(!ready.is_empty(), "dependency cycle among {:?}", names.iter().filter(|n| !started.contains(n)).collect::<Vec<_>>());
        started.extend(ready);
    }
    // Temporal's reference order: Postgres healthy -> schema job done -> server healthy ->
    // namespace and search attributes job done -> workers.
    let needs = |svc: &str, dep: &str, conds: &[&str]| {
        let deps = depends_on(service(&compose, svc));
        let cond = condition(&deps, dep).unwrap_or_else(|| panic!("{svc} must depend on {dep}"));
        assert!(conds.contains(&cond), "{svc} -> {dep}: {cond}, expected one of {conds:?}");
    };
    needs("temporal-schema", "postgresql", &["service_healthy"]);
    needs("temporal", "temporal-schema", &["service_completed_successfully"]);
    needs("temporal-setup", "temporal", &["service_healthy"]);
    needs("temporal-ui", "temporal", &["service_healthy", "service_started"]);
    needs("minio-setup", "minio", &["service_healthy"]);
    for queue in Queue::ALL {
        let worker = queue.base_name();
        needs(worker, "temporal", &["service_healthy", "service_started"]);
        needs(worker, "temporal-setup", &["service_completed_successfully"]);
        needs(worker, "minio", &["service_healthy", "service_started"]);
        needs(worker, "minio-setup", &["service_completed_successfully"]);
    }
}

#[test]
fn the_setup_jobs_create_what_the_fleet_uses() {
    let compose = compose();
    // Schema: both databases created, set up and migrated with the server's own tool.
    let schema = mounted_script(service(&compose, "temporal-schema"), "temporal-schema");
    for db in ["temporal", "temporal_visibility"] {
        for step in ["create", "setup-schema", "update-schema"] {
            assert!(schema.lines().any(|l| l.contains(&format!("--db {db} {step}"))), "temporal-schema must run `{step}` on {db}");
        }
    }
    assert!(schema.contains("temporal-sql-tool --plugin postgres12"));
    // Namespace and search attributes: exactly the attributes the pipelines upsert, with their types.
    let setup = service(&compose, "temporal-setup");
    let script = mounted_script(setup, "temporal-setup");
    assert!(script.contains("operator namespace create"), "temporal-setup creates the namespace");
    assert!(script.contains("operator search-attribute create") && script.contains("${SEARCH_ATTRIBUTES}"));
    assert_eq!(setup["environment"]["TEMPORAL_ADDRESS"].as_str(), Some("temporal:7233"));
    let attributes: Vec<&str> = setup["environment"]["SEARCH_ATTRIBUTES"].as_str().expect("SEARCH_ATTRIBUTES").split_whitespace().collect();
    let expected: Vec<String> = contracts::search::ALL.iter().map(|(name, ty)| format!("{name}={ty}")).collect();
    assert_eq!(attributes, expected, "temporal-setup must register contracts::search::ALL");
    // The workers and the setup job agree on the namespace.
    let worker_ns = service(&compose, "orchestrator")["environment"]["TEMPORAL_NAMESPACE"].as_str().map(str::to_owned);
    assert_eq!(setup["environment"]["TEMPORAL_NAMESPACE"].as_str().map(str::to_owned), worker_ns);
    let buckets = serde_yaml::to_string(&service(&compose, "minio-setup")["command"]).unwrap();
    for bucket in devstack::BUCKETS {
        assert!(buckets.contains(bucket), "minio-setup must create {bucket}");
    }
}

#[test]
fn temporal_runs_the_current_images_pinned_in_env_example() {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    assert!(!text.contains("auto-setup"), "temporalio/auto-setup is deprecated: use temporalio/server + admin-tools");
    let compose = compose();
    let expected = [
        ("temporal", "temporalio/server"),
        ("temporal-schema", "temporalio/admin-tools"),
        ("temporal-setup", "temporalio/admin-tools"),
        ("temporal-ui", "temporalio/ui"),
        ("postgresql", "postgres"),
        ("minio", "minio/minio"),
        ("minio-setup", "minio/mc"),
    ];
    for (svc, repo) in expected {
        let image = service(&compose, svc)["image"].as_str().unwrap_or_else(|| panic!("{svc}: image"));
        assert_eq!(image.split_once(':').map(|(r, _)| r), Some(repo), "{svc}: {image}");
    }
    for (name, svc) in compose["services"].as_mapping().unwrap() {
        let Some(image) = svc.get("image").and_then(Value::as_str) else { continue };
        if image.starts_with("media-fleet:") {
            continue; // built from the Dockerfile
        }
        let (_, tag) = image.split_once(':').unwrap_or_else(|| panic!("{name:?}: {image} has no tag"));
        let vars = interpolated(tag);
        assert_eq!(vars.len(), 1, "{name:?}: the tag of {image} must be one ${{VAR}}");
        assert!(tag.starts_with("${") && tag.ends_with('}'), "{name:?}: {image}");
        let value = example_value(&vars[0]).unwrap_or_else(|| panic!("{name:?}: {} is not set in .env.example", vars[0]));
        assert!(!value.is_empty() && value != "latest", "{name:?}: {}={value:?} is not a pinned version", vars[0]);
    }
    // The schema the admin tools install is the one the server expects.
    assert_eq!(example_value("TEMPORAL_VERSION"), example_value("TEMPORAL_ADMINTOOLS_VERSION"));
    // The server reads its persistence from the environment (embedded config template).
    let server = service(&compose, "temporal");
    for var in ["DB", "DB_PORT", "POSTGRES_USER", "POSTGRES_PWD", "POSTGRES_SEEDS", "BIND_ON_IP", "DYNAMIC_CONFIG_FILE_PATH"] {
        assert!(server["environment"].get(var).is_some(), "temporal: {var} unset");
    }
    let dynamic = server["environment"]["DYNAMIC_CONFIG_FILE_PATH"].as_str().unwrap();
    let file = dynamic.rsplit('/').next().unwrap();
    assert!(root().join("deploy/compose/dynamicconfig").join(file).is_file(), "dynamic config {file} missing");
}

#[test]
fn every_setting_a_worker_needs_in_a_container_is_set() {
    // Variables the fleet's configuration and the workers read (string literals in their code).
    let mut sources = String::new();
    let mut dirs = vec![root().join("crates/fleet/src")];
    dirs.extend(Queue::ALL.iter().map(|q| root().join("workers").join(q.base_name()).join("src")));
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    // Their defaults point at this machine, which inside a container is the container itself.
    for default in [fleet::config::DEFAULT_TEMPORAL_ADDRESS, fleet::config::DEFAULT_S3_ENDPOINT] {
        assert!(default.contains("localhost") || default.contains("127.0.0.1"), "{default}: revisit this check");
    }
    let compose = compose();
    let grace: u64 = example_value("WORKER_SHUTDOWN_GRACE_SECS").and_then(|v| v.parse().ok()).unwrap_or(30);
    for queue in Queue::ALL {
        let svc = service(&compose, queue.base_name());
        let env = svc["environment"].as_mapping().unwrap_or_else(|| panic!("{queue}: environment"));
        for key in env.keys().filter_map(Value::as_str) {
            assert!(sources.contains(&format!("\"{key}\"")), "{queue}: sets {key}, which no worker reads");
        }
        for required in [
            "TEMPORAL_ADDRESS",
            "TEMPORAL_NAMESPACE",
            "S3_ENDPOINT",
            "S3_FORCE_PATH_STYLE",
            "AWS_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "METRICS_PORT",
        ] {
            let value = svc["environment"].get(required).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            assert!(!value.is_empty(), "{queue}: {required} must be set");
            assert!(!value.contains("localhost") && !value.contains("127.0.0.1"), "{queue}: {required}={value} points at the container itself");
        }
        // The healthcheck probes the metrics port the worker serves.
        let port = svc["environment"]["METRICS_PORT"].as_str().unwrap();
        let probe = serde_yaml::to_string(&svc["healthcheck"]["test"]).unwrap();
        assert!(probe.contains(&format!("/{port}")), "{queue}: healthcheck does not probe METRICS_PORT {port}");
        // Docker's SIGKILL comes after in-flight activities had their grace.
        let stop: u64 =
            svc["stop_grace_period"].as_str().and_then(|s| s.strip_suffix('s')).and_then(|s| s.parse().ok()).expect("stop_grace_period in seconds");
        assert!(stop > grace, "{queue}: stop_grace_period {stop}s must exceed WORKER_SHUTDOWN_GRACE_SECS {grace}");
    }
}

#[test]
fn every_variable_the_services_read_is_documented() {
    let documented = documented_variables();
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    // `${VAR}` / `${VAR:-default}` interpolations.
    let mut read = interpolated(&text);
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
    for lib in ["libgdal-dev", "libgdal32", "proj-data"] {
        assert!(dockerfile.contains(lib), "the image needs {lib} (the gdal crate links GDAL, which needs PROJ's data)");
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
