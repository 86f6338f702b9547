"""The one catalogue of every metric this application exports (``ray.serve.metrics``).

Plain prometheus_client metrics inside replicas are not exported by Ray. Ray prefixes the
names with ``ray_`` (and counters with ``_total``) and adds application/deployment/replica
labels. We add ``model`` (a served model id, or ``unknown``) and ``kind`` (embedding,
predictor, generator, or ``unknown``), plus bounded status/error/finish codes, so
cardinality never depends on client input.

- ``model_*``: every model route at the ingress (requests, errors, coalesced calls) and
  every batched model replica (embedding and predictor: items, batches, queue waits);
- ``generation_*``: generator replicas (tokens, time to first token, finish reasons);
- ``multiplexed_model_*``: loads and evictions in multiplexed replicas;
- ``autoscaling_policy_*``: the SLO autoscaling policy's inputs and decisions, from the
  Serve controller (deployments/autoscaling/policy.py), by application and deployment.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from ray.serve.metrics import Counter, Gauge, Histogram

from deployments.queue_wait import replica_queue_waits

UNKNOWN_MODEL = "unknown"

LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
BATCH_SIZE_BUCKETS = [1.0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
UTILIZATION_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
TOKEN_BUCKETS = [4.0, 8, 16, 32, 64, 128, 256, 512]
# Padded token positions per forward pass: one short text (~8) to 64 rows of 256 tokens.
BATCH_TOKEN_BUCKETS = [16.0, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768]
TTFT_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]


def _keys(*names: str) -> Any:
    # Ray annotates tag_keys as Tuple[str] (one element) though it takes any number.
    return names


class RequestMetrics:
    """Every request to a model route, counted at the ingress by its final status."""

    def __init__(self) -> None:
        self.requests = Counter(
            "model_requests",
            description="Requests to model routes answered by the ingress, by HTTP status.",
            tag_keys=_keys("model", "kind", "status"),
        )
        self.errors = Counter(
            "model_errors",
            description="Requests to model routes that failed, by error code.",
            tag_keys=_keys("model", "kind", "error_type"),
        )

    def record(self, model: str, kind: str, status: int, error_code: str | None) -> None:
        tags = {"model": model, "kind": kind}
        self.requests.inc(tags=tags | {"status": str(status)})
        if status >= 400:
            self.errors.inc(tags=tags | {"error_type": error_code or "http_error"})


class CallMetrics:
    """The ingress's calls to one model (deployments/ingress/call_coalescer.py)."""

    def __init__(self, model: str, kind: str) -> None:
        self.tags = {"model": model, "kind": kind}
        keys = _keys("model", "kind")
        self.requests_per_call = Histogram(
            "model_call_requests",
            description="Requests sharing one model call from an ingress replica.",
            boundaries=BATCH_SIZE_BUCKETS,
            tag_keys=keys,
        )
        self.waiting = Gauge(
            "model_call_waiting",
            description="Requests in an ingress replica waiting for a free model call slot, "
            "as of its latest call.",
            tag_keys=keys,
        )

    def record_call(self, requests: int, still_waiting: int) -> None:
        self.requests_per_call.observe(requests, tags=self.tags)
        self.waiting.set(still_waiting, tags=self.tags)


class ModelMetrics:
    """One batched model (embedding or predictor) inside its replica."""

    def __init__(self, model: str, kind: str) -> None:
        self.tags = {"model": model, "kind": kind}
        keys = _keys("model", "kind")
        self.items = Counter(
            "model_items",
            description="Inputs run through the model (texts embedded, rows predicted).",
            tag_keys=keys,
        )
        self.input_tokens = Histogram(
            "model_input_tokens",
            description="Tokens per input, after truncation (text models only).",
            boundaries=TOKEN_BUCKETS,
            tag_keys=keys,
        )
        self.inference_seconds = Histogram(
            "model_inference_seconds",
            description="Forward-pass time of one batch.",
            boundaries=LATENCY_BUCKETS_S,
            tag_keys=keys,
        )
        self.batch_size = Histogram(
            "model_batch_size",
            description="Inputs per forward pass.",
            boundaries=BATCH_SIZE_BUCKETS,
            tag_keys=keys,
        )
        self.batch_utilization = Histogram(
            "model_batch_utilization",
            description="Inputs per forward pass divided by max_batch_size.",
            boundaries=UTILIZATION_BUCKETS,
            tag_keys=keys,
        )
        self.queue_wait_seconds = Histogram(
            "model_queue_wait_seconds",
            description="Time from arrival at the model replica to the start of its batch.",
            boundaries=LATENCY_BUCKETS_S,
            tag_keys=keys,
        )
        self.cancelled_requests = Counter(
            "model_cancelled_requests",
            description="Requests whose caller gave up (deadline, disconnect) on the replica.",
            tag_keys=keys,
        )
        self.cancelled_items = Counter(
            "model_cancelled_items",
            description="Inputs of cancelled requests that were dropped before running.",
            tag_keys=keys,
        )
        self.batch_tokens = Histogram(
            "model_batch_tokens",
            description="Token positions one forward pass computed: rows x its longest row, "
            "padding included (text models only).",
            boundaries=BATCH_TOKEN_BUCKETS,
            tag_keys=keys,
        )
        self.padding_tokens = Counter(
            "model_padding_tokens",
            description="Token positions computed for padding alone; over the sum of "
            "model_batch_tokens it is the share of the forward passes spent on padding.",
            tag_keys=keys,
        )
        self.expired_items = Counter(
            "model_expired_items",
            description="Inputs dropped before their forward pass because their request's "
            "deadline had passed (answered 504 without computing them).",
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
        if token_counts:  # every row is padded to the longest
            padded = max(token_counts) * len(token_counts)
            self.batch_tokens.observe(padded, tags=tags)
            if padded > sum(token_counts):  # Counter.inc refuses 0
                self.padding_tokens.inc(padded - sum(token_counts), tags=tags)
        for w in waits:
            self.queue_wait_seconds.observe(w, tags=tags)
        # The same waits, for the replica's record_autoscaling_stats (SLO policy).
        replica_queue_waits().add(waits)

    def record_expired(self, items: int) -> None:
        if items:
            self.expired_items.inc(items, tags=self.tags)

    def record_cancelled(self, skipped_items: int) -> None:
        self.cancelled_requests.inc(tags=self.tags)
        if skipped_items:
            self.cancelled_items.inc(skipped_items, tags=self.tags)


class GenerationMetrics:
    """One generator replica, with vLLM's meanings: tokens per second is the rate of
    ``generation_tokens``; running/waiting sequences and KV-cache use are gauges sampled
    at every decode step of the continuous batcher."""

    def __init__(self, model: str) -> None:
        self.tags = {"model": model}
        keys = _keys("model")
        self.time_to_first_token = Histogram(
            "generation_time_to_first_token_seconds",
            description="From a request's arrival at the replica to its first generated token.",
            boundaries=TTFT_BUCKETS_S,
            tag_keys=keys,
        )
        self.inter_token = Histogram(
            "generation_inter_token_latency_seconds",
            description="Between two consecutive generated tokens of one request.",
            boundaries=LATENCY_BUCKETS_S,
            tag_keys=keys,
        )
        self.e2e = Histogram(
            "generation_request_latency_seconds",
            description="From a request's arrival at the replica to its end, however it ended.",
            boundaries=TTFT_BUCKETS_S,
            tag_keys=keys,
        )
        self.tokens = Counter("generation_tokens", description="Tokens generated.", tag_keys=keys)
        self.prompt_tokens = Counter(
            "generation_prompt_tokens", description="Prompt tokens read.", tag_keys=keys
        )
        self.requests = Counter(
            "generation_requests",
            description="Generations ended, by finish_reason: stop, length, cancelled (the "
            "caller left or its deadline passed) or error.",
            tag_keys=_keys("model", "finish_reason"),
        )
        self.cancelled = Counter(
            "generation_cancelled",
            description="Generations stopped because their caller went away.",
            tag_keys=keys,
        )
        self.running = Gauge(
            "generation_running_sequences",
            description="Sequences in the decode batch (after the last step).",
            tag_keys=keys,
        )
        self.waiting = Gauge(
            "generation_waiting_sequences",
            description="Requests waiting for a slot in the decode batch.",
            tag_keys=keys,
        )
        self.cache_usage = Gauge(
            "generation_kv_cache_usage",
            description="Fraction (0-1) of max_cache_tokens reserved by running sequences.",
            tag_keys=keys,
        )
        self.batch_size = Histogram(
            "generation_decode_batch_size",
            description="Sequences advanced by one decode step.",
            boundaries=BATCH_SIZE_BUCKETS,
            tag_keys=keys,
        )

    def started(self, prompt_tokens: int) -> None:
        self.prompt_tokens.inc(prompt_tokens, tags=self.tags)

    def first_token(self, seconds: float) -> None:
        self.time_to_first_token.observe(seconds, tags=self.tags)

    def inter_token_gap(self, seconds: float) -> None:
        self.inter_token.observe(seconds, tags=self.tags)

    def step(self, batch_size: int, batcher: Any) -> None:
        """After each decode step of deployments/models/generation/scheduler.py."""
        self.batch_size.observe(batch_size, tags=self.tags)
        running = [s for s in batcher.running if not s.done]
        self.running.set(len(running), tags=self.tags)
        self.waiting.set(len(batcher.waiting), tags=self.tags)
        reserved = sum(s.reserved for s in running)
        self.cache_usage.set(reserved / batcher.knobs.max_cache_tokens, tags=self.tags)

    def ended(self, outcome: str, tokens: int, seconds: float | None = None) -> None:
        if tokens:
            self.tokens.inc(tokens, tags=self.tags)
        self.requests.inc(tags=self.tags | {"finish_reason": outcome})
        if outcome == "cancelled":
            self.cancelled.inc(tags=self.tags)
        if seconds is not None:
            self.e2e.observe(seconds, tags=self.tags)


class MultiplexMetrics:
    """Loads and evictions in a multiplexed replica, by model: Ray's own multiplex metrics
    count per replica without saying which model, which is what shows thrashing."""

    def __init__(self) -> None:
        keys = _keys("model")
        self.loads = Counter(
            "multiplexed_model_loads",
            description="Models loaded into a replica's multiplex cache.",
            tag_keys=keys,
        )
        self.unloads = Counter(
            "multiplexed_model_unloads",
            description="Models evicted from a replica's multiplex cache (LRU).",
            tag_keys=keys,
        )
        self.load_seconds = Histogram(
            "multiplexed_model_load_seconds",
            description="Time to load a model into a replica.",
            boundaries=LATENCY_BUCKETS_S,
            tag_keys=keys,
        )

    def record_load(self, model: str, seconds: float) -> None:
        self.loads.inc(tags={"model": model})
        self.load_seconds.observe(seconds, tags={"model": model})

    def record_unload(self, model: str) -> None:
        self.unloads.inc(tags={"model": model})


class AutoscalingPolicyMetrics:
    """The SLO autoscaling policy's view, set on every decision in the Serve controller.

    ``application``/``deployment`` are ours to set here: Serve adds (and reserves) them
    only inside replicas, and the controller is not one."""

    def __init__(self) -> None:
        keys = _keys("application", "deployment")
        self.queue_wait_p95 = Gauge(
            "autoscaling_policy_queue_wait_p95_seconds",
            description="Queue-wait p95 the SLO policy saw (worst replica, last seconds).",
            tag_keys=keys,
        )
        self.target = Gauge(
            "autoscaling_policy_target_seconds",
            description="The SLO policy's queue-wait p95 target.",
            tag_keys=keys,
        )
        self.desired_replicas = Gauge(
            "autoscaling_policy_desired_replicas",
            description="Replicas the SLO policy asked for, before Ray's delays and bounds.",
            tag_keys=keys,
        )
        self.own_signal = Gauge(
            "autoscaling_policy_own_signal",
            description="1 while the SLO policy decides on queue wait, 0 while it falls back "
            "to Ray's default policy (no or too few waits: idle or starting).",
            tag_keys=keys,
        )

    def record(
        self,
        application: str,
        deployment: str,
        *,
        target_s: float,
        p95_s: float | None,
        desired: float,
        own_signal: bool,
    ) -> None:
        tags = {"application": application, "deployment": deployment}
        self.target.set(target_s, tags=tags)
        if p95_s is not None:
            self.queue_wait_p95.set(p95_s, tags=tags)
        self.desired_replicas.set(desired, tags=tags)
        self.own_signal.set(1.0 if own_signal else 0.0, tags=tags)


@cache
def autoscaling_policy_metrics() -> AutoscalingPolicyMetrics:
    return AutoscalingPolicyMetrics()


@cache
def request_metrics() -> RequestMetrics:
    return RequestMetrics()
