#!/usr/bin/env bash
# Stop the Ray nodes started from this checkout (workers from add_worker.sh, then the
# head from start.sh, then the GCS's Redis from redis.sh), and nothing else.
#   stop.sh           keeps the cluster's Ray temp dir ($RAY_TMPDIR: session logs), as Ray does
#   stop.sh --purge   deletes it too: for the throwaway clusters of the tests and benchmarks,
#                     which otherwise leave ~8 MB each under /tmp
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/session.sh"
purge() {
  # Only the temp dirs env.sh derives, never a RAY_TMPDIR chosen by hand.
  if [[ $RAY_TMPDIR == /tmp/rsic-"$(id -u)"-* ]]; then
    rm -rf "$RAY_TMPDIR"
  fi
}
case ${1:-} in
  --purge) trap purge EXIT ;;
  "") ;;
  *) echo "usage: stop.sh [--purge]" >&2 && exit 2 ;;
esac
shopt -s nullglob
for sid_file in "$RUN_DIR"/worker-*.sid; do
  name=$(basename "$sid_file" .sid)
  stop_session "$sid_file" "ray $name"
done
# The GCS's Redis (GCS_FT=redis) goes after the head, whatever GCS_FT says now.
stop_redis() {
  if [[ -f $RUN_DIR/redis/redis.pid ]]; then "$(dirname "$0")/redis.sh" stop; fi
}
if [[ ! -f $RUN_DIR/head.sid ]]; then
  echo "no ray cluster started from this checkout"
  stop_redis
  exit 0
fi
stop_session "$RUN_DIR/head.sid" "ray cluster"
stop_redis
