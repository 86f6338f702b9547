"""Head-node restart with GCS fault tolerance on (cluster/local/env.sh GCS_FT=redis): a
private cluster of a head (no CPUs: the GCS, the Serve controller and the HTTP proxy) and
one worker node (the replicas). Every process of the head is killed at once (SIGKILL: a
crashed machine, not a shutdown) while a client sends request after request, then the head
is started again by start.sh, as a process supervisor (systemd, KubeRay's pod restart)
would. Its new GCS reads the cluster state back from Redis, which outlived the head; the
Serve controller comes back, finds its checkpoint and the worker's replicas, and the proxy
on the new head answers.

What a client with the HTTP entry on the head sees: no answers from the kill until the
new head's proxy is up (printed: seconds to the first 200 and to every request 200), and
then the same applications and the same replicas (the worker's were never restarted:
no application config is lost). Bounded: at most 120 s for the head to answer again.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.live_cluster import (
    MODEL,
    LiveCluster,
    base_config,
    redundant_app,
    start_cluster,
)
from tests.support.load import Outcome

APP = "headrestart"
BACK_WITHIN_S = 120


def head_restart_config(http_port: int) -> dict[str, Any]:
    """Two replicas of each deployment, small CPU shares: all of them fit on the worker."""
    config = base_config()
    config["http_options"]["port"] = http_port
    config["applications"] = [redundant_app(config["applications"][0], APP)]
    return config


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCluster]:
    env = {"WORKERS": "1", "WORKER_CPUS": "1", "HEAD_CPUS": "0", "GCS_FT": "redis"}
    live = start_cluster(tmp_path_factory.mktemp("headrestart"), env, head_restart_config)
    try:
        yield live
    finally:
        live.stop()


def replica_ids(cluster: LiveCluster) -> dict[str, list[str]]:
    return {
        name: sorted(
            r["replica_id"] for r in cluster.replicas(APP, name) if r["state"] == "RUNNING"
        )
        for name in ("Ingress", MODEL)
    }


def replica_ids_once_answered(cluster: LiveCluster, within_s: float = 90) -> dict[str, list[str]]:
    """replica_ids from a head that just restarted: its dashboard may not answer the first
    queries in time (one took over 30 s in a fresh-clone run on this box at half its
    usual speed, after the applications were serving again), which is not what this
    test is about; a dashboard still silent after ``within_s`` fails it."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            return replica_ids(cluster)
        except httpx.HTTPError:  # no answer in time, or an error status
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


@dataclass
class Prober:
    """One embeddings request after the other, pausing 0.1 s after a failure: while the
    head is down every connection is refused at once, and a closed loop without a pause
    would spin a core of this 2-core machine that the restarting head needs."""

    url: str
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        body = {"input": ["a head restart, seen from a client"], "model": MODEL}
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    status = client.post("/v1/embeddings", json=body).status_code
                except httpx.HTTPError:
                    status = 0
                self.outcomes.append(Outcome(started, time.monotonic(), status))
                if status != 200:
                    time.sleep(0.1)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_head_restart_keeps_applications(two_nodes: LiveCluster) -> None:
    cluster = two_nodes
    before = replica_ids(cluster)
    status_before = cluster.serve_status()["applications"][APP]["status"]
    url = f"{cluster.base_url}/{APP}"
    sid = (cluster.run_dir / "head.sid").read_text().strip()
    with Prober(url) as load:
        time.sleep(3)
        killed_at = time.monotonic()
        subprocess.run(["pkill", "-KILL", "-s", sid], check=True)
        while subprocess.run(["pgrep", "-s", sid], capture_output=True).returncode == 0:
            time.sleep(0.2)
        cluster.script("start.sh", timeout=120)
        restarted_s = time.monotonic() - killed_at
        first_ok_s = None
        while first_ok_s is None and time.monotonic() - killed_at < BACK_WITHIN_S:
            seen = [o for o in list(load.outcomes) if o.started > killed_at]
            # A request answered in the instant before the kill landed is no recovery.
            down = min((o.started for o in seen if o.status != 200), default=killed_at)
            ok = [o for o in seen if o.started > down and o.status == 200]
            first_ok_s = min((o.finished - killed_at for o in ok), default=None)
            time.sleep(0.5)
        time.sleep(5)
        settled = time.monotonic()
        time.sleep(5)
    outcomes = load.outcomes
    failed = [o for o in outcomes if o.status != 200]
    last_failure_s = max((o.finished - killed_at for o in failed), default=None)
    tail = [o for o in outcomes if o.started >= settled]
    after = replica_ids_once_answered(cluster)
    status_after = cluster.serve_status()["applications"][APP]["status"]
    print(
        f"\nhead killed: start.sh had a new head up {restarted_s:.1f} s later; first 200 "
        f"after the outage {first_ok_s and round(first_ok_s, 1)} s after the kill, last failure "
        f"{last_failure_s and round(last_failure_s, 1)} s after it; "
        f"{len(failed)} of {len(outcomes)} requests failed; "
        f"application {status_before} -> {status_after}; same replicas: {after == before}"
    )
    assert first_ok_s is not None, f"no 200 within {BACK_WITHIN_S} s of the head's kill"
    assert tail and all(o.status == 200 for o in tail), "requests still failing"
    assert status_after == "RUNNING"
    assert after == before, f"replicas replaced: {before} -> {after}"
