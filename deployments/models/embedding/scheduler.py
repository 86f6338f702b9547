"""Which queued inputs run together: a token budget per forward pass, earliest deadline first.

Framework-free (no Ray, no torch): the embedding replica feeds it the inputs one
``@serve.batch`` call collected, each with its token count and its request's deadline, and
runs what ``next_batch`` returns until it is empty.

- A forward pass costs its *padded* size: every row is as long as the longest, so a batch
  of ``n`` inputs whose longest has ``w`` tokens computes ``n * w`` token positions. The
  budget (``max_batch_tokens``) bounds that product, and ``max_batch_size`` the rows.
- Each batch is led by the input with the earliest deadline (no deadline: after every
  deadline, in arrival order); the rest of the batch is filled with the inputs whose
  lengths are closest to the leader's, and only while at least ``min_fill`` (half) of the
  padded positions are real tokens, so one 256-token input does not pad 63 short ones to
  256: they run together in a batch of their own, in the next forward pass.
- Inputs whose deadline has passed are never returned by ``next_batch``: ``expired`` hands
  them back so the caller answers them without computing them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(eq=False)
class Queued(Generic[T]):
    item: T
    tokens: int
    deadline: float  # absolute, on the caller's clock; math.inf: none
    seq: int


@dataclass(frozen=True)
class Batch(Generic[T]):
    items: list[T]
    width: int  # tokens of its longest input: every row's length
    tokens: int  # real tokens, padding excluded

    @property
    def padded_tokens(self) -> int:
        return self.width * len(self.items)

    @property
    def padding(self) -> int:
        """Token positions computed for padding alone."""
        return self.padded_tokens - self.tokens


class TokenBudgetScheduler(Generic[T]):
    def __init__(
        self, max_batch_size: int, max_batch_tokens: int | None = None, min_fill: float = 0.5
    ) -> None:
        if max_batch_size < 1 or (max_batch_tokens is not None and max_batch_tokens < 1):
            raise ValueError("max_batch_size and max_batch_tokens must be positive")
        if not 0.0 <= min_fill <= 1.0:
            raise ValueError("min_fill is a fraction")
        self.max_batch_size = max_batch_size
        self.max_batch_tokens = max_batch_tokens
        self.min_fill = min_fill
        self._queue: list[Queued[T]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._queue)

    def push(self, item: T, tokens: int, deadline: float | None = None) -> None:
        self._queue.append(
            Queued(item, max(tokens, 1), math.inf if deadline is None else deadline, self._seq)
        )
        self._seq += 1

    def expired(self, now: float) -> list[T]:
        """Remove and return the inputs whose deadline is at or before ``now``."""
        late = [q for q in self._queue if q.deadline <= now]
        if late:
            self._queue = [q for q in self._queue if q.deadline > now]
        return [q.item for q in late]

    def next_batch(self) -> Batch[T] | None:
        """The next forward pass, taken out of the queue; None when the queue is empty.

        The leader always runs, even alone over the budget (an input the model accepts must
        run some time); every other input joins only if rows and padded tokens still fit.
        """
        if not self._queue:
            return None
        leader = min(self._queue, key=lambda q: (q.deadline, q.seq))
        rest = sorted(
            (q for q in self._queue if q is not leader),
            key=lambda q: (abs(q.tokens - leader.tokens), q.deadline, q.seq),
        )
        chosen, width, real = [leader], leader.tokens, leader.tokens
        for q in rest:
            if len(chosen) == self.max_batch_size:
                break
            wider = max(width, q.tokens)
            padded = wider * (len(chosen) + 1)
            if self.max_batch_tokens is not None and padded > self.max_batch_tokens:
                continue  # a shorter one further on may still fit
            if real + q.tokens < self.min_fill * padded:
                continue  # mostly padding: it runs with inputs of its own length instead
            chosen.append(q)
            width, real = wider, real + q.tokens
        taken = {id(q) for q in chosen}
        self._queue = [q for q in self._queue if id(q) not in taken]
        chosen.sort(key=lambda q: q.seq)
        return Batch([q.item for q in chosen], width, sum(q.tokens for q in chosen))
