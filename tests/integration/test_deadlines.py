"""Deadlines (504) and client disconnects cancel the model's work; overload sheds at once.

Cancellation is observed where it matters, on the model replica: its
`model_cancelled_items` counter says how many inputs of a cancelled request never ran.
The heavy request below is four batches of ~110-token inputs (seconds of CPU on this box),
so a request cancelled after a fraction of a second must leave most of it undone.
"""

from __future__ import annotations

import time

import httpx

from tests.support.live_cluster import MODEL, LiveCluster
from tests.support.model_metrics import read, wait_for
from tests.support.scrape import Samples, total

BATCH = 32  # serve_config.yaml: max_batch_size of the main model
HEAVY = {
    "input": [f"{i} The quick brown fox jumps over the lazy dog. " * 10 for i in range(4 * BATCH)],
    "model": MODEL,
}
DEADLINE_HEADER = "X-Request-Timeout-Ms"
MAIN = {"application": "embeddings", "model": MODEL}


def cancelled(samples: Samples, before: Samples) -> tuple[float, float]:
    def delta(name: str) -> float:
        return total(samples, name, **MAIN) - total(before, name, **MAIN)

    return (
        delta("ray_model_cancelled_requests_total"),
        delta("ray_model_cancelled_items_total"),
    )


def wait_until_idle(client: httpx.Client) -> None:
    """The forward pass that was running when a request was cancelled still finishes."""
    assert client.post("/v1/embeddings", json={"input": "idle?", "model": MODEL}).status_code == 200


def test_deadline_is_504_and_cancels_the_model_work(
    cluster: LiveCluster, client: httpx.Client
) -> None:
    before = read(cluster)
    started = time.perf_counter()
    response = client.post("/v1/embeddings", json=HEAVY, headers={DEADLINE_HEADER: "300"})
    elapsed = time.perf_counter() - started
    assert response.status_code == 504, response.text[:300]
    assert response.json()["error"]["code"] == "deadline_exceeded"
    after = wait_for(cluster, lambda s: cancelled(s, before)[1] > 0)
    requests, skipped = cancelled(after, before)
    print(
        f"deadline 300 ms: 504 after {elapsed * 1000:.0f} ms; "
        f"{skipped:.0f} of {len(HEAVY['input'])} inputs never ran"
    )
    assert elapsed < 2.0
    assert requests == 1
    assert skipped >= BATCH  # whole batches of it never ran
    wait_until_idle(client)


def test_client_disconnect_cancels_the_model_work(
    cluster: LiveCluster, client: httpx.Client
) -> None:
    before = read(cluster)
    try:
        client.post("/v1/embeddings", json=HEAVY, timeout=0.5)
        raise AssertionError("the heavy request answered within 0.5 s")
    except httpx.ReadTimeout:
        pass  # httpx closes the connection: the client is gone
    after = wait_for(cluster, lambda s: cancelled(s, before)[1] > 0)
    requests, skipped = cancelled(after, before)
    print(f"client gone after 0.5 s: {skipped:.0f} of {len(HEAVY['input'])} inputs never ran")
    assert requests == 1
    assert skipped >= BATCH
    # The ingress counts it as 499 (client closed request), not as a server error.
    ingress = wait_for(
        cluster,
        lambda s: (
            total(s, "ray_model_requests_total", status="499", **MAIN)
            > total(before, "ray_model_requests_total", status="499", **MAIN)
        ),
    )
    assert total(ingress, "ray_model_requests_total", status="500", **MAIN) == total(
        before, "ray_model_requests_total", status="500", **MAIN
    )
    wait_until_idle(client)


def test_deadline_long_enough_is_met(client: httpx.Client) -> None:
    response = client.post(
        "/v1/embeddings",
        json={"input": "quick", "model": MODEL},
        headers={DEADLINE_HEADER: str(10**30)},  # far above the cap: lowered to it
    )
    assert response.status_code == 200, response.text
