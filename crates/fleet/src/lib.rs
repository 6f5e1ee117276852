//! Shared runtime of every worker binary: configuration (environment, `.env`, `temporal.toml`),
//! the Temporal connection with retry, the worker bootstrap with graceful shutdown, S3 storage
//! logging, and the activity kit ([`kit`]) every worker's activities share. A worker's `main.rs`
//! is one call to [`worker_main`].
#![warn(missing_docs)]

pub mod config;
pub mod failure;
pub mod kit;
pub mod requests;
pub mod storage;
pub mod telemetry;
pub mod temporal;
pub mod versioning;
pub mod worker;

pub use config::{ConfigError, FleetConfig};
pub use storage::{ObjectVersion, Storage, StorageError};
pub use worker::{Register, RunningWorker, Services, run_worker, start_worker, worker_main};
