#!/usr/bin/env bash
# The test command: installs what is missing, builds every binary (the stack tests start real
# worker processes), then runs the whole suite against real Temporal and S3.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --workspace --bins
cargo test --workspace --no-fail-fast "$@"
