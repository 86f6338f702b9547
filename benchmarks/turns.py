"""Pools the sweeps one server ran in turns with another into one sweep file.

This box's speed drifts by up to 2x within a minute (a fixed Python loop took 0.17-0.38 s
back to back), so two servers swept minutes apart compare the drift as much as the
servers: `make bench-peers` had this app at 2.05x Infinity's small-request throughput in
one run and 1.43x in the next, the same hour. run_cpu.sh (PEER_TURNS) therefore sweeps
this app and the peer in turns, each turn a short sweep of every concurrency, and this
pools each server's turns into the file report.py reads, as if one sweep:

* counts add up (requests, successes, errors, measured seconds), so req/s and items/s
  are the pooled rate over every turn;
* a latency percentile is the median of the turns' values (the turns' raw samples are
  not kept; a median of p99s is not a p99, but it is robust to one slow turn, and the
  file says so), the max the largest;
* client CPU is the mean; replica counts and stage breakdowns are the middle turn's;
* the in-process ceiling (raw_model.py files) takes its turn too, before this app's:
  texts and seconds summed per batch size.

    python -m benchmarks.turns --out tuned-small.json tuned-small-t1.json tuned-small-t2.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

PERCENTILE_KEYS = ("p50_ms", "p90_ms", "p99_ms", "mean_ms")


def pool_steps(turns: list[dict[str, Any]], items_per_request: int) -> dict[str, Any]:
    """One step (the same concurrency) of every turn, pooled."""
    middle = turns[len(turns) // 2]
    pooled = dict(middle)
    ok = sum(t["ok"] for t in turns)
    elapsed = sum(t["elapsed_s"] for t in turns)
    errors: dict[str, int] = {}
    for t in turns:
        for status, n in t["errors"].items():
            errors[status] = errors.get(status, 0) + n
    pooled |= {
        "requests": sum(t["requests"] for t in turns),
        "ok": ok,
        "errors": dict(sorted(errors.items())),
        "elapsed_s": elapsed,
        "req_per_s": ok / elapsed if elapsed else 0.0,
        "items_per_s": (ok / elapsed if elapsed else 0.0) * items_per_request,
        "client_cpu": statistics.fmean(t.get("client_cpu") or 0.0 for t in turns),
        "turns": len(turns),
    }
    for key in PERCENTILE_KEYS:
        values = [t[key] for t in turns if t.get(key) is not None]
        pooled[key] = statistics.median(values) if values else None
    maxes = [t["max_ms"] for t in turns if t.get("max_ms") is not None]
    pooled["max_ms"] = max(maxes) if maxes else None
    return pooled


def pool_raw(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """raw_model.py files (the same batch sizes in each), pooled: texts and seconds summed
    per batch size, the batch p50 the median of the turns'."""
    sizes = {tuple(s["batch_size"] for s in r["steps"]) for r in reports}
    if len(sizes) != 1:
        raise ValueError(f"the turns ran different batch sizes: {sorted(sizes)}")
    steps = []
    for i, first in enumerate(reports[0]["steps"]):
        turns = [r["steps"][i] for r in reports]
        texts = sum(t["texts"] for t in turns)
        elapsed = sum(t["elapsed_s"] for t in turns)
        steps.append(
            first
            | {
                "texts": texts,
                "batches": sum(t["batches"] for t in turns),
                "elapsed_s": elapsed,
                "texts_per_s": texts / elapsed if elapsed else 0.0,
                "batch_p50_ms": statistics.median(t["batch_p50_ms"] for t in turns),
            }
        )
    return reports[0] | {"steps": steps, "turns": len(reports)}


def pool(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Sweep files of one server (the same steps in each), or raw_model.py files of the
    in-process ceiling, pooled into one."""
    if not reports:
        raise ValueError("no turns to pool")
    if all("batch_size" in s for r in reports for s in r["steps"]):
        return pool_raw(reports)
    shapes = {tuple((s["mode"], s["concurrency"], s["rate"]) for s in r["steps"]) for r in reports}
    if len(shapes) != 1:
        raise ValueError(f"the turns swept different steps: {sorted(shapes)}")
    first = reports[0]
    items = first["workload"]["texts_per_request"]
    steps = [
        pool_steps([r["steps"][i] for r in reports], items) for i in range(len(first["steps"]))
    ]
    return first | {
        "steps": steps,
        "turns": len(reports),
        "pooling": "counts summed over the turns; latency percentiles: the median of the "
        "turns' values (benchmarks/turns.py)",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--label", default=None, help="the pooled sweep's label")
    parser.add_argument("turns", type=Path, nargs="+")
    args = parser.parse_args(argv)
    report = pool([json.loads(p.read_text()) for p in args.turns])
    if args.label:
        report["label"] = args.label
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
