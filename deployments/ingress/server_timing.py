"""The ``Server-Timing`` response header (W3C): where a request's time went, per stage.

Browsers' devtools show it, and ``benchmarks/`` reads it to split each request's
latency into HTTP, ingress, the wait for a call slot, the model call's hop and the model's
own queue and forward pass.
Durations only, in milliseconds; nothing about the input or the model's weights.
"""

from __future__ import annotations

import time

from deployments.contracts import BatchedAnswer

HEADER = "server-timing"

# What each stage covers, in the order a request meets them (sent as `desc`).
STAGES = {
    "app": "ingress: request in to response out",
    "call": "model call as the ingress awaited it",
    "slot": "waiting in the ingress for a model call slot",
    "replica": "inside the model replica",
    "queue": "waiting for a batch",
    "forward": "forward pass (preprocessing included)",
}


def header(**seconds: float | None) -> str:
    """``Server-Timing`` for the stages given (seconds; None leaves a stage out)."""
    return ", ".join(
        f'{name};dur={1000 * s:.2f};desc="{STAGES[name]}"'
        for name, s in seconds.items()
        if s is not None
    )


def for_model_call(received_at: float, call_s: float, result: BatchedAnswer) -> str:
    """The header of a request that arrived at ``received_at`` (``time.perf_counter()``)
    and was answered by one model call that took ``call_s``."""
    return header(
        app=time.perf_counter() - received_at,
        call=call_s,
        slot=result.slot_s,
        replica=result.replica_s,
        queue=result.queue_s,
        forward=result.forward_s,
    )
