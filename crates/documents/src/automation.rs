//! What the orchestrator writes for a batch: the summary parts and the summary.

use contracts::automation::{BatchTotals, ImageOutcome};
use serde::{Deserialize, Serialize};

/// The JSON document `WriteBatchSummary` writes: a run's part
/// (`automation/{batch_id}/summary/part-NNNN.json`) or the whole batch
/// (`automation/{batch_id}/summary.json`, every part merged in batch order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSummaryDocument {
    /// Totals recorded with the document (the whole batch's for the final summary).
    pub totals: BatchTotals,
    /// One outcome per image, in batch order.
    pub images: Vec<ImageOutcome>,
}
