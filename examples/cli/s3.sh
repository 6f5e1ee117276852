# Sourced by the pipeline scripts beside it: turns s3:// URIs into the JSON of the fleet's
# object references, e.g. `object_json s3://fleet-inputs/x/a.jpg` prints
# {"bucket":"fleet-inputs","key":"x/a.jpg"}. The worker checks buckets and keys (an unsafe key
# fails the run at once, naming the field); this only refuses what would break the JSON.

# Splits s3://bucket/rest into the globals `bucket` and `rest`.
s3_split() {
  local uri=$1
  case "$uri" in
    s3://?*/*) ;;
    *) echo "error: '$uri' is not an s3://bucket/key URI" >&2; exit 2 ;;
  esac
  case "$uri" in
    *'"'* | *'\'*) echo "error: '$uri': quotes and backslashes are not allowed in bucket names or keys" >&2; exit 2 ;;
  esac
  uri=${uri#s3://}
  bucket=${uri%%/*}
  rest=${uri#*/}
}

object_json() {
  s3_split "$1"
  [ -n "$rest" ] && [ "${rest%/}" = "$rest" ] || { echo "error: '$1' names no object (it ends with '/')" >&2; exit 2; }
  printf '{"bucket":"%s","key":"%s"}' "$bucket" "$rest"
}

prefix_json() {
  s3_split "$1"
  printf '{"bucket":"%s","prefix":"%s"}' "$bucket" "$rest"
}
