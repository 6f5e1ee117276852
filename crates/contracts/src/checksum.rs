//! `ChecksumObject` (ingestion queue): reads an object over S3, computes its SHA-256 and writes
//! a `<key>.sha256` sidecar in `sha256sum` format beside it. The smallest real workflow of the
//! fleet: it proves a worker, the server and the object store work together.

use crate::{ObjectRef, settings::ActivitySettings};
use serde::{Deserialize, Serialize};

/// Input of [`ChecksumObject`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChecksumRequest {
    /// The object to digest.
    pub object: ObjectRef,
    /// Timeouts and retries of the digest activity.
    #[serde(default)]
    pub activity: ActivitySettings,
}

/// Output of [`ChecksumObject`] and of [`DigestObject`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChecksumResult {
    /// The digested object.
    pub object: ObjectRef,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// Where the sidecar was written.
    pub sidecar: ObjectRef,
}

crate::workflow_contract!(
    /// Digests one object and writes its checksum sidecar.
    ChecksumObject = "ChecksumObject", ChecksumRequest => ChecksumResult
);
crate::resolver_contract!(ResolveChecksumRequest = "ResolveChecksumRequest", ChecksumRequest);
impl crate::submitted::Resolve for ChecksumRequest {
    fn check(&self) -> Result<(), crate::submitted::InputError> {
        self.activity.check("activity")
    }
}
crate::activity_contract!(
    /// Reads the object, hashes it, writes the sidecar.
    DigestObject = "DigestObject", ObjectRef => ChecksumResult
);
