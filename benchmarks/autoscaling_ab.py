"""A/B of model autoscaling policies under one load step: Ray's default (ongoing requests per
replica) against the SLO policy (queue-wait p95, deployments/autoscaling/policy.py).

    python -m benchmarks.autoscaling_ab --out-dir /tmp/ab --results benchmarks/RESULTS.md

For each policy, on one private cluster (started like the test suite's,
tests/support/live_cluster.py: its own run dir and ports), it deploys serve_config.yaml's
embedding app alone - serve_config.yaml's own autoscaling_config for the model, plus, for
"slo", the `policy:` block below - waits for one model replica, then runs the same closed-
loop step: 4 requests in flight, 32, then 4 again (`--schedule`). It records every request
(start, latency, status) and the model's healthy replicas each second (Ray's exporter),
writes them to `<out-dir>/<policy>.json`, and renders the comparison into RESULTS.md's
"Autoscaling policy A/B" section (the rest of the file is kept):

- p99 during the step: requests sent while 32 were in flight;
- time to recover the latency target: from the step's start to the end of the first 5 s
  window whose p99 is back under the target (the target is `--target-factor` times the
  default policy's p99 before the step, the same number for both policies);
- replica-seconds: the model's healthy replicas integrated over the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import itertools
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.replica_metrics import healthy_replicas
from benchmarks.results import write_section
from benchmarks.workload import synthetic_texts

POLICIES = ("default", "slo")
SLO_POLICY = {
    "policy_function": "deployments.autoscaling.policy:QueueWaitPolicy",
    "policy_kwargs": {"target_queue_wait_p95_s": 0.05},
}
WINDOW_S = 5.0
SECTION = "## Autoscaling policy A/B"


@dataclass(frozen=True)
class Phase:
    in_flight: int
    seconds: float


def parse_schedule(text: str) -> list[Phase]:
    """`4:30,32:60,4:90` -> in flight : seconds, in order."""
    phases = []
    for part in text.split(","):
        n, s = part.split(":")
        phases.append(Phase(int(n), float(s)))
    return phases


def ab_config(http_port: int, policy: str) -> dict[str, Any]:
    """serve_config.yaml's embedding app alone (no auth, no rate limit), the model's
    autoscaling as shipped, plus the SLO policy for "slo"."""
    from tests.support.live_cluster import base_config, deployment, embeddings_only

    config = base_config()
    config["http_options"]["port"] = http_port
    app = embeddings_only(config["applications"][0])
    app["args"]["auth"] = {"enabled": False}
    app["args"]["rate_limits"] = {"default": None}
    model = deployment(app, app["args"]["models"][0]["name"])
    model["autoscaling_config"].pop("policy", None)
    if policy == "slo":
        model["autoscaling_config"]["policy"] = copy.deepcopy(SLO_POLICY)
    config["applications"] = [app]
    return config


async def step_load(
    url: str, model: str, phases: list[Phase], texts: list[str]
) -> list[tuple[float, float, int]]:
    """Closed loop: worker i sends while the current phase has more than i in flight.
    Returns (start since t0, latency, status) per request; status 0: no answer."""
    bounds = np.cumsum([p.seconds for p in phases])
    total = float(bounds[-1])
    samples: list[tuple[float, float, int]] = []
    t0 = time.monotonic()

    def in_flight(t: float) -> int:
        i = int(np.searchsorted(bounds, t, side="right"))
        return phases[min(i, len(phases) - 1)].in_flight

    async with httpx.AsyncClient(
        timeout=60, limits=httpx.Limits(max_connections=max(p.in_flight for p in phases))
    ) as client:

        async def worker(i: int) -> None:
            n = i
            while (t := time.monotonic() - t0) < total:
                if i >= in_flight(t):
                    await asyncio.sleep(0.05)
                    continue
                body = {"input": [texts[n % len(texts)]], "model": model}
                n += 17
                try:
                    r = await client.post(f"{url}/v1/embeddings", json=body)
                    status = r.status_code
                except httpx.HTTPError:
                    status = 0
                samples.append((t, time.monotonic() - t0 - t, status))

        await asyncio.gather(*(worker(i) for i in range(max(p.in_flight for p in phases))))
    return samples


async def sample_replicas(
    metrics_url: str, deployment: str, seconds: float
) -> list[tuple[float, int | None]]:
    t0 = time.monotonic()
    out: list[tuple[float, int | None]] = []
    while (t := time.monotonic() - t0) < seconds:
        n = await asyncio.to_thread(healthy_replicas, metrics_url, deployment)
        out.append((t, n))
        await asyncio.sleep(1.0)
    return out


async def run_step(url: str, metrics_url: str, model: str, phases: list[Phase]) -> dict[str, Any]:
    texts = synthetic_texts(512, words=8)
    total = sum(p.seconds for p in phases)
    requests, replicas = await asyncio.gather(
        step_load(url, model, phases, texts), sample_replicas(metrics_url, model, total)
    )
    return {
        "phases": [[p.in_flight, p.seconds] for p in phases],
        "requests": requests,
        "replicas": replicas,
    }


def run_policy(policy: str, phases: list[Phase], out: Path) -> dict[str, Any]:
    from tests.support.live_cluster import MODEL, deployment, start_cluster

    run_dir = Path(tempfile.mkdtemp(prefix=f"rsic-ab-{policy}-"))
    cluster = start_cluster(run_dir, config=lambda port: ab_config(port, policy))
    try:
        deadline = time.monotonic() + 120
        metrics_url = f"http://127.0.0.1:{cluster.metrics_port}/metrics"
        while healthy_replicas(metrics_url, MODEL) != 1:
            if time.monotonic() > deadline:
                raise TimeoutError("the model never reported one healthy replica")
            time.sleep(1)
        result = asyncio.run(run_step(cluster.base_url, metrics_url, MODEL, phases))
    finally:
        cluster.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    result["policy"] = policy
    app = ab_config(0, policy)["applications"][0]
    result["autoscaling_config"] = deployment(app, MODEL)["autoscaling_config"]
    out.write_text(json.dumps(result))
    return result


def p99_ms(latencies: list[float]) -> float | None:
    return float(np.percentile(latencies, 99) * 1000) if latencies else None


def analyse(result: dict[str, Any], target_ms: float) -> dict[str, Any]:
    phases = [Phase(int(n), float(s)) for n, s in result["phases"]]
    step_start = phases[0].seconds
    step_end = step_start + phases[1].seconds
    ok = [(t, lat) for t, lat, status in result["requests"] if 200 <= status < 300]
    failed = sum(1 for *_, status in result["requests"] if not 200 <= status < 300)
    before = [lat for t, lat in ok if t < step_start]
    during = [lat for t, lat in ok if step_start <= t < step_end]
    recovered = None
    end = step_start + WINDOW_S
    while end <= step_end:
        window = [lat for t, lat in ok if end - WINDOW_S <= t + lat < end]
        if window and (p := p99_ms(window)) is not None and p <= target_ms:
            recovered = end - step_start
            break
        end += 1.0
    samples = result["replicas"]
    replica_s = 0.0
    for (t, n), (t_next, _) in itertools.pairwise(samples):
        replica_s += (n or 0) * (t_next - t)
    return {
        "policy": result["policy"],
        "p99_before_ms": p99_ms(before),
        "p99_step_ms": p99_ms(during),
        "recover_s": recovered,
        "replica_s": replica_s,
        "max_replicas": max((n or 0) for _, n in samples),
        "requests": len(ok),
        "failed": failed,
    }


def render(rows: list[dict[str, Any]], target_ms: float, command: str, schedule: str) -> str:
    def fmt(v: float | None, spec: str = ".0f") -> str:
        return "never" if v is None else format(v, spec)

    lines = [
        SECTION,
        "",
        f"Made by `{command}` (one private cluster per policy, 2 CPUs). Closed-loop load step"
        f" `{schedule}` (in flight : seconds) of single-text requests against serve_config.yaml's"
        " embedding app; the model's autoscaling_config as shipped, plus for `slo` the"
        f" `QueueWaitPolicy` with `{json.dumps(SLO_POLICY['policy_kwargs'])}`. Latency target"
        f" for recovery: {target_ms:.0f} ms p99 over a {WINDOW_S:.0f} s window.",
        "",
        "| policy | p99 before step (ms) | p99 during step (ms) | time to recover target (s)"
        " | replica-seconds | most replicas | requests ok | failed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['policy']} | {fmt(r['p99_before_ms'])} | {fmt(r['p99_step_ms'])} | "
            f"{fmt(r['recover_s'], '.0f')} | {r['replica_s']:.0f} | {r['max_replicas']} | "
            f"{r['requests']} | {r['failed']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--schedule", default="4:30,32:90,4:90")
    p.add_argument("--policies", default=",".join(POLICIES))
    p.add_argument("--target-factor", type=float, default=3.0)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--results", type=Path, help="RESULTS.md to write the section into")
    p.add_argument("--report-only", action="store_true", help="re-render from --out-dir")
    args = p.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    phases = parse_schedule(args.schedule)
    results = {}
    for policy in args.policies.split(","):
        path = args.out_dir / f"{policy}.json"
        if args.report_only:
            results[policy] = json.loads(path.read_text())
        else:
            print(f"== {policy}: step {args.schedule}", flush=True)
            results[policy] = run_policy(policy, phases, path)
    baseline = analyse(results["default"], target_ms=float("inf"))["p99_before_ms"]
    target_ms = args.target_factor * (baseline or 0)
    rows = [analyse(r, target_ms) for r in results.values()]
    command = "python -m benchmarks.autoscaling_ab " + " ".join(
        a for a in (argv if argv is not None else sys.argv[1:]) if a != "--report-only"
    )
    section = render(rows, target_ms, command, args.schedule)
    print(section)
    if args.results:
        write_section(args.results, SECTION, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
