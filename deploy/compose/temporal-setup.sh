#!/bin/sh
# Creates the fleet's namespace and registers the custom search attributes its workflows
# upsert. Runs in the temporalio/admin-tools image once the server is healthy; safe to run
# again. SEARCH_ATTRIBUTES is a space-separated list of NAME=TYPE.
set -eu

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
NAMESPACE=${TEMPORAL_NAMESPACE:-default}
ATTEMPTS=${SETUP_ATTEMPTS:-30}

retry() {
  attempt=1
  until "$@"; do
    if [ "$attempt" -ge "$ATTEMPTS" ]; then
      echo "gave up after $ATTEMPTS attempts: $*" >&2
      return 1
    fi
    attempt=$((attempt + 1))
    sleep 5
  done
}

retry temporal operator cluster health --address "$TEMPORAL_ADDRESS"

if temporal operator namespace describe --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE exists"
else
  retry temporal operator namespace create --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE"
  echo "namespace $NAMESPACE created"
fi

registered() {
  temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" | grep -qw "$1"
}

for pair in ${SEARCH_ATTRIBUTES}; do
  name=${pair%%=*}
  type=${pair#*=}
  if registered "$name"; then
    echo "search attribute $name exists"
  else
    # The namespace may take a few seconds to reach every frontend after its creation.
    retry temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" -n "$NAMESPACE" --name "$name" --type "$type"
    echo "search attribute $name ($type) registered"
  fi
done
