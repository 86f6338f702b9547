"""Our application metrics reach Ray's Prometheus endpoint with the values we caused.

Only counters and histogram counts are compared exactly: Ray derives a histogram's _sum
from its bucket bounds, so sums are approximate.

The "tight" application is used because only these tests send it traffic while they run,
so deltas of its counters are exactly what the test sent.
"""

from __future__ import annotations

import httpx

from tests.support.live_cluster import MODEL, LiveCluster
from tests.support.model_metrics import settled, wait_for
from tests.support.scrape import Samples, total


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

    def delta(samples: Samples, name: str, **labels: str) -> float:
        return total(samples, name, **labels) - total(before, name, **labels)

    after = wait_for(
        cluster,
        lambda s: (
            delta(s, "ray_model_items_total", **app) >= items
            and delta(s, "ray_model_errors_total", application="tight") >= 2
        ),
    )
    figures = {
        "items": delta(after, "ray_model_items_total", **app),
        "ok": delta(after, "ray_model_requests_total", status="200", **app),
        "422": delta(after, "ray_model_requests_total", status="422", **app),
        "404_unknown": delta(after, "ray_model_requests_total", status="404", application="tight"),
        "batches": delta(after, "ray_model_batch_size_count", **app),
        "inputs_tokenized": delta(after, "ray_model_input_tokens_count", **app),
        "inference_obs": delta(after, "ray_model_inference_seconds_count", **app),
        "queue_obs": delta(after, "ray_model_queue_wait_seconds_count", **app),
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
        if n == "ray_model_errors_total" and ("application", "tight") in lbls
    }
    assert {"invalid_input", "model_not_found"} <= errors
    # The unknown model id a client sent never becomes a label value.
    assert not any(("model", "nope") in lbls for _, lbls in after)


def test_metrics_carry_serve_labels(cluster: LiveCluster, client: httpx.Client) -> None:
    client.post("/v1/embeddings", json={"input": "label check", "model": MODEL})
    after = wait_for(
        cluster,
        lambda s: total(s, "ray_model_items_total", application="embeddings", model=MODEL) > 0,
    )
    labels = next(
        dict(lbls)
        for (n, lbls), _ in after.items()
        if n == "ray_model_items_total"
        and {("application", "embeddings"), ("model", MODEL)} <= lbls
    )
    assert labels["model"] == MODEL
    assert labels["deployment"] == MODEL
    assert labels["replica"]
