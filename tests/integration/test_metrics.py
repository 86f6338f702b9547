"""Our application metrics reach Ray's Prometheus endpoint with the values we caused.

Only counters and histogram counts are compared exactly: Ray derives a histogram's _sum
from its bucket bounds, so sums are approximate.

The "tight" application is used because only these tests send it traffic while they run,
so deltas of its counters are exactly what the test sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.live_cluster import MODEL, LiveCluster

Sample = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(cluster: LiveCluster) -> Sample:
    text = httpx.get(f"http://127.0.0.1:{cluster.metrics_port}/metrics", timeout=10).text
    samples: Sample = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name.startswith("ray_embedding_"):
                key = (s.name, frozenset(s.labels.items()))
                samples[key] = samples.get(key, 0.0) + s.value
    return samples


def total(samples: Sample, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lbls), v in samples.items() if n == name and want <= lbls)


def wait_for(cluster: LiveCluster, done: Callable[[Sample], bool], timeout: float = 45) -> Sample:
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(cluster)
        if done(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(1)


def settled(cluster: LiveCluster, application: str, quiet_s: float = 12) -> Sample:
    """Samples once the app's series stop changing: earlier tests' traffic reaches the
    endpoint late, since Ray exports application metrics every few seconds."""

    def of_app(samples: Sample) -> Sample:
        return {k: v for k, v in samples.items() if ("application", application) in k[1]}

    last, since = of_app(scrape(cluster)), time.monotonic()
    deadline = since + 90
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(2)
        now = of_app(scrape(cluster))
        if now != last:
            last, since = now, time.monotonic()
    return scrape(cluster)


def test_custom_metrics_count_what_was_sent(cluster: LiveCluster, tight_url: str) -> None:
    app = {"application": "tight", "model": MODEL}
    before = settled(cluster, "tight")
    texts = [["hello world", "one two three"], ["a b c d e"], ["x", "y", "z", "w"]]
    with httpx.Client(base_url=tight_url, timeout=60) as c:
        for batch in texts:
            r = c.post("/v1/embeddings", json={"input": batch, "model": MODEL})
            assert r.status_code == 200, r.text
        assert c.post("/v1/embeddings", json={"input": [], "model": MODEL}).status_code == 422
        assert c.post("/v1/embeddings", json={"input": "x", "model": "nope"}).status_code == 404
    items = sum(len(b) for b in texts)

    def delta(samples: Sample, name: str, **labels: str) -> float:
        return total(samples, name, **labels) - total(before, name, **labels)

    after = wait_for(
        cluster,
        lambda s: (
            delta(s, "ray_embedding_items_total", **app) >= items
            and delta(s, "ray_embedding_errors_total", application="tight") >= 2
        ),
    )
    figures = {
        "items": delta(after, "ray_embedding_items_total", **app),
        "ok": delta(after, "ray_embedding_requests_total", status="200", **app),
        "422": delta(after, "ray_embedding_requests_total", status="422", **app),
        "404_unknown": delta(
            after, "ray_embedding_requests_total", status="404", application="tight"
        ),
        "batches": delta(after, "ray_embedding_batch_size_count", **app),
        "inputs_tokenized": delta(after, "ray_embedding_input_tokens_count", **app),
        "inference_obs": delta(after, "ray_embedding_inference_seconds_count", **app),
        "queue_obs": delta(after, "ray_embedding_queue_wait_seconds_count", **app),
    }
    print(f"metric deltas after {items} items in 3 requests + 2 errors: {figures}")
    assert figures["items"] == items
    assert figures["inputs_tokenized"] == items
    assert figures["ok"] == 3 and figures["422"] == 1
    assert figures["404_unknown"] == 1
    assert figures["batches"] == figures["inference_obs"] >= 1
    assert figures["queue_obs"] == 3  # one chunk per request (each fits one batch)
    errors = {
        dict(lbls)["error_type"]
        for (n, lbls), _ in after.items()
        if n == "ray_embedding_errors_total" and ("application", "tight") in lbls
    }
    assert {"invalid_input", "model_not_found"} <= errors
    # The unknown model id a client sent never becomes a label value.
    assert not any(("model", "nope") in lbls for _, lbls in after)


def test_metrics_carry_serve_labels(cluster: LiveCluster, client: httpx.Client) -> None:
    client.post("/v1/embeddings", json={"input": "label check", "model": MODEL})
    after = wait_for(
        cluster,
        lambda s: total(s, "ray_embedding_items_total", application="embeddings", model=MODEL) > 0,
    )
    labels = next(
        dict(lbls)
        for (n, lbls), _ in after.items()
        if n == "ray_embedding_items_total"
        and {("application", "embeddings"), ("model", MODEL)} <= lbls
    )
    assert labels["model"] == MODEL
    assert labels["deployment"] == MODEL
    assert labels["replica"]
