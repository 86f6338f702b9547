"""Turn one benchmark run's JSON files into benchmarks/RESULTS.md (+ a comparison plot).

    python -m benchmarks.report --raw raw.json --run tuned=tuned.json --run naive=naive.json \\
        --baseline naive --out benchmarks/RESULTS.md --plot benchmarks/results.png \\
        --command "benchmarks/run_cpu.sh"

Ratios: each run's items/s over the baseline run's at the same concurrency, and over
the raw model's best texts/s (the in-process ceiling: 100% would mean serving costs
nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks import loadgen


def _commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True)
        return sha + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b > 0 else "-"


def render(
    raw: dict[str, Any] | None, runs: dict[str, dict[str, Any]], baseline: str | None, command: str
) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- machine: {platform.node()}, {os.cpu_count()} CPUs ({_cpu_model()}), "
        f"Python {platform.python_version()}",
        f"- commit: {_commit()}",
        f"- command: `{command}`",
        "",
        "Client and server share this machine: the `client cpu` column says how much of",
        "its processes' CPU the load generator itself used (see benchmarks/README.md).",
        "",
    ]
    ceiling = 0.0
    if raw:
        ceiling = max(s["texts_per_s"] for s in raw["steps"])
        lines += [
            "## Raw model ceiling (in-process, no Serve)",
            "",
            f"{raw['workload']['texts']} texts of {raw['workload']['text_length']} words, "
            f"device {raw['machine']['device']}, {raw['machine']['torch_threads']} torch threads.",
            "",
            "| batch | texts/s | batch p50 ms |",
            "| ---: | ---: | ---: |",
        ]
        lines += [
            f"| {s['batch_size']} | {s['texts_per_s']:.1f} | {s['batch_p50_ms']:.1f} |"
            for s in raw["steps"]
        ]
        lines.append("")
    for label, run in runs.items():
        w = run["workload"]
        lines += [
            f"## {label}",
            "",
            f"`{run['command']}` — {w['texts_per_request']} texts/request of "
            f"{w['text_length']} words, engine {run['engine']}.",
            "",
            "```",
            loadgen.format_table(run["steps"]),
            "```",
            "",
        ]
    if baseline is not None and baseline in runs:
        lines += [f"## Ratios (items/s; baseline: {baseline})", ""]
        head = ["concurrency"]
        for label in runs:
            head += [f"{label} items/s", f"{label} p99 ms"]
            if label != baseline:
                head.append(f"{label} / {baseline}")
            if ceiling:
                head.append(f"{label} / raw ceiling")
        lines += ["| " + " | ".join(head) + " |", "|" + " ---: |" * len(head)]
        by_c = {label: {s["concurrency"]: s for s in r["steps"]} for label, r in runs.items()}
        for c in sorted(by_c[baseline]):
            row = [str(c)]
            for label in runs:
                s = by_c[label].get(c)
                if s is None:
                    row += (
                        ["-", "-"]
                        + (["-"] if label != baseline else [])
                        + (["-"] if ceiling else [])
                    )
                    continue
                row += [f"{s['items_per_s']:.1f}", loadgen._ms(s["p99_ms"])]
                if label != baseline:
                    row.append(_ratio(s["items_per_s"], by_c[baseline][c]["items_per_s"]))
                if ceiling:
                    row.append(f"{s['items_per_s'] / ceiling:.0%}")
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    p.add_argument("--raw", type=Path, help="raw_model.py --json output")
    p.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="LABEL=FILE",
        help="loadgen.py --json output, repeatable",
    )
    p.add_argument("--baseline", help="LABEL the ratios divide by")
    p.add_argument("--command", default="", help="the command that produced the run")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--plot", type=Path)
    args = p.parse_args(argv)
    runs = {}
    for item in args.run:
        label, _, path = item.partition("=")
        runs[label] = json.loads(Path(path).read_text())
    raw = json.loads(args.raw.read_text()) if args.raw else None
    args.out.write_text(render(raw, runs, args.baseline, args.command))
    if args.plot and runs:
        loadgen.plot({label: r["steps"] for label, r in runs.items()}, args.plot)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
