"""One loadgen run's output: the step table it prints, the JSON results file and the
throughput/p99 plot. report.py reuses the table and the plot for RESULTS.md.

Also the sections of RESULTS.md that other benchmarks own (autoscaling_ab.py,
generation.py, soak.py): each replaces its own section and leaves the rest, and
report.py's rewrite of the file keeps them.
"""

from __future__ import annotations

import os
import platform
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.workload import Workload


def run_report(
    label: str, command: str, work: Workload, engine: str, steps: list[dict]
) -> dict[str, Any]:
    """The JSON results file of one sweep, as report.py reads it; no API key in it."""
    return {
        "label": label,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "command": command,
        "workload": {k: v for k, v in asdict(work).items() if k != "api_key"},
        "engine": engine,
        "steps": steps,
    }


def _replicas(counts: list[int | None] | None) -> str:
    """`2`, or `1→2` when autoscaling changed the count during the step; `?` if unknown."""
    known = [c for c in counts or [] if c is not None]
    if not known:
        return "?"
    first, last = known[0], known[-1]
    return str(first) if first == last else f"{first}→{last}"


def format_table(steps: list[dict]) -> str:
    head = ["step", "req/s", "items/s", "p50 ms", "p90 ms", "p99 ms", "ok", "errors", "client cpu"]
    watched = any(s.get("replicas") for s in steps)
    if watched:
        head.append("replicas")
    rows = []
    for s in steps:
        step = f"c={s['concurrency']}" if s["mode"] == "closed" else f"{s['rate']:g}/s"
        errors = ", ".join(f"{k}:{v}" for k, v in s["errors"].items()) or "-"
        cpu = "-" if s.get("client_cpu") is None else f"{s['client_cpu']:.0%}"
        rows.append(
            [
                step,
                f"{s['req_per_s']:.1f}",
                f"{s['items_per_s']:.1f}",
                *(ms(s[f"p{p}_ms"]) for p in (50, 90, 99)),
                str(s["ok"]),
                errors,
                cpu,
                *([_replicas(s.get("replicas"))] if watched else []),
            ]
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def plot(runs: dict[str, list[dict]], out: Path) -> None:
    """Throughput and p99 latency against the step's load; one line per run (label)."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; no display on a server
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise SystemExit(
            "--plot needs matplotlib: pip install -c constraints.txt matplotlib"
        ) from e
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    xlabel = "concurrency"
    for label, steps in runs.items():
        closed = steps[0]["mode"] == "closed"
        xlabel = "concurrency" if closed else "offered rate (req/s)"
        xs = [s["concurrency"] if closed else s["rate"] for s in steps]
        ax1.plot(xs, [s["items_per_s"] for s in steps], marker="o", label=label)
        ax2.plot(xs, [s["p99_ms"] or float("nan") for s in steps], marker="o", label=label)
    for ax, ylabel in ((ax1, "items/s (2xx only)"), (ax2, "p99 latency (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


# Sections of RESULTS.md written by their own benchmark, not by report.py.
OWN_SECTIONS = ("## Autoscaling policy A/B", "## Text generation", "## Soak")


def _section_pattern(heading: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)


def write_section(results_md: Path, heading: str, section: str) -> None:
    """Replace (or append) the section under ``heading``; every other line stays."""
    assert section.startswith(heading + "\n"), "the section starts with its heading"
    text = results_md.read_text() if results_md.exists() else ""
    pattern = _section_pattern(heading)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    results_md.write_text(text.rstrip("\n") + "\n")


def keep_own_sections(old: str, new: str) -> str:
    """``new`` (report.py's RESULTS.md) with the OWN_SECTIONS of ``old`` appended, so
    `make bench` does not erase what `make soak` or the A/B wrote."""
    kept = [m.group(0).rstrip("\n") for h in OWN_SECTIONS if (m := _section_pattern(h).search(old))]
    return "\n\n".join([new.rstrip("\n"), *kept]) + "\n"
