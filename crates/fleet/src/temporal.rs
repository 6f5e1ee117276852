//! Connecting to Temporal, retrying with backoff while the server is not up yet.

use crate::config::FleetConfig;
use std::time::{Duration, Instant};
use temporalio_client::{Client, Connection, tonic};
use temporalio_common::protos::temporal::api::enums::v1::{TaskQueueKind, TaskQueueType};
use temporalio_common::protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_common::protos::temporal::api::workflowservice::v1::{DescribeTaskQueueRequest, DescribeTaskQueueResponse};

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The server did not answer within the configured connect timeout.
    #[error(
        "could not reach Temporal at {address} (namespace {namespace}) within {waited:?}: {last_error}. Is the server running? Check TEMPORAL_ADDRESS"
    )]
    Unreachable {
        /// Configured address.
        address: String,
        /// Configured namespace.
        namespace: String,
        /// How long we tried.
        waited: Duration,
        /// The last connection error.
        last_error: String,
    },
    /// The client options were refused.
    #[error("invalid Temporal client options: {0}")]
    Options(String),
}

/// Connects to the configured frontend, retrying with exponential backoff (250 ms doubling up
/// to 5 s) until `TEMPORAL_CONNECT_TIMEOUT_SECS` has passed.
pub async fn connect(config: &FleetConfig) -> Result<Client, ConnectError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        match Connection::connect(config.connection_options()).await {
            Ok(connection) => {
                return Client::new(connection, config.client_options()).map_err(|e| ConnectError::Options(e.to_string()));
            }
            Err(e) => {
                let waited = started.elapsed();
                if waited + delay > config.temporal.connect_timeout {
                    return Err(ConnectError::Unreachable {
                        address: config.temporal.address.clone(),
                        namespace: config.temporal.namespace.clone(),
                        waited,
                        last_error: e.to_string(),
                    });
                }
                tracing::warn!(address = %config.temporal.address, error = %e, retry_in = ?delay, "Temporal not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// What the server knows of one task queue for one task type (`Workflow` or `Activity`): its
/// pollers (identity, last access, build id) and, with `report_stats`, its backlog and rates.
/// The one call behind `starter status`, the bench's readiness checks and the host tests.
pub async fn describe_task_queue(
    client: &Client,
    namespace: &str,
    task_queue: &str,
    kind: TaskQueueType,
    report_stats: bool,
) -> Result<DescribeTaskQueueResponse, tonic::Status> {
    let request = DescribeTaskQueueRequest {
        namespace: namespace.to_owned(),
        task_queue: Some(TaskQueue { name: task_queue.to_owned(), kind: TaskQueueKind::Normal as i32, normal_name: String::new() }),
        task_queue_type: kind as i32,
        report_stats,
        ..Default::default()
    };
    Ok(client.connection().workflow_service().describe_task_queue(tonic::Request::new(request)).await?.into_inner())
}
