# Infinity (https://github.com/michaelfeil/infinity), the embedding server we compare with,
# serving the same packaged all-MiniLM-L6-v2 directory offline. Sourced by run_cpu.sh
# (its PEERS section) and run by `make bench-peers`:
#   infinity_install           its own venv (INFINITY_VENV, ignored by git), pinned
#   infinity_start PORT        serve on 127.0.0.1:PORT under /v1 (loadgen's path), wait for it
#   infinity_stop              stop what infinity_start started
# Its own venv because its pins (numpy<2, sentence-transformers<4, transformers<5) must never
# touch ours; torch is the same local CPU wheel (constraints below), so both servers run the
# same kernels and only the serving around them differs.
INFINITY_VERSION=${INFINITY_VERSION:-0.0.78}
INFINITY_VENV=${INFINITY_VENV:-$ROOT/.run/venv-infinity}
INFINITY_ENGINE=${INFINITY_ENGINE:-torch}
INFINITY_PID=

infinity_install() {
  local stamp=$INFINITY_VENV/.installed-$INFINITY_VERSION
  [[ -f $stamp ]] && return 0
  [[ -x $INFINITY_VENV/bin/python ]] || python3.11 -m venv "$INFINITY_VENV"
  "$INFINITY_VENV/bin/python" -m pip install -q pip==26.3
  # The torch pin of constraints.txt: pip's find-links has its CPU wheel (PyPI's pulls CUDA).
  grep '^torch==' "$ROOT/constraints.txt" >"$INFINITY_VENV/constraints.txt"
  "$INFINITY_VENV/bin/python" -m pip install -q -c "$INFINITY_VENV/constraints.txt" \
    "infinity-emb[server,torch]==$INFINITY_VERSION"
  touch "$stamp"
}

infinity_start() { # PORT
  local port=$1 model_dir
  model_dir=$("$PY" -c 'from deployments.model_manifest import resolve_source as r; print(r("'"$MODEL_SOURCE"'"))')
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 INFINITY_ANONYMOUS_USAGE_STATS=0 DO_NOT_TRACK=1 \
    "$INFINITY_VENV/bin/infinity_emb" v2 --model-id "$model_dir" \
    --served-model-name all-MiniLM-L6-v2 --engine "$INFINITY_ENGINE" --device cpu \
    --host 127.0.0.1 --port "$port" --url-prefix /v1 --log-level warning \
    >"$OUT_DIR/infinity.log" 2>&1 &
  INFINITY_PID=$!
  for attempt in $(seq 240); do # loading torch + the model: up to two minutes on a busy box
    curl -sf -o /dev/null "http://127.0.0.1:$port/v1/embeddings" -H 'content-type: application/json' \
      -d '{"input": ["ready?"], "model": "all-MiniLM-L6-v2"}' && return 0
    kill -0 "$INFINITY_PID" 2>/dev/null || { cat "$OUT_DIR/infinity.log" >&2 && return 1; }
    ((attempt < 240)) || { echo "infinity never answered on :$port" >&2 && return 1; }
    sleep 0.5
  done
}

infinity_stop() {
  [[ -n $INFINITY_PID ]] || return 0
  kill "$INFINITY_PID" 2>/dev/null || true
  wait "$INFINITY_PID" 2>/dev/null || true
  INFINITY_PID=
}
