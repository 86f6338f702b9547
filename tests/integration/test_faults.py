"""Faults under load: a model or ingress replica is killed while requests flow; at most
1% of requests fail and Serve has a replacement running within 30 s. A generator replica
killed mid-stream ends each of its streams with an error event.

A separate application ("faults") runs two replicas of each deployment, so one survives
each kill; the ingress retries a model call once when its replica dies mid-request
(deployments/ingress/model_client.py), so a model kill should cost no request at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.live_cluster import GENERATOR, MODEL, LiveCluster, deployment, redundant_app
from tests.support.load import Load

APP = "faults"


# Short health checks so a hung model replica is noticed in seconds, not the production
# config's 10 s period plus 30 s timeout.
HEALTH_CHECK = {"health_check_period_s": 1, "health_check_timeout_s": 5}


@pytest.fixture(scope="module")
def faults_url(cluster: LiveCluster) -> Iterator[str]:
    app = redundant_app(cluster.config["applications"][0], APP)
    deployment(app, MODEL).update(HEALTH_CHECK)
    with cluster.extra_app(app) as url:
        yield url


@pytest.mark.parametrize("killed", [MODEL, "Ingress"])
def test_replica_killed_under_load(cluster: LiveCluster, faults_url: str, killed: str) -> None:
    # Model calls of 16 longish texts keep the model replicas busy, so the kill lands
    # mid-request: only the ingress's retry (deployments/ingress/model_client.py) saves
    # those requests.
    inputs = 16 if killed == MODEL else 1
    with Load(faults_url, concurrency=4, inputs=inputs) as load:
        time.sleep(3)  # steady state first
        killed_at = time.monotonic()
        result = cluster.probe("kill", APP, killed, timeout=30)
        # Keep the load on a little past the replacement, to see the service whole again.
        time.sleep(3)
        after = time.monotonic()
        time.sleep(3)
    outcomes = load.snapshot()
    failed = load.failed()
    last_failure_s = max((o.finished - killed_at for o in failed), default=None)
    tail_ok = [o for o in outcomes if o.started >= after]
    print(
        f"\nkilled {result['killed']} ({killed}): {load.summary()}; "
        f"replacement RUNNING after {result['recovered_s']} s; "
        f"last failure {last_failure_s} s after the kill; "
        f"{len(tail_ok)} requests after recovery, all 200: {all(o.status == 200 for o in tail_ok)}"
    )
    for o in failed[:3]:
        print(f"  failed: {o.status} {o.error[:200]}")
    if killed == MODEL:
        # Requests in flight on the killed model replica are retried on the other one.
        assert not failed, load.summary()
    else:
        # Those in flight inside the killed ingress replica are lost (the proxy does not
        # retry a request whose handler may have run): a handful, well under 1%.
        assert len(outcomes) >= 100, "too little load to judge a 1% failure rate"
        assert len(failed) <= 0.01 * len(outcomes), load.summary()
    assert result["recovered_s"] is not None and result["recovered_s"] <= 30
    assert tail_ok and all(o.status == 200 for o in tail_ok)


def test_hung_replica_fails_its_health_check_and_is_replaced(
    cluster: LiveCluster, faults_url: str
) -> None:
    """A frozen model replica (SIGSTOP: alive, but answering nothing) can only be caught by
    its health check timing out; Serve must then replace it while the other one serves."""
    with Load(faults_url, concurrency=2, inputs=1) as load:
        time.sleep(2)
        result = cluster.probe("freeze", APP, MODEL, timeout=60)
        time.sleep(2)
        after = time.monotonic()
        time.sleep(3)
    outcomes = load.snapshot()
    tail_ok = [o for o in outcomes if o.started >= after]
    print(
        f"\nfroze {result['killed']}: replaced after {result['recovered_s']} s "
        f"(health check every {HEALTH_CHECK['health_check_period_s']} s, timeout "
        f"{HEALTH_CHECK['health_check_timeout_s']} s); {load.summary()}"
    )
    assert result["recovered_s"] is not None and result["recovered_s"] <= 60
    assert tail_ok and all(o.status == 200 for o in tail_ok)


def _replica_pids(cluster: LiveCluster, app: str, name: str) -> list[int]:
    """This cluster's replica processes of ``app``'s deployment ``name`` (by RUN_DIR)."""
    marker = f"RUN_DIR={cluster.env['RUN_DIR']}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"ServeReplica:{app}:{name}".encode() in cmdline and marker in environ:
            found.append(int(pid))
    return found


def test_generator_killed_mid_stream_ends_each_stream_with_an_error_event(
    cluster: LiveCluster,
) -> None:
    """The generator replica dies (SIGKILL) while it streams three completions: each
    stream ends with a `data: {"error": ...}` event and `data: [DONE]` (none hangs, none
    just stops), and Serve's replacement answers again."""
    app = cluster.config["applications"][0]["name"]
    (pid,) = _replica_pids(cluster, app, GENERATOR)
    payload = {"model": GENERATOR, "prompt": "Once upon a time", "max_tokens": 1000}
    payload |= {"ignore_eos": True, "stream": True, "temperature": 0}
    texts = [0, 0, 0]

    async def stream(c: httpx.AsyncClient, i: int) -> list[str]:
        events = []
        async with c.stream("POST", "/v1/completions", json=payload) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    events.append(line.removeprefix("data: "))
                    texts[i] += 1
        return events

    async def main() -> list[list[str]]:
        async with httpx.AsyncClient(
            base_url=cluster.base_url, headers=cluster.auth_headers(), timeout=60
        ) as c:
            tasks = [asyncio.create_task(stream(c, i)) for i in range(3)]
            async with asyncio.timeout(30):
                while min(texts) < 3:  # every stream is well under way
                    await asyncio.sleep(0.02)
            os.kill(pid, signal.SIGKILL)
            async with asyncio.timeout(30):  # none hangs
                return list(await asyncio.gather(*tasks))

    streams = asyncio.run(main())
    for events in streams:
        assert events[-1] == "[DONE]", events[-3:]
        error = json.loads(events[-2])
        assert "error" in error, events[-3:]
        assert "lost its replica mid-generation" in error["error"]["message"], error
        assert len(events) < 1000  # cut short, not finished
    deadline = time.monotonic() + 60
    while True:  # the replacement serves (later tests need it too)
        r = httpx.post(
            f"{cluster.base_url}/v1/completions",
            headers=cluster.auth_headers(),
            json={"model": GENERATOR, "prompt": "Hi", "max_tokens": 4},
            timeout=30,
        )
        if r.status_code == 200:
            break
        assert time.monotonic() < deadline, r.text
        time.sleep(0.5)
    print(f"\nkilled generator replica {pid} mid-stream: 3 of 3 streams ended with an error event")
