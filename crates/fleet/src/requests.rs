//! The first step of every workflow a client starts: resolving its submitted request (strict
//! parse, the fleet's defaults, checks; see `contracts::submitted`) in a local activity, so the
//! history keeps the request the run works with and a bad input fails the run on its first task
//! with the field named. Every worker registers [`RequestResolvers`].

use crate::failure::{activity_root_cause, invalid_input, invalid_request};
use contracts::automation::{AutomationRequest, ResolveAutomationRequest};
use contracts::checksum::{ChecksumRequest, ResolveChecksumRequest};
use contracts::enhancement::{EnhanceBatchRequest, EnhanceImageRequest, ResolveEnhanceBatchRequest, ResolveEnhanceImageRequest};
use contracts::errors;
use contracts::submitted::{Resolve, Submitted};
use contracts::video::{ResolveVideoRequest, VideoRequest};
use std::sync::Arc;
use std::time::Duration;
use temporalio_common::{ActivityDefinition, RetryPolicy};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{LocalActivityOptions, WorkflowContext, WorkflowResult};

/// Patch of the resolving step: runs started before it took the complete typed request as
/// their input and replay without the step.
pub const RESOLVED_REQUEST_PATCH: &str = "resolved-request";

/// Resolves `submitted` as the run's first step and returns the request the run works with:
/// from the local activity `resolver` (its result recorded in the history), or, for runs
/// recorded before the step existed, the complete request they were started with.
pub async fn resolve<W, R, T>(ctx: &WorkflowContext<W>, resolver: R, submitted: Submitted<T>) -> WorkflowResult<T>
where
    R: ActivityDefinition<Input = Submitted<T>, Output = T>,
    T: Resolve,
{
    if !ctx.patched(RESOLVED_REQUEST_PATCH) {
        return submitted.recorded().map_err(invalid_request);
    }
    // Resolving is pure: one attempt, and only a lost worker (a timeout) is worth another.
    let options = LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(10))
        .retry_policy(RetryPolicy::builder().maximum_attempts(3).build())
        .summary("the submitted request, defaults filled in and checked".to_owned())
        .build();
    match ctx.execute_local_activity(resolver, submitted, options).await {
        Ok(request) => Ok(request),
        // A bad input fails the run as the request's fault, named; anything else (a worker lost
        // three times over) is the activity's failure, not the input's.
        Err(e) => match activity_root_cause(&e) {
            cause if cause.error_type.as_deref() == Some(errors::INVALID_INPUT) => Err(invalid_request(cause.message)),
            _ => Err(e.into()),
        },
    }
}

/// The resolved request, or a non-retryable `InvalidInput` failure naming the workflow's input
/// and the field.
fn resolved<T: Resolve>(workflow: &str, submitted: Submitted<T>) -> Result<T, ActivityError> {
    submitted.resolve().map_err(|e| invalid_input(format_args!("{workflow} input"), e))
}

pub use resolvers::RequestResolvers;

// The activities macro generates name constants without docs.
#[allow(missing_docs)]
mod resolvers {
    use super::*;

    /// The resolving local activities of every user-started workflow.
    pub struct RequestResolvers;

    #[activities]
    impl RequestResolvers {
        /// [`ResolveAutomationRequest`].
        #[activity(definition = ResolveAutomationRequest)]
        pub async fn automation(
            self: Arc<Self>,
            _ctx: ActivityContext,
            request: Submitted<AutomationRequest>,
        ) -> Result<AutomationRequest, ActivityError> {
            resolved(contracts::automation::AutomationPipeline::NAME, request)
        }

        /// [`ResolveEnhanceImageRequest`].
        #[activity(definition = ResolveEnhanceImageRequest)]
        pub async fn enhance_image(
            self: Arc<Self>,
            _ctx: ActivityContext,
            request: Submitted<EnhanceImageRequest>,
        ) -> Result<EnhanceImageRequest, ActivityError> {
            resolved(contracts::enhancement::EnhanceImage::NAME, request)
        }

        /// [`ResolveEnhanceBatchRequest`].
        #[activity(definition = ResolveEnhanceBatchRequest)]
        pub async fn enhance_batch(
            self: Arc<Self>,
            _ctx: ActivityContext,
            request: Submitted<EnhanceBatchRequest>,
        ) -> Result<EnhanceBatchRequest, ActivityError> {
            resolved(contracts::enhancement::EnhanceBatch::NAME, request)
        }

        /// [`ResolveVideoRequest`].
        #[activity(definition = ResolveVideoRequest)]
        pub async fn video(self: Arc<Self>, _ctx: ActivityContext, request: Submitted<VideoRequest>) -> Result<VideoRequest, ActivityError> {
            resolved(contracts::video::VideoPipeline::NAME, request)
        }

        /// [`ResolveChecksumRequest`].
        #[activity(definition = ResolveChecksumRequest)]
        pub async fn checksum(self: Arc<Self>, _ctx: ActivityContext, request: Submitted<ChecksumRequest>) -> Result<ChecksumRequest, ActivityError> {
            resolved(contracts::checksum::ChecksumObject::NAME, request)
        }
    }
}
