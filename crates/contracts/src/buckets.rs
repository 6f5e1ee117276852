//! Default buckets of the pipelines (every request can name others).

/// Where inputs are uploaded (images, videos, enhancement sources).
pub const INPUTS: &str = "fleet-inputs";
/// Where derived outputs go (reports, GeoJSON, enhanced images, frames, summaries).
pub const OUTPUTS: &str = "fleet-outputs";
