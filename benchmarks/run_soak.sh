#!/usr/bin/env bash
# The soak (benchmarks/soak.py) in one command: mixed traffic for SOAK_DURATION seconds
# (default 1800), RSS of every Serve process each SOAK_SAMPLE_EVERY seconds (60), then
# soak.json, soak_rss.png and SOAK.md (the verdict) in SOAK_OUT (benchmarks/soak), and the
# verdict into SOAK_RESULTS' (benchmarks/RESULTS.md) "Soak" section.
#   default          a private cluster (own RUN_DIR and free ports, like run_cpu.sh) running
#                    serve_config.yaml, stopped afterwards
#   SOAK_URL=...     the running cluster of `make up` instead (API_KEY, RUN_DIR=.run and
#                    METRICS_PORT as env.sh has them)
# Knobs: SOAK_CONCURRENCY (8)  SOAK_MALLOC_ARENA_MAX (unset: glibc's default; set, it goes
# into the private cluster's `ray start` environment, which every replica inherits).
# Share the machine with nothing else: wrap it in the shared lock (flock /tmp/rsic-live.lock).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PY:-$ROOT/.venv/bin/python}
SOAK_DURATION=${SOAK_DURATION:-1800}
SOAK_SAMPLE_EVERY=${SOAK_SAMPLE_EVERY:-60}
SOAK_CONCURRENCY=${SOAK_CONCURRENCY:-8}
SOAK_OUT=${SOAK_OUT:-$ROOT/benchmarks/soak}
SOAK_RESULTS=${SOAK_RESULTS:-$ROOT/benchmarks/RESULTS.md} # its "Soak" section
soak() { # URL RUN_DIR METRICS_URL
  "$PY" -m benchmarks.soak --url "$1" --run-dir "$2" --metrics-url "$3" \
    --duration "$SOAK_DURATION" --sample-every "$SOAK_SAMPLE_EVERY" \
    --concurrency "$SOAK_CONCURRENCY" --out-dir "$SOAK_OUT" --results "$SOAK_RESULTS"
}

if [[ -n ${SOAK_URL:-} ]]; then
  source cluster/local/env.sh
  soak "$SOAK_URL" "$RUN_DIR" "http://127.0.0.1:$METRICS_PORT/metrics"
  exit
fi

# serve_config.yaml's predictors and generator (`make soak` builds them first).
[[ -f model_repository/tiny-gpt2/config.json ]] || { echo "run make models first" >&2; exit 1; }
RUN_DIR=$(mktemp -d /tmp/rsic-soak-XXXXXX)
export RUN_DIR
unset FAST_PATH RAY_TMPDIR
read -r RAY_PORT DASHBOARD_PORT METRICS_PORT CLIENT_PORT AGENT_PORT AGENT_GRPC_PORT \
  RUNTIME_ENV_AGENT_PORT SERVE_PORT HAPROXY_STATS_PORT HAPROXY_METRICS_PORT \
  FALLBACK_PROXY_PORT < <("$PY" -c '
from tests.support.live_cluster import free_port  # below the ephemeral range: see there
print(*(free_port() for _ in range(11)))')
export RAY_PORT DASHBOARD_PORT METRICS_PORT CLIENT_PORT AGENT_PORT AGENT_GRPC_PORT \
  RUNTIME_ENV_AGENT_PORT SERVE_PORT HAPROXY_STATS_PORT HAPROXY_METRICS_PORT FALLBACK_PROXY_PORT
export RAY_DASHBOARD_ADDRESS=http://127.0.0.1:$DASHBOARD_PORT
export RSIC_API_KEYS_FILE=$RUN_DIR/api_keys.json
[[ -z ${SOAK_MALLOC_ARENA_MAX:-} ]] || export MALLOC_ARENA_MAX=$SOAK_MALLOC_ARENA_MAX
cleanup() {
  cluster/local/stop.sh --purge || true
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT
# Default scopes include admin, which the rate limiter leaves alone.
API_KEY=$("$PY" -m deployments.security.manage_keys --file "$RSIC_API_KEYS_FILE" add soak 2>/dev/null | head -n 1)
echo "== private cluster on :$SERVE_PORT, run dir $RUN_DIR${MALLOC_ARENA_MAX:+, MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX}"
cluster/local/start.sh
"$PY" - "$SERVE_PORT" "$RUN_DIR/serve_config.yaml" <<'PY'
import sys
from pathlib import Path

import yaml

config = yaml.safe_load(Path("serve_config.yaml").read_text())
config["http_options"]["port"] = int(sys.argv[1])
Path(sys.argv[2]).write_text(yaml.safe_dump(config, sort_keys=False))
PY
cluster/local/deploy.sh "$RUN_DIR/serve_config.yaml"
API_KEY=$API_KEY soak "http://127.0.0.1:$SERVE_PORT" "$RUN_DIR" "http://127.0.0.1:$METRICS_PORT/metrics"
