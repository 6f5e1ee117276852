//! Custom search attributes the pipelines upsert so the Web UI can filter runs, e.g.
//! `ImageType = "satellite"`. The embedded dev server registers every one at start.

use temporalio_common::search_attributes::SearchAttributeKey;

/// `navad` or `satellite`.
pub const IMAGE_TYPE: SearchAttributeKey<String> = SearchAttributeKey::keyword("ImageType");
/// The pipeline stage a run is in (`ingestion`, `accuracy`, `geolocalization`, ...).
pub const PIPELINE_STAGE: SearchAttributeKey<String> = SearchAttributeKey::keyword("PipelineStage");
/// `running`, `completed` or `failed`.
pub const PIPELINE_STATUS: SearchAttributeKey<String> = SearchAttributeKey::keyword("PipelineStatus");

/// Every custom attribute with its Temporal type, as `temporal server start-dev
/// --search-attribute NAME=TYPE` takes them.
pub const ALL: [(&str, &str); 3] = [("ImageType", "Keyword"), ("PipelineStage", "Keyword"), ("PipelineStatus", "Keyword")];
