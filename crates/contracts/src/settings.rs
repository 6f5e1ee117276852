//! Activity timeouts and retry policies as plain data. The starter fills them from the
//! configuration and they travel in workflow inputs, so a workflow's behaviour never depends on
//! the environment of whichever worker replays it.

use crate::submitted::InputError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Retry policy of one activity (Temporal's exponential backoff).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RetrySettings {
    /// First retry delay, milliseconds.
    pub initial_interval_ms: u64,
    /// Multiplier of the delay between attempts.
    pub backoff_coefficient: f64,
    /// Longest delay between attempts, milliseconds.
    pub maximum_interval_ms: u64,
    /// Attempts in all, the first included; 0 means unlimited.
    pub maximum_attempts: u32,
    /// Application error types never retried (beyond failures already marked non-retryable).
    pub non_retryable_error_types: Vec<String>,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            initial_interval_ms: 1_000,
            backoff_coefficient: 2.0,
            maximum_interval_ms: 30_000,
            maximum_attempts: 5,
            non_retryable_error_types: vec![crate::errors::INVALID_INPUT.to_owned()],
        }
    }
}

/// Timeouts and retries of one activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ActivitySettings {
    /// Start-to-close timeout of one attempt, milliseconds.
    pub start_to_close_ms: u64,
    /// Heartbeat timeout, milliseconds; 0 for activities that do not heartbeat.
    pub heartbeat_ms: u64,
    /// Retry policy.
    pub retry: RetrySettings,
}

impl ActivitySettings {
    /// Settings with the given per-attempt timeout, no heartbeat and the default retry policy.
    pub fn with_timeout(start_to_close: Duration) -> Self {
        Self { start_to_close_ms: start_to_close.as_millis() as u64, heartbeat_ms: 0, retry: RetrySettings::default() }
    }

    /// Adds a heartbeat timeout.
    pub fn heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat_ms = heartbeat.as_millis() as u64;
        self
    }

    /// Start-to-close timeout.
    pub fn start_to_close(&self) -> Duration {
        Duration::from_millis(self.start_to_close_ms)
    }

    /// Heartbeat timeout, if any.
    pub fn heartbeat_timeout(&self) -> Option<Duration> {
        (self.heartbeat_ms > 0).then(|| Duration::from_millis(self.heartbeat_ms))
    }
}

impl ActivitySettings {
    /// Checks the timeouts and the retry policy of the settings at `field`.
    pub fn check(&self, field: &str) -> Result<(), InputError> {
        if self.start_to_close_ms == 0 {
            return Err(InputError::new(format!("{field}.start_to_close_ms"), "must be at least 1 (milliseconds)"));
        }
        let retry = &self.retry;
        if retry.initial_interval_ms == 0 {
            return Err(InputError::new(format!("{field}.retry.initial_interval_ms"), "must be at least 1 (milliseconds)"));
        }
        if !(retry.backoff_coefficient.is_finite() && retry.backoff_coefficient >= 1.0) {
            return Err(InputError::new(format!("{field}.retry.backoff_coefficient"), format!("{} must be at least 1", retry.backoff_coefficient)));
        }
        if retry.maximum_interval_ms < retry.initial_interval_ms {
            return Err(InputError::new(
                format!("{field}.retry.maximum_interval_ms"),
                format!("{} is below initial_interval_ms {}", retry.maximum_interval_ms, retry.initial_interval_ms),
            ));
        }
        Ok(())
    }
}

impl Default for ActivitySettings {
    fn default() -> Self {
        Self::with_timeout(Duration::from_secs(60))
    }
}
