"""Helpers of the completion tests: SSE parsing and the generator's metrics on the cluster."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.live_cluster import GENERATOR, LiveCluster

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
MAIN_APP = "embeddings"


def completion(client: httpx.Client, prompt: str = "Hello world", **extra: Any) -> httpx.Response:
    return client.post("/v1/completions", json={"model": GENERATOR, "prompt": prompt, **extra})


def sse_data(lines: Iterator[str]) -> Iterator[str]:
    """The `data:` payloads of an event stream, checking its framing on the way."""
    for line in lines:
        if not line:
            continue  # the blank line that ends each event
        assert line.startswith("data: "), f"not an SSE data line: {line!r}"
        yield line.removeprefix("data: ")


def stream_events(client: httpx.Client, **body: Any) -> tuple[httpx.Response, list[str]]:
    payload = {"model": GENERATOR, "prompt": "Hello world", "stream": True} | body
    with client.stream("POST", "/v1/completions", json=payload) as r:
        if r.status_code != 200:
            r.read()
            return r, []
        return r, list(sse_data(r.iter_lines()))


def chunks_of(events: list[str]) -> list[dict[str, Any]]:
    assert events and events[-1] == "[DONE]", events[-3:]
    return [json.loads(e) for e in events[:-1]]


def scrape(cluster: LiveCluster) -> Samples:
    text = httpx.get(f"http://127.0.0.1:{cluster.metrics_port}/metrics", timeout=10).text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("ray_generation_") and s.labels.get("application") == MAIN_APP:
                key = (s.name, frozenset(s.labels.items()))
                samples[key] = samples.get(key, 0.0) + s.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lbls), v in samples.items() if n == name and want <= lbls)


def settled(cluster: LiveCluster, quiet_s: float = 12) -> Samples:
    """Samples once they stop changing: Ray exports application metrics every few
    seconds, so earlier requests' counts arrive late."""
    last, since = scrape(cluster), time.monotonic()
    deadline = since + 90
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(2)
        now = scrape(cluster)
        if now != last:
            last, since = now, time.monotonic()
    return last


def wait_for(cluster: LiveCluster, done: Callable[[Samples], bool], timeout: float = 60) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(cluster)
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(1)
