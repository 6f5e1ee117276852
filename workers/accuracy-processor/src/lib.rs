//! Accuracy processor worker (accuracy-processor queue): computes the quality metrics of one
//! tile of a navad image per `ComputeTileMetrics` activity. The dispatcher fans a whole grid of
//! tiles out at once, so running more processor workers spreads an image over more machines.
//!
//! The metric functions live in [`metrics`], pure, for the tests and the benchmark harness.

pub mod activities;
pub mod metrics;

use activities::ProcessorActivities;
use std::sync::atomic::{AtomicU32, Ordering};
use temporalio_sdk::WorkerOptions;

/// Registrations so far in this process (see [`worker_identity`]).
static REGISTRATIONS: AtomicU32 = AtomicU32::new(0);

/// `hostname:pid/n`, where `n` counts the processor workers registered in this process.
///
/// The SDK's `ActivityInfo` does not expose the polling worker's identity, and the client's
/// default identity (`pid@hostname`) is the same for every worker of a process, so each
/// registration takes its own number: two in-process workers (tests, the embedded stack) report
/// two identities, and so do two processes or machines.
pub fn worker_identity() -> String {
    let n = REGISTRATIONS.fetch_add(1, Ordering::Relaxed) + 1;
    let host = gethostname::gethostname();
    format!("{}:{}/{n}", host.to_string_lossy(), std::process::id())
}

/// Registers this worker's activities (it has no workflows).
pub fn register(options: &mut WorkerOptions, services: &fleet::Services) -> anyhow::Result<()> {
    let identity = worker_identity();
    tracing::info!(%identity, "accuracy processor registered");
    options.register_activities(ProcessorActivities::new(services.storage.clone(), identity));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn identities_differ_per_registration() {
        let (a, b) = (super::worker_identity(), super::worker_identity());
        assert_ne!(a, b);
        assert!(a.contains(&format!(":{}/", std::process::id())), "{a}");
    }
}
