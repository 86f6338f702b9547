#!/usr/bin/env bash
# The benchmark on a GPU machine (see DEVELOPERS.md -> GPU): benchmarks/run_cpu.sh with
# PROFILE=gpu, writing benchmarks/RESULTS-gpu.md. On the lent machine, Ray comes from the
# bundle:  bash .gpu/install.sh && export PYTHONPATH=/tmp/site:$PYTHONPATH
#          PY=python3 benchmarks/run_gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PROFILE=gpu
export RESULTS=${RESULTS:-benchmarks/RESULTS-gpu.md}
export OUT_DIR=${OUT_DIR:-benchmarks/out/gpu}
exec benchmarks/run_cpu.sh
