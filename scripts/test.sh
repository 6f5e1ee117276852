#!/usr/bin/env bash
# The test command: installs what is missing, builds every binary (the stack tests start real
# worker processes) and every test in one build, then runs the whole suite against real Temporal
# and S3. One feature set for the whole workspace (crates/workspace-hack) means the `cargo test`
# commands below reuse that build: they compile nothing, they only run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# The validators the geolocalization tests run (GeoJSON, STAC JSON Schemas), pinned.
python3 -m pip install -q -r workers/geolocalization/tests/requirements.txt
# The Kubernetes manifest validator (jsonschema against the schemas vendored in deploy/k8s/schemas), pinned.
python3 -m pip install -q -r deploy/k8s/schemas/requirements.txt
# The Python client examples (temporalio, jsonschema) that tests/tests/clients.rs runs, pinned.
python3 -m pip install -q -r examples/python/requirements.txt
cargo build --workspace --bins --tests
# Each end-to-end test starts its own dev server, S3 endpoint and workers: at most two at once
# on a 2-core machine (with four at once, a test's dev server was seen to go away mid-test).
# RUST_TEST_THREADS overrides.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-2}"
cargo test --workspace --no-fail-fast "$@"
# The fault tests (tests/tests/faults.rs) kill worker processes, the dev server and the S3
# endpoint under a running fleet: slow, so a plain `cargo test` skips them (#[ignore]); the
# test command runs them too (same --workspace selection as above, so nothing is rebuilt).
cargo test --workspace --test faults --test hosts --no-fail-fast -- --ignored
