"""Recent queue waits of one model replica: what the SLO autoscaling policy scales on.

Every batched model replica (embedding, predictor) adds each input's wait - arrival at the
replica to the start of its batch, the same value as ``ray_model_queue_wait_seconds`` - to
one process-wide window (a replica is one process). Ray Serve calls the replica's
``record_autoscaling_stats`` every ``metrics_interval_s`` and ships its answer to the
controller, where ``deployments.autoscaling.policy`` reads it from the
``AutoscalingContext``. Prometheus is not in that loop: the signal is seconds old, not a
scrape and a rule evaluation old, and works where no Prometheus runs.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from functools import cache

# Keys of record_autoscaling_stats' dict, read back by the policy.
QUEUE_WAIT_P95 = "queue_wait_p95_s"
QUEUE_WAIT_SAMPLES = "queue_wait_samples"

# Short enough to follow a load step within seconds, long enough to hold a few hundred
# waits at the rates a CPU replica serves (~100-400 inputs/s here).
WINDOW_S = 10.0
# A bound on memory per replica whatever the rate; beyond it the oldest waits go first.
MAX_SAMPLES = 8192


def quantile(values: list[float], q: float) -> float:
    """The q-quantile by the nearest-rank method (no interpolation across a gap)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class RecentWaits:
    """Waits of the last ``window_s`` seconds; thread-safe (batches end on several tasks)."""

    def __init__(
        self,
        window_s: float = WINDOW_S,
        max_samples: int = MAX_SAMPLES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window_s = window_s
        self._clock = clock
        self._waits: deque[tuple[float, float]] = deque(maxlen=max_samples)
        self._lock = threading.Lock()

    def add(self, waits: Iterable[float]) -> None:
        now = self._clock()
        with self._lock:
            self._waits.extend((now, w) for w in waits)

    def stats(self) -> dict[str, float]:
        """{QUEUE_WAIT_SAMPLES: n} and, when n > 0, {QUEUE_WAIT_P95: seconds}."""
        horizon = self._clock() - self._window_s
        with self._lock:
            while self._waits and self._waits[0][0] < horizon:
                self._waits.popleft()
            waits = [w for _, w in self._waits]
        stats = {QUEUE_WAIT_SAMPLES: float(len(waits))}
        if waits:
            stats[QUEUE_WAIT_P95] = quantile(waits, 0.95)
        return stats


@cache
def replica_queue_waits() -> RecentWaits:
    """This process's window (one per model replica)."""
    return RecentWaits()
