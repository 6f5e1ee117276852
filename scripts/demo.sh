#!/usr/bin/env bash
# The main job: installs what is missing, builds, brings up the embedded stack (Temporal dev
# server + Web UI, S3 endpoint, all workers) and runs every pipeline on generated samples.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --workspace --bins
# reuses that build: crates/workspace-hack gives `-p starter` the same features as --workspace
exec cargo run -q -p starter -- demo "$@"
