//! One feature set for every third-party crate of the workspace (managed by cargo-hakari), so a
//! build of any subset of packages (`cargo run -p starter`, `cargo test`) reuses one build.
