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
# Text generation on the GPU (GENERATION=0 skips): a random-weight GPT-2-small-shaped model
# in fp16, in-process, the one-sequence baseline against continuous batching
# (benchmarks/generation.py). Untested so far: the development machine has no GPU.
if [[ ${GENERATION:-1} == 1 ]]; then
  "${PY:-.venv/bin/python}" -m deployments.examples.tiny_gpt2 --shape small --out .run/gpt2-small-random
  "${PY:-.venv/bin/python}" -m benchmarks.generation --setups sequential,continuous \
    --model-dir .run/gpt2-small-random --device cuda --dtype float16 \
    --out "$OUT_DIR/generation.json" --results "$RESULTS"
fi
# (run_cpu.sh's report keeps the generation section written above.)
GENERATION=0 exec benchmarks/run_cpu.sh
