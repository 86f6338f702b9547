"""A fault during a rollout: a model replica is killed (ray.kill, a crash) in the middle
of a `serve deploy` that replaces every replica (a changed model version: new args), under
constant load. The rollout must still complete (every replica of the new version RUNNING,
the application RUNNING) and at most 1% of requests may fail (issue 18).

A separate application ("rolloutfault") runs two replicas of each deployment, as in
test_rolling_update.py; the kill goes through tests/support/cluster_probe.py like
test_faults.py's.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

import httpx

from tests.support.live_cluster import MODEL, LiveCluster, deployment, redundant_app
from tests.support.load import Load

APP = "rolloutfault"
VERSION = "rollout-fault-v2"
# As test_faults.py: a dead replica is noticed in seconds, not the production 10 s + 30 s.
HEALTH_CHECK = {"health_check_period_s": 1, "health_check_timeout_s": 5}


def app_of(config: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in config["applications"] if a["name"] == APP)
    return found


def replica_ids(cluster: LiveCluster) -> set[str]:
    return {r["replica_id"] for r in cluster.replicas(APP, MODEL)}


def rolled_out(cluster: LiveCluster, url: str) -> bool:
    card = httpx.get(f"{url}/v1/models/{MODEL}", timeout=10).json()
    return bool(
        card.get("owned_by") == VERSION
        and cluster.running_replicas(APP, MODEL) == 2
        and cluster.running_replicas(APP, "Ingress") == 2
        and cluster.serve_status()["applications"][APP]["status"] == "RUNNING"
    )


def test_model_replica_killed_mid_rollout(cluster: LiveCluster) -> None:
    app = redundant_app(cluster.config["applications"][0], APP)
    deployment(app, MODEL).update(HEALTH_CHECK)
    with cluster.extra_app(app) as url:
        old = replica_ids(cluster)
        config = copy.deepcopy(cluster.config)
        # New args: Serve replaces every replica of both deployments, one by one.
        app_of(config)["args"]["models"][0]["owned_by"] = VERSION
        errors: list[BaseException] = []

        def deploy() -> None:
            try:
                cluster.deploy(config)
            except BaseException as e:  # reported by the main thread
                errors.append(e)

        with Load(url, concurrency=4, inputs=4) as load:
            time.sleep(2)
            started = time.monotonic()
            deployer = threading.Thread(target=deploy, daemon=True)
            deployer.start()
            # Mid-rollout: the first new-version replica exists while old ones still run.
            while not (replica_ids(cluster) - old and replica_ids(cluster) & old):
                assert time.monotonic() - started < 120, "the rollout never started"
                time.sleep(0.2)
            killed_after_s = time.monotonic() - started
            result = cluster.probe("kill", APP, MODEL, timeout=30)
            while not rolled_out(cluster, url):
                assert time.monotonic() - started < 300, "the rollout did not complete"
                time.sleep(1)
            rolled_s = time.monotonic() - started
            deployer.join(timeout=300)
            time.sleep(2)
        outcomes = load.snapshot()
        failed = load.failed()
        print(
            f"\nkilled {result['killed']} {killed_after_s:.1f} s into the rollout "
            f"({'an old' if result['killed'].rsplit('#', 1)[-1] in old else 'a new'} replica); "
            f"rollout complete after {rolled_s:.1f} s; {load.summary()}"
        )
        for o in failed[:3]:
            print(f"  failed: {o.status} {o.error[:200]}")
        assert not errors, errors
        assert not old & replica_ids(cluster), "old replicas left after the rollout"
        assert len(outcomes) >= 100, "too little load to judge a 1% failure rate"
        assert len(failed) <= 0.01 * len(outcomes), load.summary()
