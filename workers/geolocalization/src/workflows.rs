//! Workflows of the geolocalization queue.

use contracts::automation::{ComputeFootprint, Footprint, Geolocalize, GeolocalizeRequest};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

/// `Geolocalize`: the satellite path of one image, georeferencing -> footprint GeoJSON.
#[workflow]
#[derive(Default)]
pub struct GeolocalizeWorkflow;

#[workflow_methods]
impl GeolocalizeWorkflow {
    /// Runs `ComputeFootprint` on this workflow's own queue (the geolocalization queue, prefix
    /// included) with the request's timeouts and retry policy.
    #[run(name = Geolocalize::NAME)]
    pub async fn run(ctx: &mut WorkflowContext<Self>, request: GeolocalizeRequest) -> WorkflowResult<Footprint> {
        let options = fleet::failure::activity_options(&request.activity, ctx.task_queue().to_owned());
        Ok(ctx.execute_activity(ComputeFootprint, request, options).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implements_its_contract() {
        assert!(contracts::implements_workflow(&GeolocalizeWorkflow::run, &Geolocalize));
    }
}
