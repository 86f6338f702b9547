"""Turn one benchmark run's JSON files into benchmarks/RESULTS.md (+ comparison plots).

    python -m benchmarks.report --plan out/plan.json --out benchmarks/RESULTS.md \\
        --plot-dir benchmarks/out

The plan (written by run_cpu.sh) lists one section per workload, each with its raw-model
ceiling, its runs, the baseline run the ratios divide by and optionally a peer (another
embedding server, e.g. Infinity) that every other run is compared with at each concurrency.

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

from benchmarks import results
from benchmarks.workload import STAGES


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


def _raw_table(raw: dict[str, Any]) -> list[str]:
    lines = [
        f"In-process, no Serve: {raw['workload']['texts']} texts of "
        f"{raw['workload']['text_length']} words, device {raw['machine']['device']}, "
        f"{raw['machine']['torch_threads']} torch threads.",
        "",
        "| batch | texts/s | batch p50 ms |",
        "| ---: | ---: | ---: |",
    ]
    lines += [
        f"| {s['batch_size']} | {s['texts_per_s']:.1f} | {s['batch_p50_ms']:.1f} |"
        for s in raw["steps"]
    ]
    return [*lines, ""]


def _ratio_table(runs: dict[str, dict[str, Any]], baseline: str, ceiling: float) -> list[str]:
    head = ["concurrency"]
    for label in runs:
        head += [f"{label} items/s", f"{label} p99 ms"]
        if label != baseline:
            head.append(f"{label} / {baseline}")
        if ceiling:
            head.append(f"{label} / raw ceiling")
    lines = ["| " + " | ".join(head) + " |", "|" + " ---: |" * len(head)]
    by_c = {label: {s["concurrency"]: s for s in r["steps"]} for label, r in runs.items()}
    for c in sorted(by_c[baseline]):
        row = [str(c)]
        for label in runs:
            s = by_c[label].get(c)
            if s is None:
                blank = 2 + (label != baseline) + bool(ceiling)
                row += ["-"] * blank
                continue
            row += [f"{s['items_per_s']:.1f}", results.ms(s["p99_ms"])]
            if label != baseline:
                row.append(_ratio(s["items_per_s"], by_c[baseline][c]["items_per_s"]))
            if ceiling:
                row.append(f"{s['items_per_s'] / ceiling:.0%}")
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]


def _peak(run: dict[str, Any]) -> float:
    return max((s["items_per_s"] for s in run["steps"]), default=0.0)


def _bare_step(raw: dict[str, Any], batch_size: int) -> dict[str, Any] | None:
    """raw_model.py's step at `batch_size`, if it ran one."""
    return {s["batch_size"]: s for s in raw["steps"]}.get(batch_size)


def summarize_section(section: dict[str, Any]) -> dict[str, Any]:
    """The figures the goals are stated in, for one workload."""
    runs, baseline, raw = section["runs"], section.get("baseline"), section.get("raw")
    out: dict[str, Any] = {"title": section["title"]}
    if baseline in runs:
        for label, run in runs.items():
            if label != baseline:
                out[f"{label} / {baseline} (peak items/s)"] = _peak(run) / max(
                    _peak(runs[baseline]), 1e-9
                )
    if baseline in runs:
        top = max(s["concurrency"] for s in runs[baseline]["steps"])
        for label, run in runs.items():
            mine = {s["concurrency"]: s for s in run["steps"]}.get(top)
            theirs = {s["concurrency"]: s for s in runs[baseline]["steps"]}[top]
            if label != baseline and mine:
                out[f"{label} / {baseline} (items/s at c={top})"] = mine["items_per_s"] / max(
                    theirs["items_per_s"], 1e-9
                )
    if raw:
        ceiling = max(s["texts_per_s"] for s in raw["steps"])
        for label, run in runs.items():
            out[f"{label} / raw ceiling (peak)"] = _peak(run) / ceiling
    # A lone request against the same texts run in-process at the same batch size: what
    # serving adds. Measured against all cores and, when given, against the thread count
    # a model replica runs with (Ray sets OMP_NUM_THREADS from its num_cpus).
    for key, bare_raw in (("", raw), (" at the replica's threads", section.get("raw_replica"))):
        if not bare_raw:
            continue
        threads = bare_raw["machine"]["torch_threads"]
        for label, run in runs.items():
            size = run["workload"]["texts_per_request"]
            bare = _bare_step(bare_raw, size)
            c1 = {s["concurrency"]: s for s in run["steps"]}.get(1)
            if bare and c1 and c1.get("p50_ms") is not None:
                name = f"{label} c=1 p50 over the bare model call{key} ({threads} thr) (ms)"
                out[name] = c1["p50_ms"] - bare["batch_p50_ms"]
    out.update(_peer_figures(section))
    idle = _idle_gap(section)
    if idle:
        idle_ms, threads, back_to_back, after_idle = idle
        name = f"bare model call after {idle_ms:g} ms idle, over back to back ({threads} thr) (ms)"
        out[name] = after_idle - back_to_back
    return out


def _idle_gap(section: dict[str, Any]) -> tuple[float, int, float, float] | None:
    """(idle ms, threads, back-to-back p50, after-idle p50) of the bare call at batch 1,
    when the section has both runs (raw_model.py without and with --idle-ms)."""
    busy, idle = section.get("raw_replica"), section.get("raw_replica_idle")
    if not busy or not idle:
        return None
    back_to_back, after_idle = _bare_step(busy, 1), _bare_step(idle, 1)
    if not back_to_back or not after_idle:
        return None
    threads = idle["machine"]["torch_threads"]
    return (
        idle["workload"]["idle_ms"],
        threads,
        back_to_back["batch_p50_ms"],
        after_idle["batch_p50_ms"],
    )


def _idle_table(section: dict[str, Any]) -> list[str]:
    idle = _idle_gap(section)
    if not idle:
        return []
    idle_ms, threads, back_to_back, after_idle = idle
    return [
        f"### The bare model call, back to back and after idling ({threads} thr, batch 1)",
        "",
        "A served model idles between lone requests; benchmarks/raw_model.py --idle-ms sleeps "
        "before each call to see what that costs the call itself on this machine.",
        "",
        "| bare call | p50 ms |",
        "| --- | ---: |",
        f"| back to back | {back_to_back:.1f} |",
        f"| after {idle_ms:g} ms idle | {after_idle:.1f} |",
        "",
    ]


def _peer_figures(section: dict[str, Any]) -> dict[str, float]:
    """Each run (but the baseline) against the section's peer server, concurrency by
    concurrency: the goals are stated as ratios to it and p99 no higher than its."""
    runs, peer = section["runs"], section.get("peer")
    if peer not in runs:
        return {}
    theirs = {s["concurrency"]: s for s in runs[peer]["steps"]}
    out: dict[str, float] = {}
    for label, run in runs.items():
        if label in (peer, section.get("baseline")):
            continue
        for mine in run["steps"]:
            c = mine["concurrency"]
            other = theirs.get(c)
            if other is None:
                continue
            out[f"{label} / {peer} (items/s at c={c})"] = mine["items_per_s"] / max(
                other["items_per_s"], 1e-9
            )
            if mine.get("p99_ms") is not None and other.get("p99_ms") is not None:
                out[f"{label} p99 - {peer} p99 at c={c} (ms)"] = mine["p99_ms"] - other["p99_ms"]
            if c == 1 and mine.get("p50_ms") is not None and other.get("p50_ms") is not None:
                out[f"{label} p50 - {peer} p50 at c=1 (ms)"] = mine["p50_ms"] - other["p50_ms"]
    return out


def _format_figure(key: str, value: float) -> str:
    return f"{value:+.1f} ms" if key.endswith("(ms)") else f"{value:.2f}x"


def render(plan: dict[str, Any]) -> str:
    """RESULTS.md from a plan: sections (one workload each: raw ceiling, runs, baseline)."""
    lines = [
        "# Benchmark results",
        "",
        "Generated by `make bench` (benchmarks/run_cpu.sh); do not edit by hand.",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- machine: {platform.node()}, {os.cpu_count()} CPUs ({_cpu_model()}), "
        f"Python {platform.python_version()}",
        f"- commit: {_commit()}",
        f"- command: `{plan.get('command', '')}`",
        "",
        *plan.get("notes", []),
        "",
        "## Summary",
        "",
        "| workload | figure | value |",
        "| --- | --- | ---: |",
    ]
    for section in plan["sections"]:
        for key, value in summarize_section(section).items():
            if key != "title":
                lines.append(f"| {section['title']} | {key} | {_format_figure(key, value)} |")
    cold = plan.get("cold_start")
    if cold:
        lines.append(
            f"| cold start | `{cold['command']}` to the first 200 | {cold['seconds']:.1f} s |"
        )
    lines.append("")
    lines += _cpu_table(plan.get("cpu_cost") or {})
    for section in plan["sections"]:
        runs, baseline, raw = section["runs"], section.get("baseline"), section.get("raw")
        lines += [f"## {section['title']}", ""]
        if section.get("description"):
            lines += [section["description"], ""]
        ceiling = 0.0
        if raw:
            ceiling = max(s["texts_per_s"] for s in raw["steps"])
            lines += ["### Raw model ceiling", "", *_raw_table(raw)]
        for label, run in runs.items():
            w = run["workload"]
            lines += [
                f"### {label}",
                "",
                f"`{run['command']}` — {w['texts_per_request']} texts/request of "
                f"{w['text_length']} words, engine {run['engine']}.",
                "",
                "```",
                results.format_table(run["steps"]),
                "```",
                "",
            ]
        if baseline in runs:
            lines += [f"### Ratios (items/s; baseline: {baseline})", ""]
            lines += _ratio_table(runs, baseline, ceiling)
        lines += _idle_table(section)
        for label, run in runs.items():
            lines += _stage_table(label, run)
    return "\n".join(lines)


_STAGE_ROWS = {
    "client": "**client latency**",
    **{key: stage.label for key, stage in STAGES.items()},
}


def _stage_table(label: str, run: dict[str, Any]) -> list[str]:
    """Median ms per stage at each step, from the Server-Timing header of every answer."""
    steps = [s for s in run["steps"] if s.get("stages_ms")]
    if not steps:
        return []
    head = " | ".join(f"c={s['concurrency']}" for s in steps)
    lines = [
        f"### Where a request's time goes: {label} (p50 ms per stage)",
        "",
        "Each answer's `Server-Timing` header (deployments/ingress/server_timing.py) stamps the "
        "ingress, its wait for a call slot, the model call and the model replica's queue and "
        "forward pass; a stage is "
        "the median over requests of the part of its span the next one does not cover.",
        "",
        f"| stage | {head} |",
        "| --- |" + " ---: |" * len(steps),
    ]
    for key, name in _STAGE_ROWS.items():
        cells = " | ".join(f"{s['stages_ms'][key]:.2f}" for s in steps)
        lines.append(f"| {name} | {cells} |")
    return [*lines, ""]


def _cpu_table(reports: dict[str, dict[str, Any]]) -> list[str]:
    """CPU ms per request by process role, one column per app (benchmarks/cpu_cost.py)."""
    if not reports:
        return []
    first = next(iter(reports.values()))
    roles = sorted({role for r in reports.values() for role in r["cpu_ms_per_request"]})
    lines = [
        "## Where the CPU goes",
        "",
        f"CPU milliseconds per request ({first['texts_per_request']} text of "
        f"{first['text_length']} words, {first['requests']} requests at concurrency "
        f"{first['concurrency']}), by process role, from /proc (benchmarks/cpu_cost.py).",
        "",
        "| role | " + " | ".join(reports) + " |",
        "| --- |" + " ---: |" * len(reports),
    ]
    for role in roles:
        cells = [f"{r['cpu_ms_per_request'].get(role, 0.0):.2f}" for r in reports.values()]
        lines.append(f"| {role} | " + " | ".join(cells) + " |")
    totals = [f"**{r['total_cpu_ms_per_request']:.2f}**" for r in reports.values()]
    lines.append("| **total** | " + " | ".join(totals) + " |")
    return [*lines, "", *_profile_table(reports)]


def _profile_table(reports: dict[str, dict[str, Any]]) -> list[str]:
    """Inside the replicas: py-spy's samples by what they were doing (cpu_cost.py)."""
    columns = [
        (f"{label} {role}", shares)
        for label, r in reports.items()
        for role, shares in sorted((r.get("profile") or {}).items(), reverse=True)
    ]
    if not columns:
        return []
    buckets = sorted(
        {b for _, shares in columns for b in shares},
        key=lambda b: -max(shares.get(b, 0.0) for _, shares in columns),
    )
    lines = [
        "Inside the replicas, under the same load: share of py-spy's samples by what the "
        "process was doing (innermost known frame; `cpu_cost.py --profile-seconds`).",
        "",
        "| doing | " + " | ".join(name for name, _ in columns) + " |",
        "| --- |" + " ---: |" * len(columns),
    ]
    for b in buckets:
        cells = [f"{shares.get(b, 0.0):.0%}" for _, shares in columns]
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _load(path: str | None) -> Any:
    return json.loads(Path(path).read_text()) if path else None


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    p.add_argument(
        "--plan",
        type=Path,
        required=True,
        help="JSON: {command, notes: [..], cold_start: FILE?, sections: [{title, description?, "
        "raw: FILE?, raw_replica: FILE?, raw_replica_idle: FILE?, baseline: LABEL?, "
        "runs: {LABEL: FILE}}]} (FILEs from raw_model.py, "
        "loadgen.py and cold_start.py --json)",
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--plot-dir", type=Path, help="one PNG per section")
    args = p.parse_args(argv)
    plan = json.loads(args.plan.read_text())
    for section in plan["sections"]:
        section["raw"] = _load(section.get("raw"))
        section["raw_replica"] = _load(section.get("raw_replica"))
        section["raw_replica_idle"] = _load(section.get("raw_replica_idle"))
        section["runs"] = {label: _load(path) for label, path in section["runs"].items()}
    plan["cold_start"] = _load(plan.get("cold_start"))
    plan["cpu_cost"] = {label: _load(path) for label, path in (plan.get("cpu_cost") or {}).items()}
    old = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(results.keep_own_sections(old, render(plan)))
    if args.plot_dir:
        args.plot_dir.mkdir(parents=True, exist_ok=True)
        for i, section in enumerate(plan["sections"]):
            runs = {label: r["steps"] for label, r in section["runs"].items()}
            results.plot(runs, args.plot_dir / f"section{i + 1}.png")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
