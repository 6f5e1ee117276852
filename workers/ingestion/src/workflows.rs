//! Workflows of the ingestion queue.

use contracts::automation::{ImageMetadata, IngestImage, IngestRequest, ValidateImage};
use contracts::checksum::{ChecksumObject, ChecksumRequest, ChecksumResult, DigestObject, ResolveChecksumRequest};
use contracts::submitted::Submitted;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

/// `ChecksumObject`: digests one object and writes its `.sha256` sidecar.
#[workflow]
#[derive(Default)]
pub struct ChecksumWorkflow;

#[workflow_methods]
impl ChecksumWorkflow {
    /// Runs the digest activity on this workflow's own queue.
    #[run(name = ChecksumObject::NAME)]
    pub async fn run(ctx: &mut WorkflowContext<Self>, request: Submitted<ChecksumRequest>) -> WorkflowResult<ChecksumResult> {
        let request = fleet::requests::resolve(ctx, ResolveChecksumRequest, request).await?;
        let options = fleet::failure::activity_options(&request.activity, ctx.task_queue().to_owned());
        Ok(ctx.execute_activity(DigestObject, request.object, options).await?)
    }
}

/// `IngestImage`: validates one navad image and writes its metadata JSON. A workflow of its own
/// (rather than an activity the orchestrator calls) so ingestion can be run, retried and
/// inspected on its own in the Web UI.
#[workflow]
#[derive(Default)]
pub struct IngestImageWorkflow;

#[workflow_methods]
impl IngestImageWorkflow {
    /// Runs `ValidateImage` on this workflow's own queue with the request's timeouts and retries.
    #[run(name = IngestImage::NAME)]
    pub async fn run(ctx: &mut WorkflowContext<Self>, request: IngestRequest) -> WorkflowResult<ImageMetadata> {
        let options = fleet::failure::activity_options(&request.activity, ctx.task_queue().to_owned());
        Ok(ctx.execute_activity(ValidateImage, request, options).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implements_its_contract() {
        assert!(contracts::implements_submitted_workflow(&ChecksumWorkflow::run, &ChecksumObject));
        assert!(contracts::implements_workflow(&IngestImageWorkflow::run, &IngestImage));
    }
}
