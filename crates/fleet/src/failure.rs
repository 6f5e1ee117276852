//! Turning errors into Temporal failures and back: activities fail with a typed
//! [`ApplicationFailure`] (non-retryable for bad input, retryable for transient faults), and
//! workflows read the root cause of a failed activity or child to report it.

use contracts::errors;
use contracts::settings::ActivitySettings;
use std::fmt::Display;
use temporalio_common::RetryPolicy;
use temporalio_common::error::{ActivityExecutionError, ApplicationFailure, ChildWorkflowExecutionError};
use temporalio_common::protos::temporal::api::failure::v1::{Failure, failure::FailureInfo};
use temporalio_sdk::activities::ActivityError;
use temporalio_sdk::{ActivityOptions, WorkflowTermination};

fn failure(type_name: &str, non_retryable: bool, message: String) -> ActivityError {
    ActivityError::application(ApplicationFailure::builder(message).type_name(type_name.to_owned()).non_retryable(non_retryable).build())
}

/// Bad input, named by `subject` (an object URI, a file name): never retried.
pub fn invalid_input(subject: impl Display, reason: impl Display) -> ActivityError {
    failure(errors::INVALID_INPUT, true, format!("{subject}: {reason}"))
}

/// A missing object or bucket, named by `subject`: never retried.
pub fn not_found(subject: impl Display, reason: impl Display) -> ActivityError {
    failure(errors::NOT_FOUND, true, format!("{subject}: {reason}"))
}

/// A remote service refused the request for good: never retried.
pub fn rejected(subject: impl Display, reason: impl Display) -> ActivityError {
    failure(errors::REJECTED, true, format!("{subject}: {reason}"))
}

/// A transient fault: retried under the activity's retry policy.
pub fn transient(subject: impl Display, reason: impl Display) -> ActivityError {
    failure(errors::TRANSIENT, false, format!("{subject}: {reason}"))
}

/// A workflow request no retry can fix: the run fails at once, non-retryably, as
/// `InvalidInput`. `message` names the input and the problem.
pub fn invalid_request(message: impl Display) -> WorkflowTermination {
    WorkflowTermination::failed_application(
        ApplicationFailure::builder(message.to_string()).type_name(errors::INVALID_INPUT.to_owned()).non_retryable(true).build(),
    )
}

/// An `InvalidInput` root cause that a workflow records in an outcome by itself (a bad key
/// derived from an input, say), without an activity having failed.
pub fn invalid_input_cause(subject: impl Display, reason: impl Display) -> RootCause {
    RootCause { error_type: Some(errors::INVALID_INPUT.to_owned()), message: format!("{subject}: {reason}") }
}

/// The root cause of a failure chain: the innermost message and application error type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootCause {
    /// Application error type (`InvalidInput`, ...) when the root is an application failure.
    pub error_type: Option<String>,
    /// The innermost message.
    pub message: String,
}

/// Walks a failure's `cause` chain to its innermost entry.
pub fn root_cause(failure: &Failure) -> RootCause {
    let mut current = failure;
    while let Some(cause) = current.cause.as_deref() {
        current = cause;
    }
    let error_type = match &current.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(info)) if !info.r#type.is_empty() => Some(info.r#type.clone()),
        Some(FailureInfo::TimeoutFailureInfo(_)) => Some("Timeout".to_owned()),
        Some(FailureInfo::CanceledFailureInfo(_)) => Some(errors::CANCELLED.to_owned()),
        _ => None,
    };
    RootCause { error_type, message: current.message.clone() }
}

/// Root cause of a failed activity, as seen by the calling workflow.
pub fn activity_root_cause(err: &ActivityExecutionError) -> RootCause {
    err.failure().map(root_cause).unwrap_or_else(|| RootCause { error_type: None, message: err.to_string() })
}

/// Root cause of a failed child workflow, as seen by the parent.
pub fn child_root_cause(err: &ChildWorkflowExecutionError) -> RootCause {
    err.failure().map(root_cause).unwrap_or_else(|| RootCause { error_type: None, message: err.to_string() })
}

/// Activity options on `task_queue` from plain settings (timeouts, heartbeat, retry policy).
pub fn activity_options(settings: &ActivitySettings, task_queue: impl Into<String>) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(settings.start_to_close())
        .task_queue(task_queue.into())
        .maybe_heartbeat_timeout(settings.heartbeat_timeout())
        .retry_policy(retry_policy(&settings.retry))
        .build()
}

/// Temporal retry policy from plain settings.
pub fn retry_policy(retry: &contracts::settings::RetrySettings) -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(std::time::Duration::from_millis(retry.initial_interval_ms))
        .backoff_coefficient(retry.backoff_coefficient)
        .maximum_interval(std::time::Duration::from_millis(retry.maximum_interval_ms))
        .maximum_attempts(retry.maximum_attempts)
        .non_retryable_error_types(retry.non_retryable_error_types.clone())
        .build()
}
