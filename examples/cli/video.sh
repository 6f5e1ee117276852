#!/usr/bin/env bash
# VideoPipeline (video queue): analyse a video, extract sampled frames, thumbnails, scene cuts
# and a contact sheet under the output prefix; `progress` is queried while it runs.
#
#   examples/cli/video.sh s3://fleet-inputs/v/clip.mp4 s3://fleet-outputs/video/clip/ [sampling] [workflow-id]
#
# Sampling defaults to one frame per second; otherwise one of
#   '{"every_seconds":2.0}'   '{"every_nth_frame":10}'   '{"evenly":20}'
# The whole input:
#   {"video":{"bucket":"fleet-inputs","key":"v/clip.mp4"},"output":{"bucket":"fleet-outputs","prefix":"video/clip/"}}
set -euo pipefail
here=$(dirname "$0")
source "$here/s3.sh"
[ $# -ge 2 ] && [ $# -le 4 ] || { echo "usage: $0 s3://bucket/video-key s3://bucket/output-prefix/ ['{\"every_seconds\":2.0}'] [workflow-id]" >&2; exit 2; }
video=$(object_json "$1")
output=$(prefix_json "$2")
input="{\"video\":$video,\"output\":$output"
if [ -n "${3:-}" ]; then input+=",\"sampling\":$3"; fi
exec "$here/start.sh" VideoPipeline "$input}" ${4:+"$4"}
