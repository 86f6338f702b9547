"""Soak: mixed traffic for a long time, and every Serve process's memory over it.

Does memory settle? Ten minutes cannot tell a leak from an allocator warming to its
working set (issue 18), so this runs for `--duration` (default 30 min) against one
cluster: `--concurrency` closed-loop workers, each picking its next request from a fixed
mix (embeddings of 1-32 texts, the iris predictor, the multiplexed tenants, short
completions streamed and not). Every `--sample-every` seconds (default 60) it reads the
RSS of each process of the cluster (found, as benchmarks/cpu_cost.py does, by the RUN_DIR
in its environment) and Ray's object store use (from Ray's Prometheus endpoint), into
`soak.json`; `soak_rss.png` plots RSS per process over time, and `SOAK.md` holds the
verdict: growth of each process over the second half (goal: none above 5%) and failed
requests (goal: 0).

    python -m benchmarks.soak --url http://127.0.0.1:8000 --api-key "$API_KEY" \\
        --run-dir .run --metrics-url http://127.0.0.1:8080/metrics --out-dir benchmarks/soak

benchmarks/run_soak.sh (make soak) runs it against a private cluster or `make up`'s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.cpu_cost import cluster_processes
from benchmarks.results import write_section
from benchmarks.workload import synthetic_texts

EMBEDDING_MODEL = "all-MiniLM-L6-v2"
PREDICTOR = "iris-classifier"
TENANTS = [f"tenant-{i}" for i in range(4)]  # serve_config.yaml's multiplexed example
GENERATOR = "tiny-gpt2"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
# Request kinds and their share of the traffic: embeddings dominate, as in production.
MIX = {"embeddings": 6, "predict": 1, "tenant": 2, "completion": 1, "completion_stream": 1}
GROWTH_GOAL = 0.05


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def fail(self, code: str, detail: str) -> None:
        self.failed += 1
        self.codes[code] = self.codes.get(code, 0) + 1
        if len(self.examples) < 3:
            self.examples.append(f"{code}: {detail[:200]}")


def process_name(cmdline: str) -> str | None:
    """A short, stable name for a process of the cluster; None for those not worth a line
    (the client itself, shells, Ray's short-lived helpers)."""
    if "ServeReplica:" in cmdline:
        return "replica " + cmdline.split("ServeReplica:", 1)[1].split()[0].split(":")[-1]
    for marker, name in (
        ("ServeController", "serve controller"),
        ("ProxyActor", "serve proxy"),
        ("haproxy", "haproxy"),
        ("gcs_server", "gcs_server"),
        ("/raylet/raylet", "raylet"),
    ):
        if marker in cmdline:
            return name
    return None


def cluster_rss_mib(run_dir: str) -> dict[str, float]:
    """RSS (MiB) of each named process whose environment carries RUN_DIR=run_dir, keyed
    "name [pid]" so replicas of one deployment stay apart."""
    found: dict[str, float] = {}
    for pid, cmdline, status in cluster_processes(run_dir, "status"):
        name = process_name(cmdline)
        rss = next(
            (line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), None
        )
        if name and rss:
            found[f"{name} [{pid}]"] = int(rss) / 1024
    return found


def object_store_mib(metrics_url: str | None) -> float | None:
    """Ray's object store use (ray_object_store_memory, every location), MiB."""
    if not metrics_url:
        return None
    try:
        text = httpx.get(metrics_url, timeout=10).text
    except httpx.HTTPError:
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith("ray_object_store_memory{") or line.startswith(
            "ray_object_store_memory "
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total / 2**20


async def one_request(
    client: httpx.AsyncClient, kind: str, rng: random.Random
) -> tuple[bool, str, str]:
    """Send one request of `kind`; (ok, status code or error type, detail)."""
    if kind == "embeddings":
        n = rng.randint(1, 32)
        body: dict[str, Any] = {
            "input": synthetic_texts(n, rng.randint(4, 64), seed=rng.randrange(10**6)),
            "model": EMBEDDING_MODEL,
        }
        r = await client.post("/v1/embeddings", json=body)
        ok = r.status_code == 200 and len(r.json()["data"]) == n
    elif kind in ("predict", "tenant"):
        model = PREDICTOR if kind == "predict" else rng.choice(TENANTS)
        r = await client.post(f"/v1/models/{model}/predict", json={"inputs": {"features": ROWS}})
        ok = r.status_code == 200
    else:
        stream = kind == "completion_stream"
        body = {
            "model": GENERATOR,
            "prompt": "Once upon a time",
            "max_tokens": 8,
            "stream": stream,
        }
        if stream:
            async with client.stream("POST", "/v1/completions", json=body) as r:
                text = (await r.aread()).decode()
            ok = (
                r.status_code == 200
                and text.rstrip().endswith("data: [DONE]")
                and '"error"' not in text
            )
            return ok, str(r.status_code), text[-200:]
        r = await client.post("/v1/completions", json=body)
        ok = r.status_code == 200 and bool(r.json()["choices"])
    return ok, str(r.status_code), r.text


async def drive(
    url: str,
    headers: dict[str, str],
    concurrency: int,
    until: float,
    tallies: dict[str, Tally],
    seed: int,
) -> None:
    kinds, weights = zip(*MIX.items(), strict=True)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=60, limits=limits
    ) as client:

        async def worker(n: int) -> None:
            rng = random.Random(seed + n)
            while time.monotonic() < until:
                kind = rng.choices(kinds, weights)[0]
                try:
                    ok, code, detail = await one_request(client, kind, rng)
                except (httpx.HTTPError, ValueError, KeyError) as e:
                    ok, code, detail = False, type(e).__name__, repr(e)
                tally = tallies.setdefault(kind, Tally())
                if ok:
                    tally.ok += 1
                else:
                    tally.fail(code, detail)

        await asyncio.gather(*(worker(n) for n in range(concurrency)))


async def sample_loop(
    run_dir: str,
    metrics_url: str | None,
    every_s: float,
    started: float,
    until: float,
    samples: list[dict[str, Any]],
) -> None:
    while True:
        samples.append(
            {
                "t_s": round(time.monotonic() - started, 1),
                "rss_mib": {k: round(v, 1) for k, v in sorted(cluster_rss_mib(run_dir).items())},
                "object_store_mib": object_store_mib(metrics_url),
            }
        )
        left = until - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(every_s, left))


def growth(samples: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per process: RSS at the sample nearest the middle and at the end, and the growth
    between them (None for a process that was not there for the whole second half)."""
    if not samples:
        return {}
    end_t = samples[-1]["t_s"]
    mid = min(samples, key=lambda s: abs(s["t_s"] - end_t / 2))
    last = samples[-1]
    out: dict[str, dict[str, float | None]] = {}
    for name in sorted(set().union(*(s["rss_mib"] for s in samples))):
        a, b = mid["rss_mib"].get(name), last["rss_mib"].get(name)
        first = next(s["rss_mib"][name] for s in samples if name in s["rss_mib"])
        out[name] = {
            "first_mib": first,
            "mid_mib": a,
            "end_mib": b,
            "second_half_growth": None if a is None or b is None else round(b / a - 1, 4),
        }
    return out


def verdict(result: dict[str, Any]) -> dict[str, Any]:
    grown = {
        n: g["second_half_growth"]
        for n, g in result["growth"].items()
        if g["second_half_growth"] is not None and g["second_half_growth"] > GROWTH_GOAL
    }
    failed = sum(t["failed"] for t in result["requests"].values())
    return {
        "processes_over_goal": grown,
        "failed_requests": failed,
        "passed": not grown and failed == 0,
    }


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only; no display on a server
    import matplotlib.pyplot as plt

    samples = result["samples"]
    fig, ax = plt.subplots(figsize=(10, 6))
    for name in result["growth"]:
        points = [(s["t_s"] / 60, s["rss_mib"][name]) for s in samples if name in s["rss_mib"]]
        ax.plot(*zip(*points, strict=True), marker=".", label=name)
    ax.set_xlabel("minutes")
    ax.set_ylabel("RSS (MiB)")
    ax.set_title(f"RSS per process over a {result['config']['duration_s'] / 60:.0f}-minute soak")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


SECTION = "## Soak"


def markdown(result: dict[str, Any], section: bool = False) -> str:
    """SOAK.md, or with ``section`` RESULTS.md's "Soak" section (the plot's path then
    relative to benchmarks/)."""
    cfg, v = result["config"], result["verdict"]
    title = f"{cfg['duration_s'] / 60:.1f} min, {cfg['concurrency']} in flight"
    env = ", ".join(f"{k}={val}" for k, val in sorted(cfg.get("env", {}).items()))
    lines = [
        *(
            [SECTION, "", f"`make soak` (benchmarks/run_soak.sh, soak.py): {title}"]
            if section
            else [f"# Soak: {title}"]
        ),
        *([f"Environment: {env}."] if env else []),
        "",
        f"Verdict: **{'PASS' if v['passed'] else 'FAIL'}** (goal: no process grows more than "
        f"{GROWTH_GOAL:.0%} over the second half; 0 failed requests). "
        f"Failed requests: {v['failed_requests']}.",
        "",
        "| request | ok | failed | by code |",
        "| --- | --- | --- | --- |",
    ]
    for kind, t in sorted(result["requests"].items()):
        lines.append(f"| {kind} | {t['ok']} | {t['failed']} | {t['codes'] or ''} |")
    lines += [
        "",
        "| process | first MiB | mid MiB | end MiB | second-half growth |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, g in result["growth"].items():
        share = g["second_half_growth"]
        lines.append(
            f"| {name} | {g['first_mib']} | {g['mid_mib']} | {g['end_mib']} | "
            f"{'-' if share is None else f'{share:+.1%}'} |"
        )
    stores = [s["object_store_mib"] for s in result["samples"] if s["object_store_mib"] is not None]
    if stores:
        lines += [
            "",
            f"Object store use: {stores[0]:.1f} MiB at the start, {stores[-1]:.1f} at the end.",
        ]
    plot_path = "soak/soak_rss.png" if section else "soak_rss.png"
    lines += ["", f"![RSS over time]({plot_path})", ""]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    tallies: dict[str, Tally] = {}
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    until = started + args.duration

    async def both() -> None:
        await asyncio.gather(
            drive(args.url, headers, args.concurrency, until, tallies, args.seed),
            sample_loop(args.run_dir, args.metrics_url, args.sample_every, started, until, samples),
        )

    asyncio.run(both())
    result: dict[str, Any] = {
        "config": {
            "url": args.url,
            "duration_s": args.duration,
            "concurrency": args.concurrency,
            "sample_every_s": args.sample_every,
            "mix": MIX,
            "env": {k: os.environ[k] for k in ("MALLOC_ARENA_MAX", "FAST_PATH") if k in os.environ},
        },
        "samples": samples,
        "requests": {k: vars(t) for k, t in sorted(tallies.items())},
        "growth": growth(samples),
    }
    result["verdict"] = verdict(result)
    return result


def main(argv: Iterable[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--api-key", default=os.environ.get("API_KEY"))
    p.add_argument(
        "--run-dir", default=os.environ.get("RUN_DIR", ".run"), help="the cluster's RUN_DIR"
    )
    p.add_argument(
        "--metrics-url", default=None, help="Ray's Prometheus endpoint (object store use)"
    )
    p.add_argument("--duration", type=float, default=1800, help="seconds (default 30 min)")
    p.add_argument("--sample-every", type=float, default=60, help="seconds between RSS samples")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", type=Path, default=Path("benchmarks/soak"))
    p.add_argument("--results", type=Path, help="RESULTS.md to write the Soak section into")
    p.add_argument(
        "--report-only", action="store_true", help="re-render from OUT_DIR/soak.json, no run"
    )
    args = p.parse_args(list(argv) if argv is not None else None)
    if args.report_only:
        result = json.loads((args.out_dir / "soak.json").read_text())
    else:
        args.run_dir = str(Path(args.run_dir).resolve())
        if not cluster_rss_mib(args.run_dir):
            p.error(f"no process of a cluster with RUN_DIR={args.run_dir} found")
        result = run(args)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, args.out_dir / "soak_rss.png")
    (args.out_dir / "SOAK.md").write_text(markdown(result))
    if args.results:
        write_section(args.results, SECTION, markdown(result, section=True))
    print(markdown(result))
    return 0 if result["verdict"]["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
