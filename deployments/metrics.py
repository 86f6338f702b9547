"""Application metrics, exported through Ray's metrics agent (``ray.serve.metrics``).

Plain prometheus_client metrics inside replicas are not exported by Ray. Ray prefixes the
names with ``ray_`` and adds application/deployment/replica labels; the only label we add
is ``model`` (a served model id, or ``unknown``), plus bounded status/error codes, so
cardinality never depends on client input.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ray.serve.metrics import Counter, Gauge, Histogram

UNKNOWN_MODEL = "unknown"

LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
BATCH_SIZE_BUCKETS = [1.0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
UTILIZATION_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
TOKEN_BUCKETS = [4.0, 8, 16, 32, 64, 128, 256, 512]


def _keys(*names: str) -> Any:
    # Ray annotates tag_keys as Tuple[str] (one element) though it takes any number.
    return names


class IngressMetrics:
    def __init__(self) -> None:
        self.requests = Counter(
            "embedding_requests",
            description="Embedding requests answered by the ingress, by HTTP status.",
            tag_keys=_keys("model", "status"),
        )
        self.errors = Counter(
            "embedding_errors",
            description="Embedding requests that failed, by error code.",
            tag_keys=_keys("model", "error_type"),
        )

    def record(self, model: str, status: int, error_code: str | None) -> None:
        self.requests.inc(tags={"model": model, "status": str(status)})
        if status >= 400:
            self.errors.inc(tags={"model": model, "error_type": error_code or "http_error"})


class CallMetrics:
    """The ingress's calls to one embedding model (deployments/call_coalescer.py)."""

    def __init__(self, model: str) -> None:
        self.tags = {"model": model}
        keys = _keys("model")
        self.requests_per_call = Histogram(
            "embedding_call_requests",
            description="Requests sharing one model call from an ingress replica.",
            boundaries=BATCH_SIZE_BUCKETS,
            tag_keys=keys,
        )
        self.waiting = Gauge(
            "embedding_call_waiting",
            description="Requests in an ingress replica waiting for a free model call slot, "
            "as of its latest call.",
            tag_keys=keys,
        )

    def record_call(self, requests: int, still_waiting: int) -> None:
        self.requests_per_call.observe(requests, tags=self.tags)
        self.waiting.set(still_waiting, tags=self.tags)


class ModelMetrics:
    def __init__(self, model: str) -> None:
        self.tags = {"model": model}
        keys = _keys("model")
        self.items = Counter("embedding_items", description="Inputs embedded.", tag_keys=keys)
        self.input_tokens = Histogram(
            "embedding_input_tokens",
            description="Tokens per input, after truncation.",
            boundaries=TOKEN_BUCKETS,
            tag_keys=keys,
        )
        self.inference_seconds = Histogram(
            "embedding_inference_seconds",
            description="Forward-pass time of one batch.",
            boundaries=LATENCY_BUCKETS_S,
            tag_keys=keys,
        )
        self.batch_size = Histogram(
            "embedding_batch_size",
            description="Inputs per forward pass.",
            boundaries=BATCH_SIZE_BUCKETS,
            tag_keys=keys,
        )
        self.batch_utilization = Histogram(
            "embedding_batch_utilization",
            description="Inputs per forward pass divided by max_batch_size.",
            boundaries=UTILIZATION_BUCKETS,
            tag_keys=keys,
        )
        self.queue_wait_seconds = Histogram(
            "embedding_queue_wait_seconds",
            description="Time from arrival at the model replica to the start of its batch.",
            boundaries=LATENCY_BUCKETS_S,
            tag_keys=keys,
        )
        self.cancelled_requests = Counter(
            "embedding_cancelled_requests",
            description="Requests whose caller gave up (deadline, disconnect) on the replica.",
            tag_keys=keys,
        )
        self.cancelled_items = Counter(
            "embedding_cancelled_items",
            description="Inputs of cancelled requests that were dropped before running.",
            tag_keys=keys,
        )

    def record_batch(
        self,
        size: int,
        max_batch_size: int,
        seconds: float,
        token_counts: list[int],
        waits: list[float],
    ) -> None:
        tags = self.tags
        self.items.inc(size, tags=tags)
        self.batch_size.observe(size, tags=tags)
        self.batch_utilization.observe(min(size / max_batch_size, 1.0), tags=tags)
        self.inference_seconds.observe(seconds, tags=tags)
        for n in token_counts:
            self.input_tokens.observe(n, tags=tags)
        for w in waits:
            self.queue_wait_seconds.observe(w, tags=tags)

    def record_cancelled(self, skipped_items: int) -> None:
        self.cancelled_requests.inc(tags=self.tags)
        if skipped_items:
            self.cancelled_items.inc(skipped_items, tags=self.tags)


@cache
def ingress_metrics() -> IngressMetrics:
    return IngressMetrics()
