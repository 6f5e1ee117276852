#!/usr/bin/env bash
# EnhanceImage (enhancement queue): one image enhanced (the worker's enhancer, local by
# default), uploaded to the destination and read back.
#
#   examples/cli/enhance-image.sh s3://fleet-inputs/x/a.jpg s3://fleet-outputs/enhanced/a.png [workflow-id]
#
# The whole input:
#   {"source":{"bucket":"fleet-inputs","key":"x/a.jpg"},"destination":{"bucket":"fleet-outputs","key":"enhanced/a.png"}}
set -euo pipefail
here=$(dirname "$0")
source "$here/s3.sh"
[ $# -ge 2 ] && [ $# -le 3 ] || { echo "usage: $0 s3://bucket/source-key s3://bucket/destination-key [workflow-id]" >&2; exit 2; }
source=$(object_json "$1")
destination=$(object_json "$2")
exec "$here/start.sh" EnhanceImage "{\"source\":$source,\"destination\":$destination}" ${3:+"$3"}
