"""Our application's ``ray_model_*`` series on the live cluster's Prometheus endpoint."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.live_cluster import LiveCluster
from tests.support.scrape import Samples, scrape, settle, wait_until


def read(cluster: LiveCluster) -> Samples:
    return scrape(cluster, "ray_model_")


def wait_for(cluster: LiveCluster, done: Callable[[Samples], bool], timeout: float = 45) -> Samples:
    return wait_until(lambda: read(cluster), done, timeout)


def settled(cluster: LiveCluster, application: str, quiet_s: float = 12) -> Samples:
    """Samples once the app's series stop changing: earlier tests' traffic reaches the
    endpoint late, since Ray exports application metrics every few seconds."""

    def of_app() -> Samples:
        return {k: v for k, v in read(cluster).items() if ("application", application) in k[1]}

    settle(of_app, quiet_s)
    return read(cluster)
