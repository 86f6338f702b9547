"""Autoscaling, proven on the real cluster: a load ramp adds a model replica, quiet
removes it, and Ray's Prometheus endpoint shows the autoscaler's target doing the same.

A separate application ("autoscale") with short autoscaling delays keeps the test fast
and leaves the session's apps untouched; it is removed at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.live_cluster import (
    MODEL,
    LiveCluster,
    deployment,
    fast_autoscaling,
    one_ingress_app,
)
from tests.support.load import Load

APP = "autoscale"


def autoscale_app(main_app: dict[str, Any]) -> dict[str, Any]:
    app = one_ingress_app(main_app, APP)
    model = deployment(app, MODEL)
    model.update(
        max_ongoing_requests=16,
        ray_actor_options={"num_cpus": 0.1},
        # A replica averaging more than 2 requests in flight asks for another.
        autoscaling_config=fast_autoscaling(target_ongoing_requests=2),
    )
    return app


def target_replicas(cluster: LiveCluster) -> float | None:
    """ray_serve_autoscaling_target_replicas of the app's model, as Prometheus scrapes it."""
    text = httpx.get(f"http://127.0.0.1:{cluster.metrics_port}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if (
                s.name == "ray_serve_autoscaling_target_replicas"
                and s.labels.get("application") == APP
                and s.labels.get("deployment") == MODEL
            ):
                return float(s.value)
    return None


@pytest.fixture(scope="module")
def autoscale_url(cluster: LiveCluster) -> Iterator[str]:
    with cluster.extra_app(autoscale_app(cluster.config["applications"][0])) as url:
        yield url


def test_load_ramp_scales_model_out_and_back_in(cluster: LiveCluster, autoscale_url: str) -> None:
    timeline: list[tuple[float, str, dict[str, int], float | None]] = []

    def observe(t0: float, phase: str) -> tuple[dict[str, int], float | None]:
        states: dict[str, int] = {}
        for r in cluster.replicas(APP, MODEL):
            states[r["state"]] = states.get(r["state"], 0) + 1
        target = target_replicas(cluster)
        timeline.append((time.monotonic() - t0, phase, states, target))
        return states, target

    t0 = time.monotonic()
    assert observe(t0, "idle")[0] == {"RUNNING": 1}
    # 8 requests in flight against target_ongoing_requests=2: past one replica's share, and
    # still past it with two replicas, so the decision stays at 2 while the load lasts.
    with Load(autoscale_url, concurrency=8) as load:
        ramp = time.monotonic()
        decided_s = running_s = metric_s = None
        while time.monotonic() - ramp < 60 and (running_s is None or metric_s is None):
            states, target = observe(t0, "load")
            if sum(states.values()) >= 2 and decided_s is None:
                decided_s = time.monotonic() - ramp  # a second replica exists (STARTING)
            if states.get("RUNNING", 0) == 2 and running_s is None:
                running_s = time.monotonic() - ramp
            if target == 2 and metric_s is None:
                metric_s = time.monotonic() - ramp
            time.sleep(0.5)
    print(f"\nunder load: {load.summary()}")
    quiet = time.monotonic()
    scaled_in_s = None
    while time.monotonic() - quiet < 60:
        states, target = observe(t0, "quiet")
        if states == {"RUNNING": 1} and target == 1:
            scaled_in_s = time.monotonic() - quiet
            break
        time.sleep(0.5)

    print("  t(s)  phase  replicas by state            target_replicas (metric)")
    for t, phase, states, target in timeline:
        print(f"{t:6.1f}  {phase:5}  {states!s:28} {target}")
    print(
        f"ramp: second replica started {decided_s} s, RUNNING {running_s} s, metric at 2 "
        f"{metric_s} s into the load; back to 1 replica {scaled_in_s} s after it stopped"
    )
    assert not load.failed(), load.summary()
    # The decision (upscale_delay_s=1) is quick; the new replica must then load the model,
    # which takes many seconds on a shared, saturated 2-core box.
    assert decided_s is not None and decided_s <= 15
    assert running_s is not None and running_s <= 60
    assert metric_s is not None
    assert scaled_in_s is not None
