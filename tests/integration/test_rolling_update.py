"""Zero-downtime updates: `serve deploy` of a changed user_config (in-place reconfigure)
and of a changed model version (new replicas replace the old ones) under constant load
loses no request. Old replicas drain their in-flight work first
(graceful_shutdown_timeout_s in serve_config.yaml).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.live_cluster import MODEL, LiveCluster, deployment, redundant_app
from tests.support.load import Load

APP = "rolling"


@pytest.fixture(scope="module")
def rolling_url(cluster: LiveCluster) -> Iterator[str]:
    with cluster.extra_app(redundant_app(cluster.config["applications"][0], APP)) as url:
        yield url


def app_of(config: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in config["applications"] if a["name"] == APP)
    return found


def model_card(url: str) -> dict[str, Any]:
    card: dict[str, Any] = httpx.get(f"{url}/v1/models/{MODEL}", timeout=10).json()
    return card


def deploy_under_load(
    cluster: LiveCluster, url: str, change: str, config: dict[str, Any], done: Any
) -> None:
    with Load(url, concurrency=4) as load:
        time.sleep(2)
        started = time.monotonic()
        cluster.deploy(config)
        # deploy.sh may return before the controller starts the rollout; wait for the
        # change to be visible and for the old replicas to be gone.
        while not (
            done(model_card(url))
            and cluster.running_replicas(APP, MODEL) == 2
            and cluster.running_replicas(APP, "Ingress") == 2
            and cluster.serve_status()["applications"][APP]["status"] == "RUNNING"
        ):
            assert time.monotonic() - started < 240, f"{change} did not roll out"
            time.sleep(1)
        rolled_s = time.monotonic() - started
        time.sleep(2)
    print(f"\n{change}: rolled out in {rolled_s:.1f} s under load; {load.summary()}")
    for o in load.failed()[:3]:
        print(f"  failed: {o.status} {o.error[:200]}")
    assert len(load.snapshot()) >= 50
    assert not load.failed(), load.summary()


def test_user_config_update_under_load_loses_nothing(
    cluster: LiveCluster, rolling_url: str
) -> None:
    config = copy.deepcopy(cluster.config)
    deployment(app_of(config), MODEL)["user_config"] = {
        "max_batch_size": 8,
        "batch_wait_timeout_s": 0.01,
    }
    deploy_under_load(
        cluster,
        rolling_url,
        "user_config change",
        config,
        lambda card: card["batching"]["max_batch_size"] == 8,
    )


def test_new_model_version_under_load_loses_nothing(cluster: LiveCluster, rolling_url: str) -> None:
    # A change to the app's args rebuilds both deployments: Serve replaces every
    # replica of the ingress and of the model (a new "version"), one by one.
    config = copy.deepcopy(cluster.config)
    app_of(config)["args"]["models"][0]["owned_by"] = "rolling-update-v2"
    deploy_under_load(
        cluster,
        rolling_url,
        "new version (args change: all replicas replaced)",
        config,
        lambda card: card["owned_by"] == "rolling-update-v2",
    )
