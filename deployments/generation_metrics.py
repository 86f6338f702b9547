"""Metrics of text-generation replicas, exported through ``ray.serve.metrics``.

Ray prefixes them with ``ray_``; labels are ``model`` and, on requests, a bounded
``finish_reason`` (stop, length, cancelled, error). Tokens per second is the rate of
``generation_tokens``.
"""

from __future__ import annotations

from typing import Any

from ray.serve.metrics import Counter, Histogram

TTFT_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]
OUTCOMES = ("stop", "length", "cancelled", "error")


def _keys(*names: str) -> Any:
    # Ray annotates tag_keys as Tuple[str] (one element) though it takes any number.
    return names


class GenerationMetrics:
    def __init__(self, model: str) -> None:
        self.tags = {"model": model}
        keys = _keys("model")
        self.time_to_first_token = Histogram(
            "generation_time_to_first_token_seconds",
            description="From a request's arrival at the replica to its first generated token.",
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

    def started(self, prompt_tokens: int) -> None:
        self.prompt_tokens.inc(prompt_tokens, tags=self.tags)

    def first_token(self, seconds: float) -> None:
        self.time_to_first_token.observe(seconds, tags=self.tags)

    def ended(self, outcome: str, tokens: int) -> None:
        if tokens:
            self.tokens.inc(tokens, tags=self.tags)
        self.requests.inc(tags=self.tags | {"finish_reason": outcome})
        if outcome == "cancelled":
            self.cancelled.inc(tags=self.tags)
