//! Connecting to Temporal, retrying with backoff while the server is not up yet.

use crate::config::FleetConfig;
use std::time::{Duration, Instant};
use temporalio_client::{Client, Connection};

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
