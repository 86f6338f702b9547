"""Why the embedding replica grew in the soak: RSS of an OpenVINO forward pass fed many
input shapes, under the levers one would try.

Each variant runs in a fresh interpreter (RSS is per process): the exported all-MiniLM
ONNX file compiled as backends.OpenVinoForward compiles it, then ``--calls`` forward
passes of random [batch, sequence] shapes (batch 1..``--max-batch``, sequence 6..90
tokens, one seed for all variants), RSS read every ``--every`` calls.

  default     OpenVINO's defaults (a kernel cache of 5,000 shapes), exact lengths
  arena2      the same with glibc's MALLOC_ARENA_MAX=2
  cap0        CPU_RUNTIME_CACHE_CAPACITY=0: no kernel cache at all
  rounded8    lengths rounded up to a multiple of 8 (an eighth of the shapes)
  capped      exact lengths, a cache of backends.OPENVINO_SHAPE_CACHE shapes (what the
              replica runs)

    .venv/bin/python -m benchmarks.shape_memory [--calls 600] [--json out/shape_memory.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {"env": {}, "cache": None, "step": 1},
    "arena2": {"env": {"MALLOC_ARENA_MAX": "2"}, "cache": None, "step": 1},
    "cap0": {"env": {}, "cache": 0, "step": 1},
    "rounded8": {"env": {}, "cache": None, "step": 8},
    "capped": {"env": {}, "cache": "ours", "step": 1},
}


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGESIZE") / 2**20


def child(variant: str, onnx: Path, calls: int, max_batch: int, every: int) -> dict[str, Any]:
    import numpy as np
    import openvino as ov

    from deployments.models.embedding.backends import OPENVINO_SHAPE_CACHE

    v = VARIANTS[variant]
    config: dict[str, Any] = {"INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY"}
    cache = OPENVINO_SHAPE_CACHE if v["cache"] == "ours" else v["cache"]
    if cache is not None:
        config["CPU_RUNTIME_CACHE_CAPACITY"] = cache
    step = v["step"]
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(onnx)), "CPU", config)
    names = [p.get_any_name() for p in compiled.inputs]
    request = compiled.create_infer_request()
    rng = random.Random(0)
    rss = [(0, _rss_mib())]
    started = time.perf_counter()
    for i in range(1, calls + 1):
        rows, length = rng.randint(1, max_batch), rng.randint(6, 90)
        length = -(-length // step) * step
        request.infer({n: np.ones((rows, length), dtype=np.int64) for n in names})
        if i % every == 0:
            rss.append((i, _rss_mib()))
    return {"variant": variant, "rss_mib": rss, "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=600)
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--onnx", type=Path, default=None, help="default: model_repository's")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--json", type=Path)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    onnx = args.onnx or next((ROOT / "model_repository" / "embeddings").glob("*/model.onnx"))
    if args.child:
        print(json.dumps(child(args.child, onnx, args.calls, args.max_batch, args.every)))
        return
    runs = []
    for variant in args.variants.split(","):
        argv_child = [sys.executable, "-m", "benchmarks.shape_memory", "--child", variant]
        argv_child += ["--calls", str(args.calls), "--max-batch", str(args.max_batch)]
        argv_child += ["--every", str(args.every), "--onnx", str(onnx)]
        out = subprocess.run(
            argv_child,
            env=os.environ | VARIANTS[variant]["env"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        run = json.loads(out.strip().splitlines()[-1])
        runs.append(run)
        first, last = run["rss_mib"][1][1], run["rss_mib"][-1][1]
        print(
            f"{variant:>8}: RSS {run['rss_mib'][0][1]:.0f} MiB compiled, "
            f"{first:.0f} after {args.every} calls, {last:.0f} after {args.calls} "
            f"(+{last - first:.0f}), {run['seconds']:.1f} s",
            flush=True,
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(runs, indent=1) + "\n")


if __name__ == "__main__":
    main()
