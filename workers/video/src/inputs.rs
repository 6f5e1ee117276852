//! Videos downloaded once per worker: a run's analysis, its segments and later runs on the
//! same video share one local copy, checked against the object's entity tag on every use.

use contracts::ObjectRef;
use fleet::kit::Scratch;
use fleet::{ObjectVersion, Storage, StorageError};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use temporalio_sdk::activities::ActivityError;
use tokio::sync::OnceCell;

/// Copies kept while unused: enough for a segment to find the copy the one before it left on
/// this worker, few enough that scratch space stays bounded by a couple of videos.
const KEEP_UNUSED: usize = 2;

/// A downloaded video; the directory goes when the last user drops it.
#[derive(Debug)]
pub struct LocalCopy {
    _dir: tempfile::TempDir,
    /// The file.
    pub path: PathBuf,
}

struct Entry {
    object: ObjectRef,
    version: ObjectVersion,
    copy: Arc<OnceCell<Arc<LocalCopy>>>,
}

/// The worker's downloaded videos.
pub struct Inputs {
    storage: Storage,
    scratch: Scratch,
    /// Most recently used last.
    entries: Mutex<Vec<Entry>>,
}

impl Inputs {
    /// Downloads into `scratch` through `storage`.
    pub fn new(storage: Storage, scratch: Scratch) -> Self {
        Self { storage, scratch, entries: Mutex::new(Vec::new()) }
    }

    /// The local copy of `object`'s current version, downloaded unless this worker has it.
    /// Callers wanting the same version at once share one download.
    /// Storage failures become activity failures as everywhere ([`StorageError::into_activity_error`]).
    pub async fn get(&self, object: &ObjectRef) -> Result<Arc<LocalCopy>, ActivityError> {
        let version = self
            .storage
            .version(object)
            .await
            .and_then(|v| v.ok_or_else(|| StorageError::NotFound { object: object.to_string() }))
            .map_err(StorageError::into_activity_error)?;
        let cell = self.entry(object, version);
        let copy = cell
            .get_or_try_init(|| async {
                let dir = self.scratch.dir()?;
                let path = dir.path().join(format!("input.{}", extension(object)));
                self.storage.download_to_file(object, &path).await.map_err(StorageError::into_activity_error)?;
                Ok::<_, ActivityError>(Arc::new(LocalCopy { _dir: dir, path }))
            })
            .await?;
        Ok(copy.clone())
    }

    /// The entry for this version (moved to most recent), creating it and evicting unused
    /// ones past [`KEEP_UNUSED`].
    fn entry(&self, object: &ObjectRef, version: ObjectVersion) -> Arc<OnceCell<Arc<LocalCopy>>> {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Another version of the object is stale: forget it (users holding it keep their copy).
        entries.retain(|e| e.object != *object || e.version == version);
        let entry = match entries.iter().position(|e| e.object == *object) {
            Some(i) => entries.remove(i),
            None => Entry { object: object.clone(), version, copy: Arc::new(OnceCell::new()) },
        };
        let cell = entry.copy.clone();
        entries.push(entry);
        let in_use = |e: &Entry| Arc::strong_count(&e.copy) > 1 || e.copy.get().is_some_and(|c| Arc::strong_count(c) > 1);
        let mut unused = entries.iter().filter(|e| !in_use(e)).count();
        entries.retain(|e| {
            if unused > KEEP_UNUSED && !in_use(e) {
                unused -= 1;
                false
            } else {
                true
            }
        });
        cell
    }
}

/// The object's extension when it looks like one (FFmpeg probes the content anyway).
fn extension(object: &ObjectRef) -> String {
    object
        .file_name()
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|ext| (1..=5).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "bin".to_owned())
}
