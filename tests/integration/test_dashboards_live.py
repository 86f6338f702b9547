"""Every dashboard panel has data: a real Prometheus scrapes the real, loaded test cluster.

Grafana cannot run here, so the panels' PromQL is run directly against Prometheus with
the template variables set to match everything. GPU-only panels are exempt on this
CPU-only machine, and so are the panels of opt-in features serve_config.yaml leaves off
(the SLO autoscaling policy's: tests/integration/test_slo_autoscaling.py reads its gauges).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from monitoring.grafana.dashboards import INFERENCE, panel_queries
from monitoring.grafana.promql import substitute_variables
from tests.support.live_cluster import GENERATOR, LOCAL, MODEL, LiveCluster, free_port
from tests.support.predict_traffic import predict_rounds


@pytest.fixture(scope="module")
def prometheus(cluster: LiveCluster) -> Iterator[str]:
    env = cluster.env | {"PROM_PORT": str(free_port())}

    def script(action: str) -> str:
        return subprocess.run(
            [str(LOCAL / "prometheus.sh"), action],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout

    out = script("start")
    assert "prometheus up" in out, out
    try:
        yield f"http://127.0.0.1:{env['PROM_PORT']}"
    finally:
        script("stop")


def query(prom: str, expr: str) -> list[dict[str, object]]:
    body = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", (expr, body)
    result: list[dict[str, object]] = body["data"]["result"]
    return result


async def load(urls: list[str], seconds: float) -> int:
    """Closed-loop traffic: 6 workers per URL, mixed sizes, for `seconds`."""
    deadline = time.monotonic() + seconds
    sent = 0
    async with httpx.AsyncClient(timeout=30) as client:

        async def worker(url: str, i: int) -> None:
            nonlocal sent
            while time.monotonic() < deadline:
                inputs = [f"load test {i} {sent}"] * (1 + sent % 4)
                await client.post(f"{url}/v1/embeddings", json={"input": inputs, "model": MODEL})
                sent += 1

        await asyncio.gather(*(worker(u, i) for u in urls for i in range(6)))
    return sent


async def generate(cluster: LiveCluster, seconds: float) -> int:
    """Completions for the text-generation panels: one worker, streamed and not."""
    deadline = time.monotonic() + seconds
    sent = 0
    async with httpx.AsyncClient(
        base_url=cluster.base_url, headers=cluster.auth_headers(), timeout=30
    ) as client:
        while time.monotonic() < deadline:
            body = {"model": GENERATOR, "prompt": f"load {sent}", "max_tokens": 8}
            await client.post("/v1/completions", json=body | {"stream": sent % 2 == 0})
            sent += 1
    return sent


async def load_all(cluster: LiveCluster, urls: list[str], seconds: float) -> int:
    embedded, generated = await asyncio.gather(load(urls, seconds), generate(cluster, seconds))
    return embedded + generated


def test_all_ray_targets_up(prometheus: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        active = httpx.get(f"{prometheus}/api/v1/targets").json()["data"]["activeTargets"]
        ray = [t for t in active if t["labels"]["job"] == "ray"]
        if ray and all(t["health"] == "up" for t in ray):
            break
        assert time.monotonic() < deadline, [(t["scrapeUrl"], t["health"]) for t in ray]
        time.sleep(1)
    print(f"prometheus: {len(ray)} ray targets up: {[t['scrapeUrl'] for t in ray]}")


def test_every_panel_has_data_under_load(cluster: LiveCluster, prometheus: str) -> None:
    # Opt-in features' panels (only_with) stay empty here: serve_config.yaml leaves them off.
    queries = panel_queries(INFERENCE, include_gpu_only=False, include_opt_in=False)
    assert len(queries) >= 15
    sent = asyncio.run(load_all(cluster, [cluster.base_url, cluster.tight_url], seconds=25))
    # Model-repository panels: predictors, and multiplexed models loaded and evicted.
    sent += asyncio.run(predict_rounds(cluster))
    empty: dict[str, str] = {}
    deadline = time.monotonic() + 90
    pending = {title: substitute_variables(expr, rate_interval="1m") for title, expr in queries}
    while pending and time.monotonic() < deadline:
        for title, expr in list(pending.items()):
            if query(prometheus, expr):
                del pending[title]
        if pending:
            asyncio.run(load_all(cluster, [cluster.base_url], seconds=3))
    empty = pending
    print(
        f"{len(queries) - len(empty)}/{len(queries)} panel queries have data after {sent} requests"
    )
    assert not empty, f"panels without data under load: {empty}"


def test_recording_rules_evaluate(prometheus: str) -> None:
    rules = httpx.get(f"{prometheus}/api/v1/rules").json()["data"]["groups"]
    unhealthy = [r["name"] for g in rules for r in g["rules"] if r.get("health") != "ok"]
    assert rules and not unhealthy, unhealthy
