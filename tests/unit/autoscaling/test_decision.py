"""The SLO policy's decision (deployments/autoscaling/decision.py): scale out in proportion,
in one at a time inside a hysteresis band, hold between, no signal without waits."""

from __future__ import annotations

from typing import Any

import pytest

from deployments.autoscaling.decision import Decision, QueueWaitTarget, decide

TARGET = QueueWaitTarget(target_p95_s=0.05)


def at(p95_s: float | None, current: int = 2, **kwargs: float) -> Decision:
    args: dict[str, float] = {"samples": 100, "queued": 0, "min_replicas": 1, "max_replicas": 8}
    args.update(kwargs)
    return decide(
        TARGET,
        current=current,
        p95_s=p95_s,
        samples=args["samples"],
        queued=args["queued"],
        min_replicas=int(args["min_replicas"]),
        max_replicas=int(args["max_replicas"]),
    )


@pytest.mark.parametrize(
    ("p95_s", "current", "replicas"),
    [
        (0.06, 2, 3),  # 1.2x over: ceil(2.4), at least one more
        (0.051, 4, 5),  # barely over: still at least one more
        (0.15, 2, 4),  # 3x over, capped at max_step (2x)
        (0.075, 4, 6),  # 1.5x over: proportional
    ],
)
def test_above_target_scales_out_in_proportion(p95_s: float, current: int, replicas: int) -> None:
    assert at(p95_s, current) == Decision(replicas, "scale_up")


def test_scale_out_stops_at_max_replicas() -> None:
    assert at(0.5, current=3, max_replicas=4) == Decision(4, "scale_up")
    assert at(0.5, current=4, max_replicas=4) == Decision(4, "hold")


@pytest.mark.parametrize(
    ("p95_s", "current", "expected"),
    [
        (0.045, 2, Decision(2, "hold")),  # under target, but one fewer would be over
        (0.019, 2, Decision(1, "scale_down")),  # 0.019 * 2 = 0.038 < 0.8 * 0.05
        (0.021, 2, Decision(2, "hold")),  # 0.042 > 0.04: inside the band
        (0.025, 4, Decision(3, "scale_down")),  # 0.025 * 4/3 = 0.033: one at a time
        (0.001, 1, Decision(1, "hold")),  # never below one replica on its own
    ],
)
def test_below_target_scales_in_one_at_a_time_outside_the_band(
    p95_s: float, current: int, expected: Decision
) -> None:
    assert at(p95_s, current) == expected


def test_no_scale_in_while_requests_queue_at_the_handles() -> None:
    assert at(0.001, current=3, queued=5) == Decision(3, "hold")


def test_scale_in_respects_min_replicas() -> None:
    assert at(0.001, current=2, min_replicas=2) == Decision(2, "hold")


@pytest.mark.parametrize(
    ("p95_s", "current", "samples"), [(None, 2, 100), (0.5, 2, 19), (0.5, 0, 100)]
)
def test_no_signal_without_enough_waits_or_replicas(
    p95_s: float | None, current: int, samples: float
) -> None:
    assert at(p95_s, current, samples=samples) == Decision(None, "no_signal")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"target_p95_s": 0},
        {"target_p95_s": 0.05, "scale_down_below": 1.0},
        {"target_p95_s": 0.05, "max_step": 1.0},
    ],
)
def test_bad_targets_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        QueueWaitTarget(**kwargs)
