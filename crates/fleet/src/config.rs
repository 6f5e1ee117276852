//! Configuration from the process environment, a `.env` file in the working directory, and the
//! Temporal envconfig profiles (`temporal.toml`, `TEMPORAL_PROFILE`, `TEMPORAL_CONFIG_FILE`).
//! Every setting has a default listed in `.env.example`; a bad value is an error at start that
//! names the variable.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;
use temporalio_client::{ClientOptions, ConnectionOptions};
use temporalio_common::envconfig::{LoadClientConfigProfileOptions, load_client_config_profile};

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable holds a value that does not parse or is out of range.
    #[error("invalid value for {var}: {reason}")]
    Invalid {
        /// The variable's name.
        var: String,
        /// What is wrong (the value itself is included unless the variable is a secret).
        reason: String,
    },
    /// The `.env` file could not be parsed.
    #[error("cannot read .env: {0}")]
    DotEnv(String),
    /// The Temporal envconfig (env vars `TEMPORAL_*` or `temporal.toml`) is invalid.
    #[error("invalid Temporal client configuration (TEMPORAL_* variables or temporal.toml): {0}")]
    Temporal(String),
}

/// A value that must never reach a log line: its `Debug` and `Display` print `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value, for the one place that needs it (a client constructor).
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// True when no value was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

/// Where and how to reach Temporal.
#[derive(Debug, Clone)]
pub struct TemporalSettings {
    /// `host:port` (or URL) of the frontend, as configured.
    pub address: String,
    /// The namespace every client and worker uses.
    pub namespace: String,
    /// Prefix of every task-queue name, so two fleets can share a namespace.
    pub task_queue_prefix: String,
    /// Web UI base URL for links printed by the starter.
    pub ui_url: String,
    /// How long to keep retrying the first connection.
    pub connect_timeout: Duration,
}

/// How to reach the object store.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// Endpoint URL (the embedded endpoint, MinIO); empty means AWS's regional endpoint.
    pub endpoint: String,
    /// Region used for request signing.
    pub region: String,
    /// Access key id.
    pub access_key_id: Secret,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Path-style addressing (`endpoint/bucket/key`), needed by MinIO and the embedded endpoint.
    pub force_path_style: bool,
}

/// Log verbosity and format.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// An `EnvFilter` directive, e.g. `info` or `debug,h2=warn`.
    pub level: String,
    /// JSON lines instead of human-readable text.
    pub json: bool,
}

/// Per-worker concurrency and cache settings (see the README's tuning advice).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerTuning {
    /// Activity slots of this worker.
    pub max_concurrent_activities: Option<usize>,
    /// Workflow task slots of this worker.
    pub max_concurrent_workflow_tasks: Option<usize>,
    /// Rate limit of activities this worker starts per second.
    pub activities_per_second: Option<f64>,
    /// Workflows kept in the sticky cache.
    pub sticky_cache_size: Option<usize>,
    /// How long in-flight activities may finish after a shutdown request.
    pub shutdown_grace: Duration,
    /// Port of the Prometheus `/metrics` endpoint (SDK telemetry); `None` disables it.
    pub metrics_port: Option<u16>,
    /// How task slots are sized: fixed counts or following CPU and memory (`WORKER_TUNER`).
    pub tuner: TunerKind,
    /// Resource-based tuner: target system CPU usage, 0..1 (`TUNER_TARGET_CPU`).
    pub target_cpu: Option<f64>,
    /// Resource-based tuner: target system memory usage, 0..1 (`TUNER_TARGET_MEMORY`).
    pub target_memory: Option<f64>,
    /// Resource-based tuner: workflow-task slots issued whatever the load (`TUNER_WORKFLOW_SLOTS_MIN`).
    pub workflow_slots_min: Option<usize>,
    /// Resource-based tuner: most workflow-task slots (`TUNER_WORKFLOW_SLOTS_MAX`).
    pub workflow_slots_max: Option<usize>,
    /// Resource-based tuner: activity slots issued whatever the load (`TUNER_ACTIVITY_SLOTS_MIN`).
    pub activity_slots_min: Option<usize>,
    /// Resource-based tuner: most activity slots (`TUNER_ACTIVITY_SLOTS_MAX`).
    pub activity_slots_max: Option<usize>,
    /// `Some(true)`: workflow and activity pollers autoscale between `pollers_min` and
    /// `pollers_max`; `Some(false)`: the SDK's simple maximum of 5 polls; `None`: the SDK's own
    /// choice (simple, or autoscaling when the namespace advertises auto-enrolment).
    pub poller_autoscaling: Option<bool>,
    /// Autoscaling pollers: fewest concurrent polls (`POLLERS_MIN`).
    pub pollers_min: Option<usize>,
    /// Autoscaling pollers: most concurrent polls (`POLLERS_MAX`).
    pub pollers_max: Option<usize>,
    /// Autoscaling pollers: concurrent polls at start (`POLLERS_INITIAL`).
    pub pollers_initial: Option<usize>,
}

/// How a worker sizes its task slots (`WORKER_TUNER`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TunerKind {
    /// `fixed`: `MAX_CONCURRENT_ACTIVITIES` / `MAX_CONCURRENT_WORKFLOW_TASKS` slots, always.
    #[default]
    Fixed,
    /// `resource-based`: the SDK hands out slots while CPU and memory stay under their targets.
    ResourceBased,
}

impl std::str::FromStr for TunerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fixed" => Ok(Self::Fixed),
            "resource-based" | "resource_based" => Ok(Self::ResourceBased),
            _ => Err("expected 'fixed' or 'resource-based'".to_owned()),
        }
    }
}

impl fmt::Display for TunerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fixed => "fixed",
            Self::ResourceBased => "resource-based",
        })
    }
}

/// Resource-based tuner: default target CPU usage.
pub const DEFAULT_TARGET_CPU: f64 = 0.8;
/// Resource-based tuner: default target memory usage.
pub const DEFAULT_TARGET_MEMORY: f64 = 0.8;
/// The SDK's resource-based defaults: workflow-task slots `(min, max)`.
pub const DEFAULT_WORKFLOW_SLOTS: (usize, usize) = (2, 10_000);
/// The SDK's resource-based defaults: activity slots `(min, max)`.
pub const DEFAULT_ACTIVITY_SLOTS: (usize, usize) = (1, 10_000);
/// The SDK's poller-autoscaling defaults `(min, max, initial)`.
pub const DEFAULT_POLLERS: (usize, usize, usize) = (1, 100, 5);

impl WorkerTuning {
    /// The global settings (no worker prefix).
    fn from_globals(env: &Env) -> Result<Self, ConfigError> {
        let tuning = Self {
            max_concurrent_activities: env.parse_opt("MAX_CONCURRENT_ACTIVITIES")?,
            max_concurrent_workflow_tasks: env.parse_opt("MAX_CONCURRENT_WORKFLOW_TASKS")?,
            activities_per_second: env.parse_opt("ACTIVITIES_PER_SECOND")?,
            sticky_cache_size: env.parse_opt("STICKY_CACHE_SIZE")?,
            shutdown_grace: env.seconds("WORKER_SHUTDOWN_GRACE_SECS", Duration::from_secs(30))?,
            metrics_port: env.parse_opt("METRICS_PORT")?,
            tuner: env.parse("WORKER_TUNER", TunerKind::default())?,
            target_cpu: env.parse_opt("TUNER_TARGET_CPU")?,
            target_memory: env.parse_opt("TUNER_TARGET_MEMORY")?,
            workflow_slots_min: env.parse_opt("TUNER_WORKFLOW_SLOTS_MIN")?,
            workflow_slots_max: env.parse_opt("TUNER_WORKFLOW_SLOTS_MAX")?,
            activity_slots_min: env.parse_opt("TUNER_ACTIVITY_SLOTS_MIN")?,
            activity_slots_max: env.parse_opt("TUNER_ACTIVITY_SLOTS_MAX")?,
            poller_autoscaling: env.bool_opt("POLLER_AUTOSCALING")?,
            pollers_min: env.parse_opt("POLLERS_MIN")?,
            pollers_max: env.parse_opt("POLLERS_MAX")?,
            pollers_initial: env.parse_opt("POLLERS_INITIAL")?,
        };
        tuning.validate(|name| name.to_owned())?;
        Ok(tuning)
    }

    /// These (global) settings overridden by `<prefix>_<SETTING>` variables, e.g.
    /// `ACCURACY_PROCESSOR_WORKER_TUNER`; a bad value names the variable that holds it.
    pub fn overridden(&self, prefix: &str, env: &Env) -> Result<Self, ConfigError> {
        let var = |name: &str| format!("{prefix}_{name}");
        let tuning = Self {
            max_concurrent_activities: env.parse_opt(&var("MAX_CONCURRENT_ACTIVITIES"))?.or(self.max_concurrent_activities),
            max_concurrent_workflow_tasks: env.parse_opt(&var("MAX_CONCURRENT_WORKFLOW_TASKS"))?.or(self.max_concurrent_workflow_tasks),
            activities_per_second: env.parse_opt(&var("ACTIVITIES_PER_SECOND"))?.or(self.activities_per_second),
            sticky_cache_size: env.parse_opt(&var("STICKY_CACHE_SIZE"))?.or(self.sticky_cache_size),
            shutdown_grace: self.shutdown_grace,
            metrics_port: env.parse_opt(&var("METRICS_PORT"))?.or(self.metrics_port),
            tuner: env.parse_opt(&var("WORKER_TUNER"))?.unwrap_or(self.tuner),
            target_cpu: env.parse_opt(&var("TUNER_TARGET_CPU"))?.or(self.target_cpu),
            target_memory: env.parse_opt(&var("TUNER_TARGET_MEMORY"))?.or(self.target_memory),
            workflow_slots_min: env.parse_opt(&var("TUNER_WORKFLOW_SLOTS_MIN"))?.or(self.workflow_slots_min),
            workflow_slots_max: env.parse_opt(&var("TUNER_WORKFLOW_SLOTS_MAX"))?.or(self.workflow_slots_max),
            activity_slots_min: env.parse_opt(&var("TUNER_ACTIVITY_SLOTS_MIN"))?.or(self.activity_slots_min),
            activity_slots_max: env.parse_opt(&var("TUNER_ACTIVITY_SLOTS_MAX"))?.or(self.activity_slots_max),
            poller_autoscaling: env.bool_opt(&var("POLLER_AUTOSCALING"))?.or(self.poller_autoscaling),
            pollers_min: env.parse_opt(&var("POLLERS_MIN"))?.or(self.pollers_min),
            pollers_max: env.parse_opt(&var("POLLERS_MAX"))?.or(self.pollers_max),
            pollers_initial: env.parse_opt(&var("POLLERS_INITIAL"))?.or(self.pollers_initial),
        };
        // Name the variable a value came from: the worker's own when set, else the global one.
        tuning.validate(|name| if env.get(&var(name)).is_some() { var(name) } else { name.to_owned() })?;
        Ok(tuning)
    }

    /// Target CPU and memory usage of the resource-based tuner, defaults applied.
    pub fn resource_targets(&self) -> (f64, f64) {
        (self.target_cpu.unwrap_or(DEFAULT_TARGET_CPU), self.target_memory.unwrap_or(DEFAULT_TARGET_MEMORY))
    }

    /// `(min, max)` workflow-task slots of the resource-based tuner, defaults applied (a
    /// maximum left unset is raised to a larger minimum).
    pub fn workflow_slots(&self) -> (usize, usize) {
        slot_range(self.workflow_slots_min, self.workflow_slots_max, DEFAULT_WORKFLOW_SLOTS)
    }

    /// `(min, max)` activity slots of the resource-based tuner, defaults applied.
    pub fn activity_slots(&self) -> (usize, usize) {
        slot_range(self.activity_slots_min, self.activity_slots_max, DEFAULT_ACTIVITY_SLOTS)
    }

    /// `(min, max, initial)` of autoscaling pollers, defaults applied.
    pub fn pollers(&self) -> (usize, usize, usize) {
        let (min, max, initial) = DEFAULT_POLLERS;
        let min = self.pollers_min.unwrap_or(min);
        let max = self.pollers_max.unwrap_or(max.max(min));
        // Not `clamp`: it panics when min > max, which `validate` reports with the variables' names.
        (min, max, self.pollers_initial.unwrap_or(initial.max(min).min(max)))
    }

    /// Ranges and orderings; `name` gives the variable a setting was read from.
    fn validate(&self, name: impl Fn(&str) -> String) -> Result<(), ConfigError> {
        let invalid = |var: &str, reason: String| ConfigError::Invalid { var: name(var), reason };
        for (var, value) in [("TUNER_TARGET_CPU", self.target_cpu), ("TUNER_TARGET_MEMORY", self.target_memory)] {
            if let Some(v) = value
                && !(v.is_finite() && v > 0.0 && v <= 1.0)
            {
                return Err(invalid(var, format!("{v} is not a fraction above 0 and at most 1 (e.g. 0.8)")));
            }
        }
        let slots = [
            ("TUNER_WORKFLOW_SLOTS", self.workflow_slots_min, self.workflow_slots_max, self.workflow_slots()),
            ("TUNER_ACTIVITY_SLOTS", self.activity_slots_min, self.activity_slots_max, self.activity_slots()),
        ];
        for (base, min, max, (lo, hi)) in slots {
            let (min_var, max_var) = (format!("{base}_MIN"), format!("{base}_MAX"));
            if min == Some(0) {
                return Err(invalid(&min_var, "0: at least 1 slot, or a busy host would starve the worker".to_owned()));
            }
            if max == Some(0) {
                return Err(invalid(&max_var, "0: at least 1 slot".to_owned()));
            }
            if lo > hi {
                let culprit = if min.is_some() { &min_var } else { &max_var };
                return Err(invalid(culprit, format!("minimum {lo} ({}) is above maximum {hi} ({})", name(&min_var), name(&max_var))));
            }
        }
        if self.pollers_min == Some(0) {
            return Err(invalid("POLLERS_MIN", "0: at least 1 poll".to_owned()));
        }
        let (min, max, initial) = self.pollers();
        if min > max {
            let culprit = if self.pollers_min.is_some() { "POLLERS_MIN" } else { "POLLERS_MAX" };
            return Err(invalid(culprit, format!("minimum {min} ({}) is above maximum {max} ({})", name("POLLERS_MIN"), name("POLLERS_MAX"))));
        }
        if !(min..=max).contains(&initial) {
            return Err(invalid(
                "POLLERS_INITIAL",
                format!("{initial} is not between the minimum {min} ({}) and the maximum {max} ({})", name("POLLERS_MIN"), name("POLLERS_MAX")),
            ));
        }
        Ok(())
    }
}

fn slot_range(min: Option<usize>, max: Option<usize>, (default_min, default_max): (usize, usize)) -> (usize, usize) {
    let min = min.unwrap_or(default_min);
    (min, max.unwrap_or(default_max.max(min)))
}

/// The whole configuration of a fleet process.
#[derive(Clone)]
pub struct FleetConfig {
    /// Temporal connection settings.
    pub temporal: TemporalSettings,
    /// Object store settings.
    pub s3: S3Settings,
    /// Logging settings.
    pub log: LogSettings,
    /// Worker tuning (global values, overridden per worker by `<WORKER>_...` variables).
    pub tuning: WorkerTuning,
    /// Worker versioning (off unless `WORKER_DEPLOYMENT_NAME` is set).
    pub versioning: crate::versioning::VersioningSettings,
    connection: ConnectionOptions,
    // The variables everything above was read from: workers read their own settings from the
    // same snapshot (so a test's `TestStack::start_in(.., extra)` reaches in-process workers).
    env: Env,
}

// Written by hand: the connection options may carry an API key or TLS key material.
impl fmt::Debug for FleetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetConfig")
            .field("temporal", &self.temporal)
            .field("s3", &self.s3)
            .field("log", &self.log)
            .field("tuning", &self.tuning)
            .field("versioning", &self.versioning)
            .finish_non_exhaustive()
    }
}

/// A snapshot of variables to read settings from.
#[derive(Clone)]
pub struct Env(HashMap<String, String>);

impl Env {
    /// The process environment, after loading `.env` from the working directory (variables
    /// already set win over the file).
    pub fn load() -> Result<Self, ConfigError> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(ConfigError::DotEnv(e.to_string())),
        }
        Ok(Self(std::env::vars().collect()))
    }

    /// Exactly these variables (tests).
    pub fn from_map(vars: HashMap<String, String>) -> Self {
        Self(vars)
    }

    /// A variable's value, if set and not empty.
    pub fn get(&self, var: &str) -> Option<&str> {
        self.0.get(var).map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    /// A variable's value or `default`.
    pub fn string(&self, var: &str, default: &str) -> String {
        self.get(var).unwrap_or(default).to_owned()
    }

    /// A parsed value or `default`; a value that does not parse names the variable.
    pub fn parse<T: std::str::FromStr>(&self, var: &str, default: T) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        self.parse_opt(var).map(|v| v.unwrap_or(default))
    }

    /// A parsed value if set.
    pub fn parse_opt<T: std::str::FromStr>(&self, var: &str) -> Result<Option<T>, ConfigError>
    where
        T::Err: fmt::Display,
    {
        match self.get(var) {
            None => Ok(None),
            Some(raw) => raw.trim().parse().map(Some).map_err(|e| ConfigError::Invalid { var: var.to_owned(), reason: format!("{raw:?} ({e})") }),
        }
    }

    /// `true/false/1/0/yes/no/on/off`, or `default`.
    pub fn bool(&self, var: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::Invalid { var: var.to_owned(), reason: format!("{v:?} is not a boolean (true/false)") }),
            },
        }
    }

    /// `true/false/1/0/yes/no/on/off` if set.
    pub fn bool_opt(&self, var: &str) -> Result<Option<bool>, ConfigError> {
        match self.get(var) {
            None => Ok(None),
            Some(_) => self.bool(var, false).map(Some),
        }
    }

    /// A positive duration in seconds (fractions allowed), or `default`.
    pub fn seconds(&self, var: &str, default: Duration) -> Result<Duration, ConfigError> {
        match self.parse_opt::<f64>(var)? {
            None => Ok(default),
            Some(s) if s.is_finite() && s > 0.0 => Ok(Duration::from_secs_f64(s)),
            Some(s) => Err(ConfigError::Invalid { var: var.to_owned(), reason: format!("{s} is not a positive number of seconds") }),
        }
    }

    /// Every variable, for libraries that read their own (Temporal envconfig).
    pub fn vars(&self) -> &HashMap<String, String> {
        &self.0
    }
}

/// `host:port`, or an http(s)/grpc URL with a host.
fn validate_address(address: &str) -> Result<(), ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid { var: "TEMPORAL_ADDRESS".into(), reason: format!("{address:?} {reason}") };
    if address.contains("://") {
        let url = url::Url::parse(address).map_err(|e| invalid(&format!("is not a URL ({e})")))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("has no host"));
        }
        return Ok(());
    }
    let (host, port) = address.rsplit_once(':').ok_or_else(|| invalid("must be host:port"))?;
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(invalid("has no host"));
    }
    port.parse::<u16>().map_err(|_| invalid("has no valid port"))?;
    url::Url::parse(&format!("http://{address}")).map_err(|e| invalid(&format!("is not a valid host:port ({e})")))?;
    Ok(())
}

/// Default frontend address of a local dev server.
pub const DEFAULT_TEMPORAL_ADDRESS: &str = "localhost:7233";
/// Default endpoint of the embedded S3 endpoint.
pub const DEFAULT_S3_ENDPOINT: &str = "http://127.0.0.1:9000";
/// Default credentials of the embedded S3 endpoint (and of the compose MinIO).
pub const DEFAULT_S3_ACCESS_KEY: &str = "fleet";
/// See [`DEFAULT_S3_ACCESS_KEY`].
pub const DEFAULT_S3_SECRET_KEY: &str = "fleet-secret-key";

impl FleetConfig {
    /// Loads the configuration of this process (environment + `.env` + `temporal.toml`).
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env(&Env::load()?)
    }

    /// Builds the configuration from a snapshot of variables.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mut profile = load_client_config_profile(LoadClientConfigProfileOptions::default(), Some(env.vars()))
            .map_err(|e| ConfigError::Temporal(e.to_string()))?;
        if profile.address.is_none() {
            profile.address = Some(DEFAULT_TEMPORAL_ADDRESS.to_owned());
        }
        let address = profile.address.clone().unwrap_or_default();
        validate_address(&address)?;
        let namespace = profile.namespace.clone().unwrap_or_else(|| "default".to_owned());
        if namespace.trim().is_empty() || namespace.contains(char::is_whitespace) {
            return Err(ConfigError::Invalid { var: "TEMPORAL_NAMESPACE".into(), reason: format!("{namespace:?} is not a namespace name") });
        }
        let connection = ConnectionOptions::try_from(profile)
            .map_err(|e| ConfigError::Invalid { var: "TEMPORAL_ADDRESS".into(), reason: format!("{address:?}: {e}") })?;

        let task_queue_prefix = env.string("TASK_QUEUE_PREFIX", "");
        if !task_queue_prefix.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(ConfigError::Invalid {
                var: "TASK_QUEUE_PREFIX".into(),
                reason: format!("{task_queue_prefix:?} may only hold letters, digits, '-', '_' and '.'"),
            });
        }
        let ui_url = env.string("TEMPORAL_UI_URL", "http://localhost:8233");
        url::Url::parse(&ui_url).map_err(|e| ConfigError::Invalid { var: "TEMPORAL_UI_URL".into(), reason: format!("{ui_url:?} ({e})") })?;

        let endpoint = env.string("S3_ENDPOINT", DEFAULT_S3_ENDPOINT);
        if !endpoint.is_empty() {
            let parsed =
                url::Url::parse(&endpoint).map_err(|e| ConfigError::Invalid { var: "S3_ENDPOINT".into(), reason: format!("{endpoint:?} ({e})") })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(ConfigError::Invalid { var: "S3_ENDPOINT".into(), reason: format!("{endpoint:?} is not an http(s) URL") });
            }
        }
        let s3 = S3Settings {
            endpoint,
            region: env.string("AWS_REGION", "us-east-1"),
            access_key_id: Secret::new(env.string("AWS_ACCESS_KEY_ID", DEFAULT_S3_ACCESS_KEY)),
            secret_access_key: Secret::new(env.string("AWS_SECRET_ACCESS_KEY", DEFAULT_S3_SECRET_KEY)),
            force_path_style: env.bool("S3_FORCE_PATH_STYLE", true)?,
        };

        let level = env.string("LOG_LEVEL", "info");
        tracing_subscriber::EnvFilter::try_new(&level)
            .map_err(|e| ConfigError::Invalid { var: "LOG_LEVEL".into(), reason: format!("{level:?} ({e})") })?;
        let json = match env.string("LOG_FORMAT", "text").to_ascii_lowercase().as_str() {
            "text" => false,
            "json" => true,
            other => return Err(ConfigError::Invalid { var: "LOG_FORMAT".into(), reason: format!("{other:?} is not 'text' or 'json'") }),
        };

        let tuning = WorkerTuning::from_globals(env)?;
        let versioning = crate::versioning::VersioningSettings::from_env(env)?;

        Ok(Self {
            temporal: TemporalSettings {
                address,
                namespace,
                task_queue_prefix,
                ui_url: ui_url.trim_end_matches('/').to_owned(),
                connect_timeout: env.seconds("TEMPORAL_CONNECT_TIMEOUT_SECS", Duration::from_secs(60))?,
            },
            s3,
            log: LogSettings { level, json },
            tuning,
            versioning,
            connection,
            env: Env(env.0.clone()),
        })
    }

    /// The variables this configuration was read from, for a worker's own settings.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// Connection options for the Temporal frontend (TLS and API key included).
    pub fn connection_options(&self) -> ConnectionOptions {
        self.connection.clone()
    }

    /// Client options for the configured namespace.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions::new(self.temporal.namespace.clone()).build()
    }

    /// The full name of a queue under this deployment's prefix.
    /// `TEMPORAL_TASK_QUEUE`, the enhancement system's own variable, names the enhancement
    /// queue outright (prefix not applied).
    pub fn queue(&self, queue: contracts::Queue) -> String {
        if queue == contracts::Queue::Enhancement
            && let Some(name) = self.env.get("TEMPORAL_TASK_QUEUE")
        {
            return name.trim().to_owned();
        }
        queue.with_prefix(&self.temporal.task_queue_prefix)
    }

    /// Web UI link of a workflow execution.
    pub fn workflow_url(&self, workflow_id: &str) -> String {
        format!("{}/namespaces/{}/workflows/{}", self.temporal.ui_url, self.temporal.namespace, workflow_id)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Exactly these variables, and never a developer's own `temporal.toml`.
    pub(crate) fn env(pairs: &[(&str, &str)]) -> Env {
        let mut map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        // Never let a developer's own ~/.config/temporalio/temporal.toml leak into the tests.
        map.entry("TEMPORAL_CONFIG_FILE".into()).or_insert_with(|| "/nonexistent/temporal.toml".into());
        Env::from_map(map)
    }

    #[test]
    fn defaults() {
        let cfg = FleetConfig::from_env(&env(&[])).unwrap();
        assert_eq!(cfg.temporal.address, "localhost:7233");
        assert_eq!(cfg.temporal.namespace, "default");
        assert_eq!(cfg.s3.endpoint, DEFAULT_S3_ENDPOINT);
        assert!(cfg.s3.force_path_style);
        assert_eq!(cfg.queue(contracts::Queue::Video), "video");
        assert!(!cfg.log.json);
    }

    #[test]
    fn reads_values() {
        let cfg = FleetConfig::from_env(&env(&[
            ("TEMPORAL_ADDRESS", "temporal:7233"),
            ("TEMPORAL_NAMESPACE", "media"),
            ("TASK_QUEUE_PREFIX", "blue-"),
            ("S3_FORCE_PATH_STYLE", "false"),
            ("LOG_FORMAT", "json"),
            ("MAX_CONCURRENT_ACTIVITIES", "8"),
        ]))
        .unwrap();
        assert_eq!(cfg.temporal.address, "temporal:7233");
        assert_eq!(cfg.temporal.namespace, "media");
        assert_eq!(cfg.queue(contracts::Queue::Ingestion), "blue-ingestion");
        assert!(!cfg.s3.force_path_style);
        assert!(cfg.log.json);
        assert_eq!(cfg.tuning.max_concurrent_activities, Some(8));
        assert!(cfg.workflow_url("wf-1").ends_with("/namespaces/media/workflows/wf-1"));
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("S3_FORCE_PATH_STYLE", "maybe"),
            ("S3_ENDPOINT", "not a url"),
            ("LOG_FORMAT", "xml"),
            ("MAX_CONCURRENT_ACTIVITIES", "-3"),
            ("WORKER_SHUTDOWN_GRACE_SECS", "0"),
            ("TASK_QUEUE_PREFIX", "a b"),
            ("TEMPORAL_ADDRESS", "http://[::1"),
            ("TEMPORAL_ADDRESS", "localhost"),
            ("TEMPORAL_ADDRESS", "localhost:notaport"),
        ] {
            let err = FleetConfig::from_env(&env(&[(var, value)])).unwrap_err().to_string();
            assert!(err.contains(var), "{var}={value}: {err}");
        }
    }

    #[test]
    fn enhancement_queue_override_and_worker_settings() {
        let cfg =
            FleetConfig::from_env(&env(&[("TEMPORAL_TASK_QUEUE", "image-enhancement"), ("TASK_QUEUE_PREFIX", "blue-"), ("ENHANCER", "openai")]))
                .unwrap();
        assert_eq!(cfg.queue(contracts::Queue::Enhancement), "image-enhancement");
        assert_eq!(cfg.queue(contracts::Queue::Video), "blue-video");
        assert_eq!(cfg.env().get("ENHANCER"), Some("openai"));
    }

    #[test]
    fn secrets_never_print() {
        let cfg = FleetConfig::from_env(&env(&[("AWS_SECRET_ACCESS_KEY", "marker-SECRET-123")])).unwrap();
        assert!(!format!("{cfg:?}").contains("marker-SECRET-123"));
        assert_eq!(cfg.s3.secret_access_key.expose(), "marker-SECRET-123");
    }
}
