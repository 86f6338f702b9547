"""The embedding batch scheduler: token budget with padding, earliest deadline first,
expired work never returned. Plain Python objects; nothing to stand in for."""

from __future__ import annotations

from typing import TypeVar

import pytest

from deployments.models.embedding.scheduler import Batch, TokenBudgetScheduler

T = TypeVar("T")


def _drain(s: TokenBudgetScheduler[T]) -> list[Batch[T]]:
    out = []
    while (batch := s.next_batch()) is not None:
        out.append(batch)
    return out


def test_without_a_token_budget_batches_count_items() -> None:
    s: TokenBudgetScheduler[str] = TokenBudgetScheduler(max_batch_size=4)
    for i in range(10):
        s.push(f"t{i}", tokens=10)
    batches = _drain(s)
    assert [len(b.items) for b in batches] == [4, 4, 2]
    assert [x for b in batches for x in b.items] == [f"t{i}" for i in range(10)]  # arrival order
    assert len(s) == 0


def test_padded_size_stays_within_the_token_budget() -> None:
    s: TokenBudgetScheduler[int] = TokenBudgetScheduler(max_batch_size=64, max_batch_tokens=256)
    for i in range(40):
        s.push(i, tokens=30 + i % 5)
    batches = _drain(s)
    assert all(b.padded_tokens <= 256 for b in batches)
    assert all(b.width == 30 + max(i % 5 for i in b.items) for b in batches)
    assert sorted(i for b in batches for i in b.items) == list(range(40))


def test_one_long_input_does_not_pad_the_short_ones() -> None:
    s: TokenBudgetScheduler[str] = TokenBudgetScheduler(max_batch_size=64, max_batch_tokens=16384)
    s.push("long", tokens=256)  # first in: it leads the first batch
    for i in range(63):
        s.push(f"short{i}", tokens=8)
    first, *rest = _drain(s)
    assert "long" in first.items and len(first.items) <= 2
    assert len(rest) == 1 and len(rest[0].items) == 64 - len(first.items)
    assert rest[0].width == 8
    # Items-only batching would have run all 64 at width 256: 63 * 248 padding positions.
    assert first.padding + rest[0].padding <= 248


def test_similar_lengths_are_grouped() -> None:
    s: TokenBudgetScheduler[int] = TokenBudgetScheduler(max_batch_size=4, max_batch_tokens=4096)
    for i, n in enumerate([10, 200, 11, 190, 12, 210, 9, 205]):
        s.push(i, tokens=n)
    widths = [b.width for b in _drain(s)]
    assert widths == [12, 210]  # the four short ones, then the four long ones


def test_earliest_deadline_leads_and_no_deadline_goes_last() -> None:
    s: TokenBudgetScheduler[str] = TokenBudgetScheduler(max_batch_size=2)
    s.push("none-a", tokens=5)
    s.push("late", tokens=5, deadline=20.0)
    s.push("none-b", tokens=5)
    s.push("soon", tokens=5, deadline=10.0)
    s.push("sooner", tokens=5, deadline=5.0)
    batches = [b.items for b in _drain(s)]
    assert batches[0] == ["soon", "sooner"]  # the two earliest, in arrival order
    assert batches[1] == ["none-a", "late"]  # the rest: "late", then the first undated
    assert batches[2] == ["none-b"]


def test_expired_work_is_handed_back_and_never_batched() -> None:
    s: TokenBudgetScheduler[str] = TokenBudgetScheduler(max_batch_size=8)
    s.push("gone", tokens=5, deadline=1.0)
    s.push("on-time", tokens=5, deadline=3.0)
    s.push("whenever", tokens=5)
    assert s.expired(now=2.0) == ["gone"]
    assert s.expired(now=2.0) == []
    assert [b.items for b in _drain(s)] == [["on-time", "whenever"]]


def test_an_input_over_the_budget_still_runs_alone() -> None:
    s: TokenBudgetScheduler[str] = TokenBudgetScheduler(max_batch_size=8, max_batch_tokens=100)
    s.push("huge", tokens=256)
    s.push("small", tokens=4)
    batches = [b.items for b in _drain(s)]
    assert batches == [["huge"], ["small"]]


@pytest.mark.parametrize(
    "kwargs", [{"max_batch_size": 0}, {"max_batch_size": 1, "max_batch_tokens": 0}]
)
def test_bad_limits_are_rejected(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        TokenBudgetScheduler(**kwargs)
