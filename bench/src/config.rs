//! Configuration of the harness's clients and of its Rust orchestration worker.

use anyhow::Context as _;
use fleet::FleetConfig;
use fleet::config::Env;
use std::collections::HashMap;

/// Configuration of a client (or worker) of the server at `address`, with `extra` settings
/// (S3 endpoint and keys). A `temporal.toml` of the user is never read: the file named is one
/// that does not exist.
pub fn fleet_config(address: &str, namespace: &str, extra: &[(&str, String)]) -> anyhow::Result<FleetConfig> {
    let mut vars: HashMap<String, String> = [
        ("TEMPORAL_ADDRESS", address.to_owned()),
        ("TEMPORAL_NAMESPACE", namespace.to_owned()),
        ("TEMPORAL_CONFIG_FILE", std::env::temp_dir().join("bench-no-temporal.toml").display().to_string()),
        ("TEMPORAL_CONNECT_TIMEOUT_SECS", "30".to_owned()),
        ("LOG_LEVEL", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    FleetConfig::from_env(&Env::from_map(vars)).context("benchmark client configuration")
}
