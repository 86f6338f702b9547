"""Fewer, fuller model calls: requests that wait for a free call slot share the next call.

Each Serve handle call costs the model replica about 2 ms of event-loop time whatever it
carries (router, gRPC, the replica's request wrapper, pickling): measured with py-spy at
concurrency 1 on the 2-core box. One model replica therefore tops out near a few hundred
calls per second, so with one request per call its forward passes starve at any batch
size, which is the ceiling the naive app hits (its GPU replica's requests per second
barely moved between 1 and 32 texts per request).

So each ingress replica keeps at most ``max_in_flight`` calls open per model. A request
that finds a free slot is sent at once, alone (concurrency 1 pays nothing); requests that
arrive while every slot is busy wait here and all go in the next call that frees, up to
``max_items`` inputs. The model replica still batches across calls (``@serve.batch``), so
batches stay full while the replica pays the call overhead once per group instead of once
per request.

Each request keeps its own deadline and cancellation: one that gives up stops waiting;
a call is cancelled (reaching the model replica) only once every request in it gave up.
The line is bounded (``max_waiting``): past it a request fails at once with ``LineFull``
instead of waiting, as Serve's own ``max_queued_requests`` would shed it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

# Sends one call: the inputs of its requests and the time left to the latest deadline
# among them; returns one answer per input, in order, an Exception for inputs that failed
# on their own (bad input) while the others succeeded.
Send = Callable[[list[In], float], Awaitable[Sequence[Out | Exception]]]


class LineFull(Exception):
    """Every call slot is busy and ``max_waiting`` requests already wait for one."""


class _Member(Generic[In, Out]):
    __slots__ = ("arrived", "call", "deadline", "future", "item", "sent", "size")

    def __init__(self, item: In, size: int, arrived: float, deadline: float) -> None:
        self.item = item
        self.size = size
        self.arrived = arrived
        self.deadline = deadline
        self.future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self.call: _Call[In, Out] | None = None
        self.sent = arrived  # when its call was sent


class _Call(Generic[In, Out]):
    __slots__ = ("members", "task", "waiting")

    def __init__(self, members: list[_Member[In, Out]]) -> None:
        self.members = members
        self.waiting = len(members)  # members still awaiting an answer
        self.task: asyncio.Task[None] | None = None


class CallCoalescer(Generic[In, Out]):
    """At most ``max_in_flight`` calls open; whoever waits for a slot shares the next."""

    def __init__(
        self,
        send: Send[In, Out],
        *,
        max_in_flight: int,
        max_items: int,
        max_waiting: int,
        size: Callable[[In], int] = lambda _: 1,
        on_call: Callable[[int, int], None] | None = None,
    ) -> None:
        """``on_call(requests in the call, requests still waiting)`` runs at each call."""
        if min(max_in_flight, max_items, max_waiting) < 1:
            raise ValueError("max_in_flight, max_items and max_waiting must be at least 1")
        self._send = send
        self._max_in_flight = max_in_flight
        self._max_items = max_items
        self._max_waiting = max_waiting
        self._size = size
        self._on_call = on_call
        self._waiting: deque[_Member[In, Out]] = deque()
        self._calls: set[_Call[In, Out]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._calls)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def submit(self, item: In, timeout_s: float) -> tuple[Out, float]:
        """``item``'s answer and the seconds it waited for a call slot; TimeoutError after
        ``timeout_s``, LineFull at once when the line is full. Errors of its call (the model
        unreachable, overloaded...) are raised here for every request in the call."""
        if len(self._calls) >= self._max_in_flight and len(self._waiting) >= self._max_waiting:
            raise LineFull(f"{len(self._waiting)} requests already wait for a call")
        now = asyncio.get_running_loop().time()
        member: _Member[In, Out] = _Member(item, self._size(item), now, now + timeout_s)
        self._waiting.append(member)
        self._dispatch()
        try:
            async with asyncio.timeout_at(member.deadline):
                answer = await member.future
            return answer, member.sent - member.arrived
        finally:
            if not member.future.done() or member.future.cancelled():
                self._give_up(member)

    def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting and len(self._calls) < self._max_in_flight:
            members = [self._waiting.popleft()]
            items = members[0].size
            while self._waiting and items + self._waiting[0].size <= self._max_items:
                items += self._waiting[0].size
                members.append(self._waiting.popleft())
            call: _Call[In, Out] = _Call(members)
            now = loop.time()
            for m in members:
                m.call = call
                m.sent = now
            timeout_s = max(m.deadline for m in members) - now
            self._calls.add(call)
            call.task = loop.create_task(self._run(call, timeout_s))
            if self._on_call is not None:
                self._on_call(len(members), len(self._waiting))

    async def _run(self, call: _Call[In, Out], timeout_s: float) -> None:
        try:
            answers = await self._send([m.item for m in call.members], timeout_s)
        except asyncio.CancelledError:
            return  # every member gave up (see _give_up); nobody is left to answer
        except Exception as exc:
            for m in call.members:
                if not m.future.done():
                    m.future.set_exception(exc)
        else:
            for m, answer in zip(call.members, answers, strict=True):
                if m.future.done():
                    continue
                if isinstance(answer, Exception):
                    m.future.set_exception(answer)
                else:
                    m.future.set_result(answer)
        finally:
            self._calls.discard(call)
            self._dispatch()

    def _give_up(self, member: _Member[In, Out]) -> None:
        call = member.call
        if call is None:  # still waiting for a slot: it simply leaves the line
            self._waiting.remove(member)
            return
        call.waiting -= 1
        if call.waiting == 0 and call.task is not None:
            call.task.cancel()
