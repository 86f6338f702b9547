"""Per-client token buckets, kept in the memory of one ingress replica.

Each replica limits on its own, so with N ingress replicas a client can get up to N times
its configured rate (Serve spreads requests over replicas). A cluster-wide limit would need
shared state on the hot path of every request (an actor or Redis round trip); per-replica
buckets cost nothing and still stop a runaway client.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from deployments.config import RateLimit, RateLimits
from deployments.errors import RateLimitedError
from deployments.security.principal import Principal


class TokenBucket:
    __slots__ = ("limit", "tokens", "updated")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.limit = limit
        self.tokens = float(limit.burst)
        self.updated = now

    def take(self, now: float) -> float:
        """Take one token; 0.0 if there was one, else the seconds until there will be."""
        rate = self.limit.requests_per_s
        self.tokens = min(float(self.limit.burst), self.tokens + (now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / rate


class RateLimiter:
    def __init__(
        self,
        limits: RateLimits,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    @property
    def may_throttle(self) -> bool:
        limits = self.limits
        return limits.default is not None or any(v is not None for v in limits.by_scope.values())

    def limit_for(self, scopes: Iterable[str]) -> RateLimit | None:
        """The most generous limit among the caller's scopes; None is unlimited."""
        listed = [self.limits.by_scope[s] for s in scopes if s in self.limits.by_scope]
        if not listed:
            return self.limits.default
        finite = [limit for limit in listed if limit is not None]
        if len(finite) < len(listed):
            return None
        return max(finite, key=lambda limit: (limit.requests_per_s, limit.burst))

    def check(self, principal: Principal) -> None:
        limit = self.limit_for(principal.scopes)
        if limit is None:
            return
        now = self.clock()
        bucket = self._buckets.pop(principal.subject, None)
        if bucket is None or bucket.limit != limit:
            bucket = TokenBucket(limit, now)
        # Most recently used last; the least recently used client is forgotten first, so
        # many distinct subjects (e.g. JWT users) cannot grow this without bound.
        self._buckets[principal.subject] = bucket
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        wait = bucket.take(now)
        if wait > 0:
            raise RateLimitedError(
                f"rate limit of {limit.requests_per_s:g} requests/s (burst {limit.burst}) "
                f"exceeded; retry in {wait:.1f} s",
                retry_after_s=max(1, math.ceil(wait)),
            )
