//! `AnalyzeAccuracy` (accuracy-dispatcher queue): split the image into tiles, measure every
//! tile in parallel on the accuracy-processor queue, aggregate the report.

use contracts::automation::validate_grid;
use contracts::automation::{
    AccuracyOutcome, AccuracyRequest, AnalyzeAccuracy, ComputeTileMetrics, ReportRequest, SplitRequest, SplitTiles, TileMetricsRequest,
    WriteAccuracyReport,
};
use contracts::{ObjectRef, Queue};
use documents::automation::ACCURACY_REPORT_NAME;
use fleet::failure::activity_options;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult, WorkflowTermination};

/// `AnalyzeAccuracy`: the navad accuracy analysis of one image.
#[workflow]
#[derive(Default)]
pub struct AnalyzeAccuracyWorkflow;

fn invalid_request(request: &AccuracyRequest, reason: impl std::fmt::Display) -> WorkflowTermination {
    fleet::failure::invalid_request(format!("{}: {reason}", request.image))
}

#[workflow_methods]
impl AnalyzeAccuracyWorkflow {
    /// SplitTiles (own queue) -> every ComputeTileMetrics at once (prefixed processor queue)
    /// -> WriteAccuracyReport (own queue).
    #[run(name = AnalyzeAccuracy::NAME)]
    pub async fn run(ctx: &mut WorkflowContext<Self>, request: AccuracyRequest) -> WorkflowResult<AccuracyOutcome> {
        validate_grid(request.tile_columns, request.tile_rows).map_err(|reason| invalid_request(&request, reason))?;
        let report = ObjectRef::under(&request.output_bucket, &request.output_prefix, ACCURACY_REPORT_NAME)
            .map_err(|e| invalid_request(&request, format!("bad output location: {e}")))?;
        let own_queue = ctx.task_queue().to_owned();
        let activities = &request.activities;

        let tiles = ctx
            .execute_activity(
                SplitTiles,
                SplitRequest {
                    image: request.image.clone(),
                    output_bucket: request.output_bucket.clone(),
                    output_prefix: request.output_prefix.clone(),
                    columns: request.tile_columns,
                    rows: request.tile_rows,
                },
                activity_options(&activities.split_tiles, own_queue.clone()),
            )
            .await?;

        // All tiles scheduled in the same workflow task, so the processors get them at once;
        // join_all over the SDK's own futures keeps the workflow deterministic.
        let processor_queue = Queue::AccuracyProcessor.beside(Queue::AccuracyDispatcher, ctx.task_queue());
        let measurements = tiles.into_iter().map(|tile| {
            ctx.execute_activity(
                ComputeTileMetrics,
                TileMetricsRequest { tile, blur_threshold: request.thresholds.min_laplacian_variance },
                activity_options(&activities.tile_metrics, processor_queue.clone()),
            )
        });
        let tiles = futures::future::join_all(measurements).await.into_iter().collect::<Result<Vec<_>, _>>()?;

        Ok(ctx
            .execute_activity(
                WriteAccuracyReport,
                ReportRequest {
                    image: request.image.clone(),
                    report,
                    columns: request.tile_columns,
                    rows: request.tile_rows,
                    tiles,
                    thresholds: request.thresholds.clone(),
                },
                activity_options(&activities.write_report, own_queue),
            )
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implements_its_contract() {
        assert!(contracts::implements_workflow(&AnalyzeAccuracyWorkflow::run, &AnalyzeAccuracy));
    }
}
