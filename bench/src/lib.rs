//! The parts of the benchmark harness its worker binary shares with it: the `BenchChain`
//! workflow ([`chain`]) and the client configuration ([`config`]). The harness itself is the
//! `bench` binary (src/main.rs); see bench/README.md.
#![warn(missing_docs)]

// The SDK's `#[activities]` / `#[workflow_methods]` macros add an undocumented `pub const` per
// activity and run method, next to the documented methods: allowed in this module only.
#[allow(missing_docs)]
pub mod chain;
pub mod config;
