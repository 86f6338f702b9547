#!/usr/bin/env bash
# Stop the Ray nodes started from this checkout (workers from add_worker.sh, then the
# head from start.sh), and nothing else.
set -euo pipefail
source "$(dirname "$0")/env.sh"
source "$(dirname "$0")/session.sh"
shopt -s nullglob
for sid_file in "$RUN_DIR"/worker-*.sid; do
  name=$(basename "$sid_file" .sid)
  stop_session "$sid_file" "ray $name"
done
if [[ ! -f $RUN_DIR/head.sid ]]; then
  echo "no ray cluster started from this checkout"
  exit 0
fi
stop_session "$RUN_DIR/head.sid" "ray cluster"
