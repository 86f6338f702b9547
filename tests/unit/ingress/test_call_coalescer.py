"""CallCoalescer on a real event loop: who goes in which call, and what each request gets.

``send`` here is a plain coroutine standing in for the model call, so each test controls
when a call ends; the live tests (test_embeddings) run it against the real model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from deployments.ingress.call_coalescer import CallCoalescer, LineFull


class Model:
    """Records every call; a call ends when the test opens its gate (at once if open)."""

    def __init__(self, hold: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.cancelled: list[list[str]] = []
        self.gates: list[asyncio.Event] = []
        self.open = not hold  # gates of calls still to come start open
        self.fail_call: Exception | None = None

    def release(self) -> None:
        """Ends every call in flight; later calls end at once."""
        self.open = True
        for gate in self.gates:
            gate.set()

    async def send(self, items: list[str], timeout_s: float) -> Sequence[str | Exception]:
        assert timeout_s > 0
        self.calls.append(items)
        gate = asyncio.Event()
        if self.open:
            gate.set()
        self.gates.append(gate)
        try:
            await gate.wait()
        except asyncio.CancelledError:
            self.cancelled.append(items)
            raise
        if self.fail_call is not None:
            raise self.fail_call
        return [ValueError(f"bad {i}") if i.startswith("bad") else i.upper() for i in items]


def coalescer(
    model: Model, on_call: Callable[[int, int], None] | None = None, **kw: int
) -> CallCoalescer[str, str]:
    options = {"max_in_flight": 1, "max_items": 100, "max_waiting": 100} | kw
    return CallCoalescer(model.send, size=len, on_call=on_call, **options)


async def ask(c: CallCoalescer[str, str], item: str, timeout_s: float) -> str:
    answer, waited_s = await c.submit(item, timeout_s)
    assert waited_s >= 0
    return answer


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_lone_request_goes_at_once_and_alone() -> None:
    async def main() -> None:
        model = Model()
        assert await ask(coalescer(model), "a", 5) == "A"
        assert model.calls == [["a"]]

    asyncio.run(main())


def test_requests_waiting_for_a_slot_share_the_next_call() -> None:
    async def main() -> None:
        model = Model(hold=True)
        seen: list[tuple[int, int]] = []
        c = coalescer(model, lambda n, waiting: seen.append((n, waiting)), max_in_flight=2)
        tasks = [asyncio.create_task(ask(c, t, 5)) for t in "abcdefg"]
        await settle()
        # Two slots: the first two went alone, the other five wait.
        assert model.calls == [["a"], ["b"]] and c.waiting == 5 and c.in_flight == 2
        model.release()
        assert await asyncio.gather(*tasks) == list("ABCDEFG")
        # Both slots freed together: the first takes every waiting request.
        assert model.calls == [["a"], ["b"], ["c", "d", "e", "f", "g"]]
        assert seen == [(1, 0), (1, 0), (5, 0)]  # what the metrics record per call

    asyncio.run(main())


def test_a_call_holds_at_most_max_items_inputs() -> None:
    async def main() -> None:
        model = Model(hold=True)
        c = coalescer(model, max_items=4)
        first = asyncio.create_task(ask(c, "x", 5))
        await settle()
        # Sizes 2, 2, 1, 9, 1: a group stops before the input that would overflow it,
        # and an input larger than max_items still goes, alone.
        rest = [asyncio.create_task(ask(c, t, 5)) for t in ("aa", "bb", "c", "d" * 9, "e")]
        await settle()
        model.release()
        await asyncio.gather(first, *rest)
        assert model.calls == [["x"], ["aa", "bb"], ["c"], ["d" * 9], ["e"]]

    asyncio.run(main())


def test_one_requests_bad_input_fails_only_that_request() -> None:
    async def main() -> None:
        model = Model(hold=True)
        c = coalescer(model)
        tasks = [asyncio.create_task(ask(c, t, 5)) for t in ("a", "b", "bad", "c")]
        await settle()
        model.release()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert model.calls == [["a"], ["b", "bad", "c"]]
        assert results[:2] == ["A", "B"] and results[3] == "C"
        assert isinstance(results[2], ValueError) and str(results[2]) == "bad bad"

    asyncio.run(main())


def test_a_failed_call_fails_every_request_in_it() -> None:
    async def main() -> None:
        model = Model(hold=True)
        c = coalescer(model)
        tasks = [asyncio.create_task(ask(c, t, 5)) for t in "abc"]
        await settle()
        model.fail_call = RuntimeError("model gone")
        model.release()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert [str(r) for r in results] == ["model gone"] * 3
        assert c.in_flight == 0 and c.waiting == 0

    asyncio.run(main())


def test_a_request_that_times_out_leaves_its_call_to_the_others() -> None:
    async def main() -> None:
        model = Model(hold=True)
        c = coalescer(model)
        first = asyncio.create_task(ask(c, "a", 5))
        await settle()
        impatient = asyncio.create_task(ask(c, "b", 0.05))
        patient = asyncio.create_task(ask(c, "c", 5))
        await settle()
        model.gates[0].set()  # "a" ends; "b" and "c" go together, and are held
        await first
        await settle()
        assert model.calls[-1] == ["b", "c"]
        with pytest.raises(TimeoutError):
            await impatient
        assert model.cancelled == []  # c still waits for the call
        model.release()
        assert await patient == "C"

    asyncio.run(main())


def test_a_call_is_cancelled_once_all_its_requests_gave_up() -> None:
    async def main() -> None:
        model = Model(hold=True)
        c = coalescer(model)
        tasks = [asyncio.create_task(ask(c, t, 0.05)) for t in "ab"]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results)
        await settle()
        assert model.cancelled == [["a"]]  # "b" never had a slot, so never a call
        assert model.calls == [["a"]] and c.in_flight == 0 and c.waiting == 0

    asyncio.run(main())


def test_a_cancelled_request_leaves_the_line() -> None:
    async def main() -> None:
        model = Model(hold=True)
        c = coalescer(model)
        first = asyncio.create_task(ask(c, "a", 5))
        gone = asyncio.create_task(ask(c, "b", 5))
        await settle()
        gone.cancel()  # the client went away while waiting for a slot
        await settle()
        assert c.waiting == 0
        model.release()
        assert await first == "A"
        assert model.calls == [["a"]]

    asyncio.run(main())


def test_a_full_line_refuses_at_once() -> None:
    async def main() -> None:
        model = Model(hold=True)
        c = coalescer(model, max_waiting=2)
        tasks = [asyncio.create_task(ask(c, t, 5)) for t in "abc"]
        await settle()
        with pytest.raises(LineFull):
            await ask(c, "d", 5)
        model.release()
        assert await asyncio.gather(*tasks) == list("ABC")

    asyncio.run(main())


def test_each_request_learns_how_long_it_waited_for_a_slot() -> None:
    async def main() -> None:
        model = Model(hold=True)
        c = coalescer(model)
        first = asyncio.create_task(c.submit("a", 5))
        await settle()
        second = asyncio.create_task(c.submit("b", 5))
        await asyncio.sleep(0.05)
        model.release()
        (_, first_waited), (_, second_waited) = await asyncio.gather(first, second)
        # Its Server-Timing `slot` stamp: 0 for a call sent at once.
        assert first_waited < 0.01 <= 0.05 <= second_waited < 1

    asyncio.run(main())
