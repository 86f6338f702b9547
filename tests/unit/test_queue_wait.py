"""A replica's recent queue waits (deployments/queue_wait.py), on a clock the test sets."""

from __future__ import annotations

from deployments.queue_wait import QUEUE_WAIT_P95, QUEUE_WAIT_SAMPLES, RecentWaits, quantile


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_p95_of_the_window_only() -> None:
    clock = Clock()
    waits = RecentWaits(window_s=10, clock=clock)
    waits.add([5.0] * 10)  # old: gone once the window moves past them
    clock.now += 11
    waits.add([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert waits.stats() == {QUEUE_WAIT_SAMPLES: 100.0, QUEUE_WAIT_P95: 0.095}


def test_empty_window_reports_no_p95() -> None:
    clock = Clock()
    waits = RecentWaits(window_s=10, clock=clock)
    waits.add([0.01])
    clock.now += 10.5
    assert waits.stats() == {QUEUE_WAIT_SAMPLES: 0.0}


def test_memory_is_bounded() -> None:
    waits = RecentWaits(max_samples=50, clock=Clock())
    waits.add([0.001] * 1000)
    assert waits.stats()[QUEUE_WAIT_SAMPLES] == 50


def test_nearest_rank_quantile() -> None:
    assert quantile([3.0, 1.0, 2.0], 0.95) == 3.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
