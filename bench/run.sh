#!/usr/bin/env bash
# The benchmark in one command: installs what is missing (system packages and the temporal CLI
# through scripts/setup.sh, the Python peer and the fleet's Python twin's dependencies into
# bench/.venv), builds the harness and the worker binaries of the image pipeline in release
# mode, and runs every section. Arguments go to the harness: `bench/run.sh --quick`,
# `bench/run.sh --sections kernel,video`, `bench/run.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

venv=bench/.venv
if [ ! -x "$venv/bin/python" ]; then
  echo "bench: creating $venv"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check -r bench/peer/requirements.txt; then
  echo "bench: could not install the Python peer (bench/peer/requirements.txt) from PyPI" >&2
  exit 1
fi

# Release builds of the harness (with its S3 endpoint and orchestration worker binaries) and of
# the worker binaries of the image automation pipeline and of the video worker, which the
# end-to-end and video-scale sections start (they look for them beside the harness, in
# target/release/).
cargo build --release -p bench -p orchestrator -p ingestion -p accuracy-dispatcher -p accuracy-processor -p geolocalization -p video --bins

exec target/release/bench --python "$venv/bin/python" "$@"
