//! The fleet's task queues: one per worker binary.

use std::fmt;

/// A worker binary's task queue, before the deployment's prefix is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Queue {
    /// Parent workflows of the image automation pipeline.
    Orchestrator,
    /// Validation of navad flight images.
    Ingestion,
    /// Splits navad images into tiles and aggregates accuracy reports.
    AccuracyDispatcher,
    /// Computes per-tile quality metrics.
    AccuracyProcessor,
    /// Georeferencing of satellite images.
    Geolocalization,
    /// Image enhancement (local or OpenAI).
    Enhancement,
    /// Video analysis and frame extraction.
    Video,
}

impl Queue {
    /// Every queue, in the order the fleet starts its workers.
    pub const ALL: [Queue; 7] = [
        Queue::Orchestrator,
        Queue::Ingestion,
        Queue::AccuracyDispatcher,
        Queue::AccuracyProcessor,
        Queue::Geolocalization,
        Queue::Enhancement,
        Queue::Video,
    ];

    /// The queue's base name (also the worker's name).
    pub const fn base_name(self) -> &'static str {
        match self {
            Queue::Orchestrator => "orchestrator",
            Queue::Ingestion => "ingestion",
            Queue::AccuracyDispatcher => "accuracy-dispatcher",
            Queue::AccuracyProcessor => "accuracy-processor",
            Queue::Geolocalization => "geolocalization",
            Queue::Enhancement => "enhancement",
            Queue::Video => "video",
        }
    }

    /// The full task-queue name under a deployment prefix (`""` for none). Two fleets sharing a
    /// namespace use different prefixes.
    pub fn with_prefix(self, prefix: &str) -> String {
        format!("{prefix}{}", self.base_name())
    }

    /// The full name of this queue in the deployment whose `own` queue is named `own_task_queue`
    /// (a workflow's own task queue): the one way a workflow finds the queues of the other
    /// workers. The name is recorded in the workflow's history, so replays see the same value.
    pub fn beside(self, own: Queue, own_task_queue: &str) -> String {
        self.with_prefix(own_task_queue.strip_suffix(own.base_name()).unwrap_or_default())
    }

    /// Looks a queue up by its base name.
    pub fn from_base_name(name: &str) -> Option<Queue> {
        Queue::ALL.into_iter().find(|q| q.base_name() == name)
    }

    /// The worker binary that polls this queue.
    pub fn worker_binary(self) -> String {
        format!("{}-worker", self.base_name())
    }

    /// The workflow types the worker of this queue registers (the accuracy processor runs
    /// activities only).
    pub const fn workflow_types(self) -> &'static [&'static str] {
        use crate::{automation, checksum, enhancement, video};
        match self {
            Queue::Orchestrator => &[automation::AutomationPipeline::NAME, automation::ImagePipeline::NAME],
            Queue::Ingestion => &[automation::IngestImage::NAME, checksum::ChecksumObject::NAME],
            Queue::AccuracyDispatcher => &[automation::AnalyzeAccuracy::NAME],
            Queue::AccuracyProcessor => &[],
            Queue::Geolocalization => &[automation::Geolocalize::NAME],
            Queue::Enhancement => &[enhancement::EnhanceBatch::NAME, enhancement::EnhanceImage::NAME],
            Queue::Video => &[video::VideoPipeline::NAME],
        }
    }
}

impl fmt::Display for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_prefix() {
        for q in Queue::ALL {
            assert_eq!(Queue::from_base_name(q.base_name()), Some(q));
        }
        assert_eq!(Queue::AccuracyProcessor.with_prefix("blue-"), "blue-accuracy-processor");
        assert_eq!(Queue::Video.worker_binary(), "video-worker");
        assert_eq!(Queue::from_base_name("nope"), None);
        assert_eq!(Queue::Ingestion.beside(Queue::Orchestrator, "orchestrator"), "ingestion");
        assert_eq!(Queue::Ingestion.beside(Queue::Orchestrator, "blue-orchestrator"), "blue-ingestion");
        assert_eq!(Queue::AccuracyProcessor.beside(Queue::AccuracyDispatcher, "elsewhere"), "accuracy-processor");
    }

    #[test]
    fn every_workflow_type_has_one_queue() {
        let mut types: Vec<&str> = Queue::ALL.iter().flat_map(|q| q.workflow_types().iter().copied()).collect();
        let count = types.len();
        types.sort_unstable();
        types.dedup();
        assert_eq!(types.len(), count, "a workflow type registered on two queues");
        assert_eq!(count, 9);
    }
}
