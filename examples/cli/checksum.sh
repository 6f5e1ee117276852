#!/usr/bin/env bash
# ChecksumObject (ingestion queue): the SHA-256 of one object, and a <key>.sha256 sidecar beside it.
#
#   examples/cli/checksum.sh s3://fleet-inputs/uploads/up1/a.jpg [workflow-id]
#
# The whole input: {"object":{"bucket":"fleet-inputs","key":"uploads/up1/a.jpg"}}
set -euo pipefail
here=$(dirname "$0")
source "$here/s3.sh"
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 s3://bucket/key [workflow-id]" >&2; exit 2; }
object=$(object_json "$1")
exec "$here/start.sh" ChecksumObject "{\"object\":$object}" ${2:+"$2"}
