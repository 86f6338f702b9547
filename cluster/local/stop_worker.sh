#!/usr/bin/env bash
# Stop one worker node started by add_worker.sh (what losing a machine looks like to Ray).
# usage: stop_worker.sh INDEX
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/session.sh"
INDEX=${1:?usage: stop_worker.sh INDEX}
if [[ ! -f $RUN_DIR/worker-$INDEX.sid ]]; then
  echo "no worker $INDEX started from this checkout" >&2
  exit 1
fi
stop_session "$RUN_DIR/worker-$INDEX.sid" "ray worker-$INDEX"
