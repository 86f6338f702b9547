#!/usr/bin/env bash
# Start the local Ray head node for this checkout; does nothing if it already runs.
# All of its processes share one session id, recorded so stop.sh stops exactly them.
# WORKERS=N also starts N worker nodes on this machine (add_worker.sh; see env.sh).
set -euo pipefail
source "$(dirname "$0")/env.sh"
mkdir -p "$RUN_DIR" "$RAY_TMPDIR"
SID_FILE=$RUN_DIR/head.sid

running() { [[ -f $SID_FILE ]] && pgrep -s "$(cat "$SID_FILE")" >/dev/null 2>&1; }

start_workers() {
  for i in $(seq 1 "$WORKERS"); do
    "$(dirname "$0")/add_worker.sh" "$i"
  done
}

if running; then
  echo "ray head already running (session $(cat "$SID_FILE"), dashboard $RAY_DASHBOARD_ADDRESS)"
  start_workers
  exit 0
fi

# Token auth is on (env.sh): create the cluster token on first use, readable only by us.
if [[ -z ${RAY_AUTH_TOKEN:-} && ! -s ${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token} ]]; then
  (umask 077 && ray get-auth-token --generate >/dev/null)
  echo "generated a Ray cluster token in ${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}"
fi

if [[ $FAST_PATH == haproxy ]]; then
  # HAProxy sizes its file descriptors from maxconn (2 per connection plus its own, ~10.3k
  # for Ray's default of 4096) and refuses to start when the hard limit is lower; the real
  # "[ALERT]" line then hides under NOTICE lines in Ray's error. Raise our soft limit to
  # the hard one, and if even that is too low, shrink maxconn to fit instead of crashing.
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  nofile=$(ulimit -n)
  if [[ $nofile != unlimited && -z ${RAY_SERVE_HAPROXY_MAXCONN:-} ]] && ((nofile < 10400)); then
    export RAY_SERVE_HAPROXY_MAXCONN=$(((nofile - 200) / 2))
    echo "open-file limit $nofile: HAProxy maxconn lowered to $RAY_SERVE_HAPROXY_MAXCONN"
  fi
  mkdir -p "$HAPROXY_DIR" && chmod 700 "$HAPROXY_DIR" # its admin socket is mode 0666
fi

# setsid puts Ray in a session of its own. Its leader: with GCS_FT=redis the GCS supervisor
# (gcs_supervisor.sh: `ray start`, then restart the GCS when it dies); otherwise
# `ray start --block`. The Redis runs in a session of its own and outlives a head that
# dies, so a head started again finds its state (cluster/README.md).
if [[ $GCS_FT == redis ]]; then
  "$(dirname "$0")/redis.sh" start
  # A head started again beside a worker node that survived it: `ray start --head` refuses
  # while the last head's address (ray_current_cluster) is still named by a local Ray
  # process (the worker's), though no GCS runs there. This head is not running (above).
  rm -f "$RAY_TMPDIR/ray/ray_current_cluster"
  leader=("$(dirname "$0")/gcs_supervisor.sh" "$SID_FILE")
  ray_flags=(--redis-password "$(cat "$REDIS_PASSWORD_FILE")")
else
  leader=(bash -c 'echo $$ > "$0"; exec "$@"' "$SID_FILE")
  ray_flags=(--block)
fi
setsid "${leader[@]}" \
  ray start --head "${ray_flags[@]}" \
  --port "$RAY_PORT" \
  --dashboard-host 127.0.0.1 --dashboard-port "$DASHBOARD_PORT" \
  --metrics-export-port "$METRICS_PORT" \
  --ray-client-server-port "$CLIENT_PORT" \
  --dashboard-agent-listen-port "$AGENT_PORT" \
  --dashboard-agent-grpc-port "$AGENT_GRPC_PORT" \
  --runtime-env-agent-port "$RUNTIME_ENV_AGENT_PORT" \
  --num-cpus "$HEAD_CPUS" \
  --disable-usage-stats \
  >"$RUN_DIR/head.log" 2>&1 </dev/null &
launcher=$!

for _ in $(seq 1 90); do
  # Ready = the GCS answers and the dashboard (which `serve deploy` talks to) serves HTTP.
  if ray status --address "127.0.0.1:$RAY_PORT" >/dev/null 2>&1 &&
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$RAY_DASHBOARD_ADDRESS/api/version") != 000 ]]; then
    echo "ray head up: gcs 127.0.0.1:$RAY_PORT, dashboard $RAY_DASHBOARD_ADDRESS, metrics :$METRICS_PORT, $HEAD_CPUS CPUs"
    start_workers
    exit 0
  fi
  if ! kill -0 "$launcher" 2>/dev/null; then
    echo "ray head failed to start; last lines of $RUN_DIR/head.log:" >&2
    tail -n 30 "$RUN_DIR/head.log" >&2
    rm -f "$SID_FILE"
    exit 1
  fi
  sleep 1
done
echo "ray head did not become ready in 90 s; see $RUN_DIR/head.log" >&2
exit 1
