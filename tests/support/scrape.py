"""Ray's Prometheus endpoint of a test cluster, as {(name, labels): value} for the tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.live_cluster import LiveCluster

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(
    cluster: LiveCluster,
    prefixes: str | tuple[str, ...],
    keep: Callable[[dict[str, str]], bool] = lambda labels: True,
) -> Samples:
    """Every sample whose name starts with one of ``prefixes`` and whose labels ``keep``,
    summed over the label sets Ray adds per process (worker ids and such stay apart)."""
    text = httpx.get(f"http://127.0.0.1:{cluster.metrics_port}/metrics", timeout=10).text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith(prefixes) and keep(s.labels):
                key = (s.name, frozenset(s.labels.items()))
                samples[key] = samples.get(key, 0.0) + s.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of ``name`` over every series carrying at least ``labels``."""
    want = set(labels.items())
    return sum(v for (n, lbls), v in samples.items() if n == name and want <= lbls)


def wait_until(
    read: Callable[[], Samples], done: Callable[[Samples], bool], timeout: float
) -> Samples:
    """``read()`` until ``done`` holds for it, or ``timeout`` passes (then the last read)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = read()
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(1)


def settle(read: Callable[[], Samples], quiet_s: float = 12, limit_s: float = 90) -> Samples:
    """``read()`` once it stopped changing for ``quiet_s``: Ray exports application metrics
    every few seconds, so counts of requests already answered still arrive late."""
    last, since = read(), time.monotonic()
    deadline = since + limit_s
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(2)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
    return last
