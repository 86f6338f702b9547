#!/usr/bin/env bash
# Stop the Ray head started by start.sh from this checkout, and nothing else.
set -euo pipefail
source "$(dirname "$0")/env.sh"
SID_FILE=$RUN_DIR/head.sid
if [[ ! -f $SID_FILE ]]; then
  echo "no ray cluster started from this checkout"
  exit 0
fi
sid=$(cat "$SID_FILE")
if pgrep -s "$sid" >/dev/null 2>&1; then
  pkill -TERM -s "$sid" || true
  for _ in $(seq 1 10); do
    pgrep -s "$sid" >/dev/null 2>&1 || break
    sleep 1
  done
  # Some Ray actors ignore SIGTERM while their owner is gone; `ray stop` does the same.
  pkill -KILL -s "$sid" 2>/dev/null || true
  for _ in $(seq 1 20); do
    pgrep -s "$sid" >/dev/null 2>&1 || break
    sleep 0.5
  done
  if pgrep -s "$sid" >/dev/null 2>&1; then
    echo "some ray processes of session $sid are still exiting: $(pgrep -s "$sid" | xargs)" >&2
  else
    echo "ray cluster stopped (session $sid)"
  fi
fi
rm -f "$SID_FILE"
