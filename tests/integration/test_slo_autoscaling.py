"""The SLO autoscaling policy (deployments/autoscaling/policy.py) on the real cluster: Ray's
controller loads it from serve_config-style YAML, it scales a model out on queue wait where
Ray's default would not (target_ongoing_requests is set out of reach), exports its inputs
and decisions, and falls back to Ray's default to scale back in when traffic stops.

A separate application ("slo") with second-scale delays keeps the test fast and leaves
the session's apps untouched; it is removed at the end.
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

APP = "slo"
TARGET_S = 0.005
POLICY = "deployments.autoscaling.policy:QueueWaitPolicy"


def slo_app(main_app: dict[str, Any]) -> dict[str, Any]:
    app = one_ingress_app(main_app, APP)
    model = deployment(app, MODEL)
    model.update(
        max_ongoing_requests=16,
        ray_actor_options={"num_cpus": 0.1},
        # Ray's default would need 1000 calls in flight per replica to scale out: any
        # scale-out here is the SLO policy's.
        autoscaling_config=fast_autoscaling(
            target_ongoing_requests=1000,
            policy={
                "policy_function": POLICY,
                "policy_kwargs": {"target_queue_wait_p95_s": TARGET_S, "min_samples": 5},
            },
        ),
    )
    return app


def controller_view(cluster: LiveCluster) -> dict[str, float]:
    """The policy's gauges and Serve's target for the app's model, from Ray's exporter."""
    text = httpx.get(f"http://127.0.0.1:{cluster.metrics_port}/metrics", timeout=10).text
    wanted = ("ray_autoscaling_policy_", "ray_serve_autoscaling_target_replicas")
    return {
        s.name: float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith(wanted)
        and s.labels.get("application") == APP
        and s.labels.get("deployment") == MODEL
    }


@pytest.fixture(scope="module")
def slo_url(cluster: LiveCluster) -> Iterator[str]:
    with cluster.extra_app(slo_app(cluster.config["applications"][0])) as url:
        yield url


def test_queue_wait_policy_scales_out_under_load_and_back_in(
    cluster: LiveCluster, slo_url: str
) -> None:
    timeline: list[tuple[float, str, int, dict[str, float]]] = []
    t0 = time.monotonic()

    def observe(phase: str) -> tuple[int, dict[str, float]]:
        running = cluster.running_replicas(APP, MODEL)
        view = controller_view(cluster)
        timeline.append((time.monotonic() - t0, phase, running, view))
        return running, view

    assert observe("idle")[0] == 1
    scaled_out_s = None
    seen_own_signal = False
    with Load(slo_url, concurrency=8, inputs=8) as load:
        ramp = time.monotonic()
        while time.monotonic() - ramp < 90 and (scaled_out_s is None or not seen_own_signal):
            running, view = observe("load")
            seen_own_signal |= view.get("ray_autoscaling_policy_own_signal") == 1
            if running == 2 and scaled_out_s is None:
                scaled_out_s = time.monotonic() - ramp
            time.sleep(1)
    print(f"\nunder load: {load.summary()}")
    quiet = time.monotonic()
    scaled_in_s = None
    while time.monotonic() - quiet < 90:
        running, view = observe("quiet")
        if running == 1 and view.get("ray_serve_autoscaling_target_replicas") == 1:
            scaled_in_s = time.monotonic() - quiet
            break
        time.sleep(1)
    print("  t(s)  phase  running  controller view")
    for t, phase, running, view in timeline:
        short = {k.removeprefix("ray_"): round(v, 4) for k, v in view.items()}
        print(f"{t:6.1f}  {phase:5}  {running}  {short}")
    print(f"scaled out {scaled_out_s} s into the load, back in {scaled_in_s} s after it")
    assert not load.failed(), load.summary()
    assert seen_own_signal, "the policy never decided on its own signal"
    last = timeline[-1][3]
    assert last["ray_autoscaling_policy_target_seconds"] == TARGET_S
    assert scaled_out_s is not None, "no scale-out on queue wait"
    assert scaled_in_s is not None, "no scale-in after the load (fallback to Ray's default)"
