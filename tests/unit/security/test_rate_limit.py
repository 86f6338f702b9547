"""Token buckets per client, with the most generous limit among the client's scopes."""

from __future__ import annotations

import pytest

from deployments.config import RateLimit, RateLimits
from deployments.errors import RateLimitedError
from deployments.security.principal import Principal
from deployments.security.rate_limit import RateLimiter


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: Clock, **by_scope: RateLimit | None) -> RateLimiter:
    default = RateLimit(requests_per_s=2, burst=3)
    return RateLimiter(RateLimits(default=default, by_scope=by_scope), clock=clock)


ALICE = Principal("key:alice", frozenset({"models:*"}))
BOB = Principal("key:bob", frozenset({"models:*"}))


def admitted(rl: RateLimiter, who: Principal, n: int) -> int:
    ok = 0
    for _ in range(n):
        try:
            rl.check(who)
            ok += 1
        except RateLimitedError:
            pass
    return ok


def test_burst_then_429_with_retry_after() -> None:
    clock = Clock()
    rl = limiter(clock)
    assert admitted(rl, ALICE, 3) == 3
    with pytest.raises(RateLimitedError) as info:
        rl.check(ALICE)
    assert info.value.retry_after_s == 1  # 0.5 s to the next token, rounded up
    assert "2 requests/s" in info.value.message


def test_tokens_refill_at_the_rate_up_to_the_burst() -> None:
    clock = Clock()
    rl = limiter(clock)
    admitted(rl, ALICE, 3)
    clock.now += 1.0  # 2 tokens back
    assert admitted(rl, ALICE, 5) == 2
    clock.now += 60  # long idle: capped at the burst, not 120
    assert admitted(rl, ALICE, 10) == 3


def test_clients_have_their_own_buckets() -> None:
    clock = Clock()
    rl = limiter(clock)
    assert admitted(rl, ALICE, 10) == 3
    assert admitted(rl, BOB, 10) == 3


def test_scope_limits_most_generous_wins_and_null_is_unlimited() -> None:
    clock = Clock()
    rl = limiter(
        clock,
        trial=RateLimit(requests_per_s=0.1, burst=1),
        batch=RateLimit(requests_per_s=100, burst=50),
        admin=None,
    )
    trial = Principal("key:t", frozenset({"trial"}))
    assert admitted(rl, trial, 5) == 1
    both = Principal("key:tb", frozenset({"trial", "batch"}))
    assert admitted(rl, both, 100) == 50
    operator = Principal("key:op", frozenset({"trial", "admin"}))
    assert admitted(rl, operator, 1000) == 1000
    assert rl.limit_for({"unlisted"}) == rl.limits.default


def test_no_limits_at_all() -> None:
    rl = RateLimiter(RateLimits(default=None))
    assert not rl.may_throttle
    assert admitted(rl, ALICE, 1000) == 1000


def test_memory_is_bounded_by_forgetting_the_least_recent_client() -> None:
    clock = Clock()
    rl = RateLimiter(RateLimits(), max_clients=100, clock=clock)
    for i in range(1000):
        rl.check(Principal(f"jwt:iss#user-{i}", frozenset()))
    assert len(rl._buckets) == 100
