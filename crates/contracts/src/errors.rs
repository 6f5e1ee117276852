//! Application error types the fleet's activities fail with. Workflows and clients match on
//! these names; retry policies list the non-retryable ones.

/// The input itself is bad (corrupt, empty, unsupported, absurd dimensions, bad georeferencing):
/// retrying cannot help.
pub const INVALID_INPUT: &str = "InvalidInput";
/// The object or bucket named by the input does not exist.
pub const NOT_FOUND: &str = "NotFound";
/// A remote service refused the request for good (bad credentials, bad request, policy).
pub const REJECTED: &str = "Rejected";
/// A transient fault (network, 5xx, throttling): retried with backoff.
pub const TRANSIENT: &str = "Transient";
/// The run was cancelled on request.
pub const CANCELLED: &str = "Cancelled";
