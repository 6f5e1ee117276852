//! The activity kit: the one way every worker's activities run blocking work, heartbeat, keep
//! scratch files and recognise image keys.
//!
//! - [`blocking`]: CPU or file work on the blocking pool. **A panic there fails the activity
//!   for good** (`InvalidInput`, naming the input): the work is a function of the input, so a
//!   retry would panic again on the same bytes, and a retried panic only multiplies the time
//!   before the batch reports the bad input. A blocking task stopped without panicking (the
//!   runtime shutting down) is a transient failure and is retried.
//! - [`heartbeating`], [`heartbeat`], [`heartbeat_interval`]: one interval (a third of the
//!   heartbeat timeout the workflow set, clamped to 100 ms ..= 10 s; 10 s without one, so a
//!   cancellation still arrives) and **one error policy**: recording a heartbeat can only fail
//!   when its details do not serialize, a worker bug that must not turn into a redo of the
//!   work, so it is logged at `warn` and the work goes on. The server's heartbeat timeout stays
//!   the judge of whether the worker is alive.
//! - [`Scratch`]: per-activity temporary directories under one configurable root per worker
//!   (`SCRATCH_DIR`, `<WORKER>_SCRATCH_DIR`), removed when the activity lets go of them, and
//!   swept at worker start of what a killed worker left behind.
//! - [`IMAGE_EXTENSIONS`], [`is_image_key`]: the image files the fleet picks up.

use crate::failure::{invalid_input, transient};
use std::fmt::Display;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;
use temporalio_common::data_converters::TemporalSerializable;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Extensions of the image files the pipelines read (compared case-insensitively).
pub const IMAGE_EXTENSIONS: [&str; 5] = ["jpg", "jpeg", "png", "tif", "tiff"];

/// True when the key's file name has a stem and one of the [`IMAGE_EXTENSIONS`].
pub fn is_image_key(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.rsplit_once('.').is_some_and(|(stem, ext)| !stem.is_empty() && IMAGE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)))
}

/// Runs blocking work off the async executor threads; see the module docs for the panic policy.
/// `subject` (an object URI, usually) names the input in the failure.
pub async fn blocking<T: Send + 'static>(subject: &(impl Display + ?Sized), work: impl FnOnce() -> T + Send + 'static) -> Result<T, ActivityError> {
    spawn_blocking(work).join(subject).await
}

/// Starts blocking work at once, to run alongside the activity's own async work (a decoder
/// feeding uploads through a channel, say); [`BlockingTask::join`] waits for it.
pub fn spawn_blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> BlockingTask<T> {
    BlockingTask(tokio::task::spawn_blocking(work))
}

/// Blocking work started by [`spawn_blocking`].
pub struct BlockingTask<T>(tokio::task::JoinHandle<T>);

impl<T> BlockingTask<T> {
    /// Waits for the work; a panic fails the activity for good, naming `subject` (module docs).
    pub async fn join(self, subject: &(impl Display + ?Sized)) -> Result<T, ActivityError> {
        match self.0.await {
            Ok(out) => Ok(out),
            Err(e) if e.is_panic() => {
                let panic = e.into_panic();
                let message = panic.downcast_ref::<&str>().map(|s| (*s).to_owned()).or_else(|| panic.downcast_ref::<String>().cloned());
                let reason = message.unwrap_or_else(|| "a panic without a message".to_owned());
                tracing::error!(%subject, %reason, "processing panicked");
                Err(invalid_input(subject, format!("processing crashed on this input: {reason}")))
            }
            Err(e) => Err(transient(subject, format!("the processing task was stopped: {e}"))),
        }
    }
}

/// Heartbeat interval without a heartbeat timeout.
const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// Shortest heartbeat interval (the SDK throttles what it sends anyway).
const MIN_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(100);

/// How often an activity heartbeats: a third of its heartbeat timeout, clamped.
pub fn heartbeat_interval(ctx: &ActivityContext) -> Duration {
    ctx.info().heartbeat_timeout.map_or(DEFAULT_HEARTBEAT_INTERVAL, |timeout| (timeout / 3).clamp(MIN_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL))
}

/// Records one heartbeat with `details`; a failure is logged, never returned (module docs).
pub async fn heartbeat<D: TemporalSerializable + 'static>(ctx: &ActivityContext, details: D) {
    if let Err(e) = ctx.record_heartbeat(details).await {
        tracing::warn!(error = %e, "heartbeat details could not be recorded");
    }
}

/// Runs `work` to its end while heartbeating `details()` every [`heartbeat_interval`]. A
/// cancellation of the activity drops `work` and returns the cancelled error.
pub async fn heartbeating<T, D, F>(ctx: &ActivityContext, details: impl Fn() -> D, work: F) -> Result<T, ActivityError>
where
    D: TemporalSerializable + 'static,
    F: Future<Output = T>,
{
    tokio::select! {
        out = heartbeating_to_completion(ctx, details, work) => Ok(out),
        () = ctx.cancelled() => Err(ActivityError::cancelled()),
    }
}

/// Like [`heartbeating`], but a cancellation does not interrupt `work`: for a step that must
/// finish once started (an upload that a saga may have to withdraw afterwards).
pub async fn heartbeating_to_completion<T, D, F>(ctx: &ActivityContext, details: impl Fn() -> D, work: F) -> T
where
    D: TemporalSerializable + 'static,
    F: Future<Output = T>,
{
    let mut ticker = tokio::time::interval(heartbeat_interval(ctx));
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = ticker.tick() => heartbeat(ctx, details()).await,
        }
    }
}

/// A scratch directory untouched this long belongs to no running activity (activity timeouts
/// are minutes to hours): only a killed worker leaves one behind.
pub const STALE_SCRATCH_AGE: Duration = Duration::from_secs(24 * 3600);
/// Name prefix of the per-activity directories (what the sweep removes).
const SCRATCH_PREFIX: &str = "activity-";

/// The scratch root of one worker.
#[derive(Debug, Clone)]
pub struct Scratch {
    root: PathBuf,
}

impl Scratch {
    /// Creates `root` if needed and sweeps what a killed worker left in it. The caller names
    /// the setting in the error.
    pub fn open(root: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        let swept = sweep_stale(&root, STALE_SCRATCH_AGE);
        if swept > 0 {
            tracing::info!(count = swept, root = %root.display(), "removed scratch directories left by a killed worker");
        }
        Ok(Self { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A fresh private directory for one activity, removed when the returned handle drops.
    /// Files inside are named by the activity, never by an object key.
    pub fn dir(&self) -> Result<tempfile::TempDir, ActivityError> {
        tempfile::Builder::new()
            .prefix(SCRATCH_PREFIX)
            .tempdir_in(&self.root)
            .map_err(|e| transient("scratch directory", format!("cannot create one under {}: {e}", self.root.display())))
    }
}

/// Removes `activity-*` directories under `root` not modified for `older_than`; returns how
/// many went.
pub fn sweep_stale(root: &Path, older_than: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(SCRATCH_PREFIX))
        .filter(|e| e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|age| age > older_than))
        .filter(|e| std::fs::remove_dir_all(e.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_keys() {
        for key in ["f/a.jpg", "f/b.JPEG", "c.png", "f/d.tif", "e.TIFF"] {
            assert!(is_image_key(key), "{key}");
        }
        for key in ["f/a.jpg.metadata.json", "a.sha256", "d.tfw", "f/.png", "noextension", "dir.jpg/"] {
            assert!(!is_image_key(key), "{key}");
        }
    }

    #[tokio::test]
    async fn a_panic_is_a_non_retryable_failure_naming_the_input() {
        let err = blocking("s3://b/k.jpg", || -> u32 { panic!("decoder bug") }).await.unwrap_err();
        let ActivityError::Application(failure) = err else { panic!("not an application failure") };
        let text = failure.to_string();
        assert!(text.contains("s3://b/k.jpg") && text.contains("decoder bug"), "{text}");
        assert!(failure.is_non_retryable());
        assert_eq!(failure.type_name(), Some(contracts::errors::INVALID_INPUT));
        assert_eq!(blocking("x", || 7).await.unwrap(), 7);
    }

    #[test]
    fn sweeps_only_old_activity_directories() {
        let root = tempfile::tempdir().unwrap();
        let old = root.path().join("activity-old");
        let fresh = root.path().join("activity-fresh");
        let other = root.path().join("unrelated");
        for dir in [&old, &fresh, &other] {
            std::fs::create_dir(dir).unwrap();
            std::fs::write(dir.join("source"), b"x").unwrap();
        }
        let long_ago = std::time::SystemTime::now() - Duration::from_secs(3 * 24 * 3600);
        for dir in [&old, &other] {
            std::fs::File::open(dir).unwrap().set_modified(long_ago).unwrap();
        }
        let scratch = Scratch::open(root.path().to_owned()).unwrap();
        assert!(!old.exists());
        assert!(fresh.exists() && other.exists());
        let dir = scratch.dir().unwrap();
        assert!(dir.path().starts_with(root.path()));
    }
}
