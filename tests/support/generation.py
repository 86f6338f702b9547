"""Helpers of the completion tests: SSE parsing and the generator's metrics on the cluster."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from tests.support.live_cluster import GENERATOR, LiveCluster
from tests.support.scrape import Samples, scrape, settle, wait_until

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


def read(cluster: LiveCluster) -> Samples:
    """The main app's generation metrics."""
    return scrape(cluster, "ray_generation_", lambda labels: labels.get("application") == MAIN_APP)


def settled(cluster: LiveCluster, quiet_s: float = 12) -> Samples:
    return settle(lambda: read(cluster), quiet_s)


def wait_for(cluster: LiveCluster, done: Callable[[Samples], bool], timeout: float = 60) -> Samples:
    return wait_until(lambda: read(cluster), done, timeout)
