"""How many replicas a queue-wait target asks for: the SLO policy's decision, framework-free.

Inputs are what the controller knows each tick: the replicas running, the p95 of the
inputs' wait inside the replicas over the last seconds (``deployments/queue_wait.py``)
and how many waits it was taken from, and requests queued at the handles. Output is a
replica count, or "no signal" so that the caller falls back to Ray's default policy.

- Above target: scale out in proportion to how far above (p95 / target), at least one
  replica, at most ``max_step`` times the current count per decision (queueing delay
  grows much faster than linearly near saturation, so the ratio overshoots).
- Below target: scale in one replica at a time, and only when the replicas left would
  still be comfortably under target (assuming the load spreads evenly:
  p95 * n / (n - 1) < ``scale_down_below`` * target) and no request is queued at the
  handles. Between the two: hold. This band is the hysteresis; Ray adds its
  ``downscale_delay_s`` on top.
- Fewer than ``min_samples`` waits in the window (idle, or a replica still starting):
  no signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Reason = Literal["scale_up", "hold", "scale_down", "no_signal"]


@dataclass(frozen=True)
class QueueWaitTarget:
    target_p95_s: float
    scale_down_below: float = 0.8
    min_samples: int = 20
    max_step: float = 2.0

    def __post_init__(self) -> None:
        if self.target_p95_s <= 0:
            raise ValueError("target_p95_s must be > 0")
        if not 0 < self.scale_down_below < 1:
            raise ValueError("scale_down_below must be in (0, 1)")
        if self.max_step <= 1:
            raise ValueError("max_step must be > 1")


@dataclass(frozen=True)
class Decision:
    replicas: int | None  # None: no signal, use Ray's default policy
    reason: Reason


def decide(
    target: QueueWaitTarget,
    *,
    current: int,
    p95_s: float | None,
    samples: float,
    queued: float,
    min_replicas: int,
    max_replicas: int,
) -> Decision:
    if current <= 0 or p95_s is None or samples < target.min_samples:
        return Decision(None, "no_signal")
    ratio = p95_s / target.target_p95_s
    if ratio > 1:
        wanted = max(current + 1, math.ceil(current * min(ratio, target.max_step)))
        return _bounded(wanted, current, min_replicas, max_replicas, "scale_up")
    if current > 1 and queued <= 0 and ratio * current / (current - 1) < target.scale_down_below:
        return _bounded(current - 1, current, min_replicas, max_replicas, "scale_down")
    return _bounded(current, current, min_replicas, max_replicas, "hold")


def _bounded(wanted: int, current: int, low: int, high: int, reason: Reason) -> Decision:
    replicas = min(max(wanted, low), max(high, low))
    if replicas == current and reason != "hold":
        reason = "hold"  # at a bound: nothing to do
    return Decision(replicas, reason)
