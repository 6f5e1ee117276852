//! What the batch engine (`crates/batch`) sends across a queue: one page of a prefix listing.
//! `AutomationPipeline` and `EnhanceBatch` both list through [`ListBatchPage`], each on its own
//! queue.

use crate::ObjectRef;
use crate::object::PrefixRef;
use serde::{Deserialize, Serialize};

/// Input of [`ListBatchPage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ListPageRequest {
    /// Bucket and prefix.
    pub location: PrefixRef,
    /// List keys after this one.
    pub start_after: Option<String>,
    /// Most keys to read (images and others).
    pub max_keys: u32,
}

/// A page of a prefix listing: the image keys among the keys read. Sidecars, other files and
/// the fleet's own outputs are skipped and counted where they lie, so a batch that resumes
/// mid-page counts each skipped key once. (Pages recorded before the counts existed read as 0.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ListPage {
    /// The images, in key order.
    pub objects: Vec<ObjectRef>,
    /// For each image, the keys skipped between it and the previous image of the page.
    #[serde(default)]
    pub skipped_before: Vec<u64>,
    /// Keys skipped after the page's last image.
    #[serde(default)]
    pub skipped_after: u64,
    /// Continue after this key; `None` when the listing is complete.
    pub next_after: Option<String>,
}

crate::activity_contract!(
    /// Lists one page of a batch prefix (on the queue of the batch workflow that asks).
    ListBatchPage = "ListBatchPage", ListPageRequest => ListPage
);
