"""The engine-to-reader hand-off of deployments/models/generation/scheduler.Sequence:
the reader wakes once the tokens its next chunk needs are ready, when its sequence
ends, or on an engine error, never at every step. Plain asyncio, no model."""

from __future__ import annotations

import asyncio

import pytest

from deployments.models.generation.scheduler import Sequence


def sequence() -> Sequence:
    return Sequence(
        prompt_ids=[1, 2],
        max_tokens=10,
        temperature=0.0,
        top_p=1.0,
        logprobs=None,
        seed=None,
        eos_ids=set(),
    )


async def until_blocked(task: asyncio.Task[object]) -> None:
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()


def test_reader_wakes_when_its_chunk_is_ready() -> None:
    async def main() -> None:
        seq = sequence()
        reader = asyncio.create_task(seq.take(3))
        seq.deliver(7, None, 1.0)
        seq.deliver(8, None, 2.0)
        await until_blocked(reader)  # two of three: not woken
        seq.deliver(9, None, 3.0)
        assert await reader == [(7, None, 1.0), (8, None, 2.0), (9, None, 3.0)]
        # Tokens already waiting are taken at once, however few.
        seq.deliver(10, None, 4.0)
        assert await seq.take(1) == [(10, None, 4.0)]

    asyncio.run(main())


def test_a_sequence_that_ends_wakes_its_reader_with_what_is_left() -> None:
    async def main() -> None:
        seq = sequence()
        reader = asyncio.create_task(seq.take(8))
        seq.deliver(5, None, 1.0)
        await until_blocked(reader)
        seq.done = True  # the engine saw its last token (end of sequence, length)
        seq.deliver(6, None, 2.0)
        assert [t for t, _, _ in await reader] == [5, 6]

    asyncio.run(main())


def test_an_engine_error_comes_after_the_tokens_before_it() -> None:
    async def main() -> None:
        seq = sequence()
        seq.deliver(5, None, 1.0)
        seq.fail(RuntimeError("model broke"))
        assert seq.done
        assert [t for t, _, _ in await seq.take(4)] == [5]
        with pytest.raises(RuntimeError, match="model broke"):
            await seq.take()

        waiting = sequence()
        reader = asyncio.create_task(waiting.take())
        await until_blocked(reader)
        waiting.fail(RuntimeError("model broke"))
        with pytest.raises(RuntimeError, match="model broke"):
            await reader

    asyncio.run(main())


def test_a_cancelled_reader_leaves_no_waiter_behind() -> None:
    async def main() -> None:
        seq = sequence()
        reader = asyncio.create_task(seq.take())
        await until_blocked(reader)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        seq.deliver(1, None, 1.0)  # no one to wake: must not fail
        assert await seq.take() == [(1, None, 1.0)]

    asyncio.run(main())
