#!/usr/bin/env bash
# One benchmark run on this machine's CPU, written to benchmarks/RESULTS.md:
#   1. the raw model ceiling (benchmarks/raw_model.py, in-process, before the cluster starts
#      so nothing else competes for the cores);
#   2. a private Ray cluster (cluster/local/start.sh with its own RUN_DIR and free ports,
#      as tests/live_cluster.py does), so it runs beside `make up` without touching it;
#   3. serve_config.yaml (the tuned app) deployed alone, closed-loop sweep with an admin
#      key (admin is not rate limited, so the 20 req/s default limit is not what we measure);
#   4. the naive app (benchmarks/naive_app.py) deployed alone in its place, the same sweep;
#   5. benchmarks/report.py: tables, ratios, plot. The cluster is stopped on exit.
# The apps run one at a time so neither's idle or autoscaled replicas skew the other's.
#
# Knobs (environment): CONCURRENCY (1,4,16,64)  DURATION (20)  WARMUP (5)  TEXTS (8)
#   WORDS (32)  PROCESSES (2)  BATCH_SIZES (1,8,32,128)  RAW_TEXTS (512)
#   OUT_DIR (benchmarks/out)  RESULTS (benchmarks/RESULTS.md)
# Smoke run:  CONCURRENCY=1,4 DURATION=3 WARMUP=1 RAW_TEXTS=32 BATCH_SIZES=1,8 \
#             RESULTS=/tmp/RESULTS.md benchmarks/run_cpu.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=$ROOT/.venv/bin/python
CONCURRENCY=${CONCURRENCY:-1,4,16,64}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
TEXTS=${TEXTS:-8}
WORDS=${WORDS:-32}
PROCESSES=${PROCESSES:-2}
BATCH_SIZES=${BATCH_SIZES:-1,8,32,128}
RAW_TEXTS=${RAW_TEXTS:-512}
OUT_DIR=${OUT_DIR:-$ROOT/benchmarks/out}
RESULTS=${RESULTS:-$ROOT/benchmarks/RESULTS.md}
mkdir -p "$OUT_DIR"

echo "== raw model ceiling"
"$PY" -m benchmarks.raw_model --batch-sizes "$BATCH_SIZES" --texts "$RAW_TEXTS" \
  --text-length "$WORDS" --json "$OUT_DIR/raw.json"

# A private cluster: every port free, its own run dir (and so its own RAY_TMPDIR and keys).
RUN_DIR=$(mktemp -d /tmp/rsic-bench-XXXXXX)
export RUN_DIR
read -r RAY_PORT DASHBOARD_PORT METRICS_PORT CLIENT_PORT AGENT_PORT AGENT_GRPC_PORT \
  RUNTIME_ENV_AGENT_PORT SERVE_PORT < <("$PY" - <<'PY'
import socket
socks = [socket.socket() for _ in range(8)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)
export RAY_PORT DASHBOARD_PORT METRICS_PORT CLIENT_PORT AGENT_PORT AGENT_GRPC_PORT \
  RUNTIME_ENV_AGENT_PORT SERVE_PORT
export RAY_DASHBOARD_ADDRESS=http://127.0.0.1:$DASHBOARD_PORT
export RSIC_API_KEYS_FILE=$RUN_DIR/api_keys.json
unset RAY_TMPDIR  # env.sh derives a short one from RUN_DIR
# Replicas inherit the environment of `ray start`: RSIC_API_KEYS_FILE must be set before it.
trap 'cluster/local/stop.sh || true; rm -rf "$RUN_DIR"' EXIT

echo "== private cluster on :$SERVE_PORT (run dir $RUN_DIR)"
# Default scopes include admin, which the rate limiter leaves alone.
API_KEY=$("$PY" -m deployments.manage_keys --file "$RSIC_API_KEYS_FILE" add bench 2>/dev/null | head -n 1)
cluster/local/start.sh

"$PY" - "$RUN_DIR" "$SERVE_PORT" <<'PY'
import sys
from pathlib import Path

import yaml

run_dir, port = Path(sys.argv[1]), int(sys.argv[2])
tuned = yaml.safe_load(Path("serve_config.yaml").read_text())
tuned["http_options"]["port"] = port
(run_dir / "tuned.yaml").write_text(yaml.safe_dump(tuned, sort_keys=False))
naive = {k: v for k, v in tuned.items() if k != "applications"}
naive["applications"] = [
    {"name": "naive", "route_prefix": "/", "import_path": "benchmarks.naive_app:app"}
]
(run_dir / "naive.yaml").write_text(yaml.safe_dump(naive, sort_keys=False))
PY

sweep() {  # LABEL [loadgen args...]
  local label=$1
  shift
  "$PY" -m benchmarks.loadgen --url "http://127.0.0.1:$SERVE_PORT" --concurrency "$CONCURRENCY" \
    --duration "$DURATION" --warmup "$WARMUP" --texts-per-request "$TEXTS" \
    --text-length "$WORDS" --processes "$PROCESSES" --label "$label" \
    --json "$OUT_DIR/$label.json" "$@"
}

echo "== tuned app (serve_config.yaml)"
cluster/local/deploy.sh "$RUN_DIR/tuned.yaml"
API_KEY=$API_KEY sweep tuned

echo "== naive app (benchmarks/naive_app.py)"
cluster/local/deploy.sh "$RUN_DIR/naive.yaml"
sweep naive --api-key ""

"$PY" -m benchmarks.report --raw "$OUT_DIR/raw.json" \
  --run "naive=$OUT_DIR/naive.json" --run "tuned=$OUT_DIR/tuned.json" --baseline naive \
  --command "CONCURRENCY=$CONCURRENCY DURATION=$DURATION WARMUP=$WARMUP TEXTS=$TEXTS WORDS=$WORDS PROCESSES=$PROCESSES benchmarks/run_cpu.sh" \
  --out "$RESULTS" --plot "$OUT_DIR/results.png"
