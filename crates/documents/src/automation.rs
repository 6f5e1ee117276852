//! What the image automation pipeline writes: the batch's summary parts and summary, and the
//! name of each navad image's accuracy report.

/// Name of the accuracy report under an image's output prefix.
pub const ACCURACY_REPORT_NAME: &str = "accuracy-report.json";

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
