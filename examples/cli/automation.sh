#!/usr/bin/env bash
# AutomationPipeline (orchestrator queue): a batch of aerial images, each validated and analysed
# (navad) or georeferenced (satellite); `progress` is queried while it runs.
#
#   examples/cli/automation.sh <batch-id> s3://fleet-inputs/uploads/up1/a.jpg ... [--kind navad|satellite]
#   examples/cli/automation.sh <batch-id> s3://fleet-inputs/uploads/up1/      (every image under a prefix)
#
# Without --kind each image's kind is detected. Outputs go to the fleet-outputs bucket. The whole
# input, for one navad image:
#   {"batch_id":"cli1","source":{"objects":[{"object":{"bucket":"fleet-inputs","key":"uploads/up1/a.jpg"},"kind":"navad"}]}}
# and for a prefix:
#   {"batch_id":"b2","source":{"prefix":{"location":{"bucket":"fleet-inputs","prefix":"uploads/up1/"}}}}
# The workflow id is automation-<batch-id>, as the Rust starter names it; WORKFLOW_ID overrides.
set -euo pipefail
here=$(dirname "$0")
source "$here/s3.sh"
usage() { echo "usage: $0 <batch-id> (s3://bucket/key ... [--kind navad|satellite] | s3://bucket/prefix/)" >&2; exit 2; }
[ $# -ge 2 ] || usage
batch_id=$1
shift
case "$batch_id" in *'"'* | *'\'*) echo "error: quotes and backslashes are not allowed in a batch id" >&2; exit 2 ;; esac
kind="" uris=()
while [ $# -gt 0 ]; do
  case "$1" in
    --kind) [ $# -ge 2 ] || usage; kind=$2; shift 2 ;;
    --kind=*) kind=${1#--kind=}; shift ;;
    *) uris+=("$1"); shift ;;
  esac
done
[ ${#uris[@]} -ge 1 ] || usage
case "$kind" in "" | navad | satellite) ;; *) echo "error: --kind is navad or satellite, not '$kind'" >&2; exit 2 ;; esac

if [ ${#uris[@]} -eq 1 ] && [ "${uris[0]%/}" != "${uris[0]}" ]; then
  [ -z "$kind" ] || { echo "error: --kind goes with object URIs; under a prefix each image's kind is detected" >&2; exit 2; }
  location=$(prefix_json "${uris[0]}")
  source_json="{\"prefix\":{\"location\":$location}}"
else
  objects=""
  for uri in "${uris[@]}"; do
    object=$(object_json "$uri")
    item="{\"object\":$object${kind:+,\"kind\":\"$kind\"}}"
    objects+=${objects:+,}$item
  done
  source_json="{\"objects\":[$objects]}"
fi
exec "$here/start.sh" AutomationPipeline "{\"batch_id\":\"$batch_id\",\"source\":$source_json}" "${WORKFLOW_ID:-automation-$batch_id}"
