#!/usr/bin/env bash
# Join one Ray worker node to a head: the local one from start.sh, or a remote one.
# usage: add_worker.sh [INDEX]      (INDEX: 1, 2, ...; default the first unused)
#   HEAD_ADDRESS (127.0.0.1:$RAY_PORT)  the head's GCS, e.g. 10.0.0.5:6379 for a remote head
#   WORKER_CPUS (1)                     CPUs this node offers to replicas
#   WORKER_RESOURCES ('{}')             custom resources, JSON, e.g. '{"model_node": 1}'
# Token auth as everywhere (env.sh): a remote head's token must be in ~/.ray/auth_token
# (or RAY_AUTH_TOKEN) on this machine. The node runs in a setsid session of its own,
# recorded in $RUN_DIR/worker-INDEX.sid, so stop_worker.sh INDEX and stop.sh stop it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
mkdir -p "$RUN_DIR" "$RAY_TMPDIR"

INDEX=${1:-}
if [[ -z $INDEX ]]; then
  INDEX=1
  while [[ -f $RUN_DIR/worker-$INDEX.sid ]]; do INDEX=$((INDEX + 1)); done
fi
SID_FILE=$RUN_DIR/worker-$INDEX.sid
LOG=$RUN_DIR/worker-$INDEX.log

if [[ -f $SID_FILE ]] && pgrep -s "$(cat "$SID_FILE")" >/dev/null 2>&1; then
  echo "ray worker-$INDEX already running (session $(cat "$SID_FILE"))"
  exit 0
fi

# Several nodes on one machine must not share the agents' fixed default ports (52365...),
# nor those of other clusters on it: every port of this node is a free one.
read -r metrics agent agent_grpc runtime_env < <(python - <<'PY'
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)

setsid bash -c 'echo $$ > "$0"; exec "$@"' "$SID_FILE" \
  ray start --block \
  --address "$HEAD_ADDRESS" \
  --num-cpus "$WORKER_CPUS" \
  --resources "$WORKER_RESOURCES" \
  --metrics-export-port "$metrics" \
  --dashboard-agent-listen-port "$agent" \
  --dashboard-agent-grpc-port "$agent_grpc" \
  --runtime-env-agent-port "$runtime_env" \
  --disable-usage-stats \
  >"$LOG" 2>&1 </dev/null &
launcher=$!

for _ in $(seq 1 90); do
  if grep -q "Ray runtime started" "$LOG" 2>/dev/null; then
    echo "ray worker-$INDEX up: joined $HEAD_ADDRESS with $WORKER_CPUS CPUs, metrics :$metrics"
    exit 0
  fi
  if ! kill -0 "$launcher" 2>/dev/null; then
    echo "ray worker-$INDEX failed to start; last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    rm -f "$SID_FILE"
    exit 1
  fi
  sleep 1
done
echo "ray worker-$INDEX did not join in 90 s; see $LOG" >&2
exit 1
