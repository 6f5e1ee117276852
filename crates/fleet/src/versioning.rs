//! Worker versioning: which Worker Deployment Version a worker polls as, and how its workflows
//! move once a newer version becomes current.
//!
//! Off unless `WORKER_DEPLOYMENT_NAME` is set: the worker is then unversioned, as before (it
//! still reports its build id, which `starter status` shows). With a deployment name, the
//! worker joins the version `<WORKER_DEPLOYMENT_NAME>:<build id>`, and the server sends it only
//! the tasks of that version; a new version takes new workflows once it is made current
//! (`temporal worker deployment set-current-version`).
//!
//! The Rust SDK 1.1 has no per-workflow versioning annotation: every workflow of a worker
//! completes its tasks with the worker's default behaviour. Each worker hosts workflows of one
//! kind, so the default is chosen per worker ([`default_behavior`]) and documented per workflow
//! type in the README.

use crate::config::{ConfigError, Env};
use contracts::Queue;
use std::fmt;
use temporalio_common::worker::{VersioningBehavior as SdkBehavior, WorkerDeploymentOptions, WorkerDeploymentVersion, build_id_from_current_exe};

/// How a worker's workflows move between builds (`WORKER_VERSIONING_BEHAVIOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VersioningBehavior {
    /// `pinned`: a workflow runs to its end on the build that started it; the old build's
    /// workers must stay up until their version is drained.
    Pinned,
    /// `auto-upgrade`: a workflow moves to the current build at its next workflow task, so every
    /// change to its code must replay its old histories (`patched()`).
    AutoUpgrade,
}

impl std::str::FromStr for VersioningBehavior {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "pinned" => Ok(Self::Pinned),
            "auto-upgrade" | "autoupgrade" => Ok(Self::AutoUpgrade),
            _ => Err("expected 'pinned' or 'auto-upgrade'".to_owned()),
        }
    }
}

impl fmt::Display for VersioningBehavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pinned => "pinned",
            Self::AutoUpgrade => "auto-upgrade",
        })
    }
}

impl From<VersioningBehavior> for SdkBehavior {
    fn from(behavior: VersioningBehavior) -> Self {
        match behavior {
            VersioningBehavior::Pinned => SdkBehavior::Pinned,
            VersioningBehavior::AutoUpgrade => SdkBehavior::AutoUpgrade,
        }
    }
}

/// The versioning behaviour of a worker's workflows unless configured otherwise.
///
/// - Pinned: the short per-image children (`IngestImage`, `ChecksumObject`, `AnalyzeAccuracy`,
///   `Geolocalize`) last seconds to minutes, so an old build drains quickly and new code never
///   replays a history it did not write. The accuracy processor runs activities only: its
///   behaviour is moot, its version still routes the activities of pinned workflows.
/// - Auto-upgrade: the workers whose workflows outlive a deploy. The batch parents
///   (`AutomationPipeline`, `EnhanceBatch`) run for hours across continue-as-new runs and
///   `VideoPipeline` for as long as a long video takes; pinning them would keep every old build's
///   workers running for that long. The per-image children on the same workers
///   (`ImagePipeline`, `EnhanceImage`) share the worker's behaviour: the SDK sets it per worker.
///   Their code changes go behind `patched()`, and the replay tests catch the ones that do not.
pub const fn default_behavior(queue: Queue) -> VersioningBehavior {
    match queue {
        Queue::Ingestion | Queue::AccuracyDispatcher | Queue::AccuracyProcessor | Queue::Geolocalization => VersioningBehavior::Pinned,
        Queue::Orchestrator | Queue::Enhancement | Queue::Video => VersioningBehavior::AutoUpgrade,
    }
}

/// The build id of this binary: `<fleet version>+<git commit>` when it was built from a git
/// checkout (or with `FLEET_GIT_COMMIT` set at build time), so that the seven worker binaries of
/// one build share it; else a hash of the executable (the SDK's default), which differs per
/// binary.
pub fn default_build_id() -> String {
    match option_env!("FLEET_GIT_COMMIT") {
        Some(commit) => format!("{}+{commit}", env!("CARGO_PKG_VERSION")),
        None => build_id_from_current_exe().to_owned(),
    }
}

/// Versioning settings of a process (global; the behaviour can be overridden per worker).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersioningSettings {
    /// The Worker Deployment the workers join (`WORKER_DEPLOYMENT_NAME`); `None`: unversioned.
    pub deployment_name: Option<String>,
    /// The build id (`WORKER_BUILD_ID`); `None`: [`default_build_id`].
    pub build_id: Option<String>,
    /// The behaviour of every worker's workflows (`WORKER_VERSIONING_BEHAVIOR`); `None`:
    /// [`default_behavior`] of each worker.
    pub behavior: Option<VersioningBehavior>,
}

impl VersioningSettings {
    /// Reads `WORKER_DEPLOYMENT_NAME`, `WORKER_BUILD_ID` and `WORKER_VERSIONING_BEHAVIOR`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let deployment_name = env.get("WORKER_DEPLOYMENT_NAME").map(|s| s.trim().to_owned());
        if let Some(name) = &deployment_name {
            // The server refuses '.' in deployment names; whitespace would be a typo.
            if name.contains('.') || name.contains(char::is_whitespace) || name.len() > 255 {
                return Err(ConfigError::Invalid {
                    var: "WORKER_DEPLOYMENT_NAME".into(),
                    reason: format!("{name:?}: at most 255 characters, no '.' and no spaces"),
                });
            }
        }
        let build_id = env.get("WORKER_BUILD_ID").map(|s| s.trim().to_owned());
        if let Some(id) = &build_id
            && (id.contains(char::is_whitespace) || id.len() > 255)
        {
            return Err(ConfigError::Invalid { var: "WORKER_BUILD_ID".into(), reason: format!("{id:?}: at most 255 characters, no spaces") });
        }
        Ok(Self { deployment_name, build_id, behavior: env.parse_opt("WORKER_VERSIONING_BEHAVIOR")? })
    }

    /// The version and behaviour of the worker on `queue`; `<WORKER>_WORKER_VERSIONING_BEHAVIOR`
    /// (e.g. `VIDEO_WORKER_VERSIONING_BEHAVIOR=pinned`) overrides the behaviour for one worker.
    pub fn for_worker(&self, queue: Queue, env: &Env) -> Result<WorkerVersion, ConfigError> {
        let own = format!("{}_WORKER_VERSIONING_BEHAVIOR", crate::worker::worker_var_prefix(queue));
        let behavior = env.parse_opt(&own)?.or(self.behavior).unwrap_or(default_behavior(queue));
        Ok(WorkerVersion {
            deployment_name: self.deployment_name.clone(),
            build_id: self.build_id.clone().unwrap_or_else(default_build_id),
            behavior,
        })
    }
}

/// What a worker tells the server about its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerVersion {
    /// The Worker Deployment; `None`: unversioned.
    pub deployment_name: Option<String>,
    /// The build id (reported by unversioned workers too).
    pub build_id: String,
    /// The default behaviour of its workflows (used only when versioned).
    pub behavior: VersioningBehavior,
}

impl WorkerVersion {
    /// True when the worker joins a Worker Deployment.
    pub fn is_versioned(&self) -> bool {
        self.deployment_name.is_some()
    }

    /// The SDK's deployment options: versioned with a default behaviour, or only a build id.
    pub fn sdk_options(&self) -> WorkerDeploymentOptions {
        match &self.deployment_name {
            None => WorkerDeploymentOptions::from_build_id(self.build_id.clone()),
            Some(name) => {
                let version = WorkerDeploymentVersion::builder().deployment_name(name.clone()).build_id(self.build_id.clone()).build();
                WorkerDeploymentOptions::new(version).use_worker_versioning(true).default_versioning_behavior(self.behavior.into()).build()
            }
        }
    }
}

impl fmt::Display for WorkerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.deployment_name {
            Some(name) => write!(f, "{name}:{} ({})", self.build_id, self.behavior),
            None => write!(f, "unversioned (build {})", self.build_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env;

    fn version(queue: Queue, pairs: &[(&str, &str)]) -> Result<WorkerVersion, ConfigError> {
        let env = env(pairs);
        VersioningSettings::from_env(&env)?.for_worker(queue, &env)
    }

    #[test]
    fn off_unless_a_deployment_is_named() {
        let v = version(Queue::Ingestion, &[]).unwrap();
        assert!(!v.is_versioned());
        assert_eq!(v.build_id, default_build_id());
        let sdk = v.sdk_options();
        assert!(!sdk.use_worker_versioning);
        assert_eq!(sdk.default_versioning_behavior, None);
        assert_eq!(sdk.version.build_id, default_build_id());
    }

    #[test]
    fn the_default_build_id_names_the_commit_when_built_from_git() {
        // This crate is built inside the repository's checkout, so the build script finds a commit.
        if let Some(commit) = option_env!("FLEET_GIT_COMMIT") {
            assert_eq!(default_build_id(), format!("{}+{commit}", env!("CARGO_PKG_VERSION")));
            assert!(commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()), "{commit}");
        }
    }

    #[test]
    fn versioned_workers_get_their_default_behaviour() {
        let vars = [("WORKER_DEPLOYMENT_NAME", "media-fleet"), ("WORKER_BUILD_ID", "2026-11-30.1")];
        let short = version(Queue::Ingestion, &vars).unwrap();
        assert_eq!(short.to_string(), "media-fleet:2026-11-30.1 (pinned)");
        let sdk = short.sdk_options();
        assert!(sdk.use_worker_versioning);
        assert_eq!(sdk.version.deployment_name, "media-fleet");
        assert_eq!(sdk.default_versioning_behavior, Some(SdkBehavior::Pinned));
        for queue in Queue::ALL {
            assert_eq!(version(queue, &vars).unwrap().behavior, default_behavior(queue), "{queue}");
        }
        assert_eq!(version(Queue::Orchestrator, &vars).unwrap().sdk_options().default_versioning_behavior, Some(SdkBehavior::AutoUpgrade));
    }

    #[test]
    fn behaviour_overrides_global_then_per_worker() {
        let vars = [
            ("WORKER_DEPLOYMENT_NAME", "media-fleet"),
            ("WORKER_VERSIONING_BEHAVIOR", "pinned"),
            ("VIDEO_WORKER_VERSIONING_BEHAVIOR", "auto_upgrade"),
        ];
        assert_eq!(version(Queue::Orchestrator, &vars).unwrap().behavior, VersioningBehavior::Pinned);
        assert_eq!(version(Queue::Video, &vars).unwrap().behavior, VersioningBehavior::AutoUpgrade);
        assert_eq!(version(Queue::Ingestion, &vars).unwrap().behavior, VersioningBehavior::Pinned);
    }

    #[test]
    fn bad_versioning_names_the_variable() {
        for (pairs, var) in [
            (&[("WORKER_DEPLOYMENT_NAME", "media.fleet")][..], "WORKER_DEPLOYMENT_NAME"),
            (&[("WORKER_DEPLOYMENT_NAME", "media fleet")][..], "WORKER_DEPLOYMENT_NAME"),
            (&[("WORKER_BUILD_ID", "a b")][..], "WORKER_BUILD_ID"),
            (&[("WORKER_VERSIONING_BEHAVIOR", "sticky")][..], "WORKER_VERSIONING_BEHAVIOR"),
            (&[("ENHANCEMENT_WORKER_VERSIONING_BEHAVIOR", "latest")][..], "ENHANCEMENT_WORKER_VERSIONING_BEHAVIOR"),
        ] {
            let err = version(Queue::Enhancement, pairs).unwrap_err().to_string();
            assert!(err.contains(var), "{pairs:?}: {err}");
        }
    }
}
