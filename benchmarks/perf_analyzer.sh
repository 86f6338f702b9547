#!/usr/bin/env bash
# Triton's perf_analyzer, set up offline under .run/perf_analyzer/ (never in .venv):
#   benchmarks/perf_analyzer.sh install   # idempotent; prints the wrapper's path
# Only older tritonclient wheels ship the binary (2.34 to 2.42 checked; the locked 2.73 does
# not). 2.41.0's runs on this CPU box given Debian's libb64-0d and CUDA's runtime library,
# which it links even for HTTP: both come from package registries, nothing from elsewhere.
# tests/integration/test_tritonclient.py uses the wrapper when $RSIC_PERF_ANALYZER is unset.
set -euo pipefail
cd "$(dirname "$0")/.."
source cluster/local/debian.sh
TRITONCLIENT=2.41.0
CUDA_RUNTIME=12.9.79
DIR=.run/perf_analyzer
WRAPPER=$DIR/perf_analyzer
PY=${PY:-.venv/bin/python}

install() {
  if [[ -x $WRAPPER ]] && "$WRAPPER" --version >/dev/null 2>&1; then
    echo "$WRAPPER"
    return 0
  fi
  dpkg -s libb64-0d >/dev/null 2>&1 || apt_install /dev/null libb64-0d
  mkdir -p "$DIR/wheels"
  "$PY" -m pip download -q --no-deps --only-binary=:all: -d "$DIR/wheels" \
    "tritonclient[http]==$TRITONCLIENT" "nvidia-cuda-runtime-cu12==$CUDA_RUNTIME" 2>&1 |
    grep -v "^WARNING: Location" >&2 || true
  for wheel in "$DIR"/wheels/*.whl; do
    "$PY" -m zipfile -e "$wheel" "$DIR/unpacked"
  done
  local binary="$DIR/unpacked/tritonclient-$TRITONCLIENT.data/data/bin/perf_analyzer"
  chmod +x "$binary"
  cat >"$WRAPPER" <<WRAP
#!/bin/sh
LD_LIBRARY_PATH="$(pwd)/$DIR/unpacked/nvidia/cuda_runtime/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" \\
  exec "$(pwd)/$binary" "\$@"
WRAP
  chmod +x "$WRAPPER"
  "$WRAPPER" --version >/dev/null
  rm -rf "$DIR/wheels"
  echo "$WRAPPER"
}

case ${1:-} in
  install) install ;;
  *) echo "usage: $0 install" >&2; exit 2 ;;
esac
