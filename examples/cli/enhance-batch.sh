#!/usr/bin/env bash
# EnhanceBatch (enhancement queue): every image under a prefix, enhanced to the same names under
# the destination prefix; `progress` is queried while it runs.
#
#   examples/cli/enhance-batch.sh s3://fleet-inputs/x/ s3://fleet-outputs/enhanced/x/ [workflow-id]
#
# The whole input:
#   {"source":{"bucket":"fleet-inputs","prefix":"x/"},"destination":{"bucket":"fleet-outputs","prefix":"enhanced/x/"}}
set -euo pipefail
here=$(dirname "$0")
source "$here/s3.sh"
[ $# -ge 2 ] && [ $# -le 3 ] || { echo "usage: $0 s3://bucket/source-prefix/ s3://bucket/destination-prefix/ [workflow-id]" >&2; exit 2; }
source=$(prefix_json "$1")
destination=$(prefix_json "$2")
exec "$here/start.sh" EnhanceBatch "{\"source\":$source,\"destination\":$destination}" ${3:+"$3"}
