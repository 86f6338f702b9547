"""What every model replica shares: where torch runs, and the replica's scaffolding.

Device, dtype and CPU threads are chosen here for every kind of model, and every model
deployment runs its forward passes on one ``ForwardRunner`` (one thread, so the event loop
keeps taking in and batching requests while a pass runs; a failing pass marks the replica
unhealthy so Serve replaces it). Batched deployments also share ``BatchedReplica``: the
BatchGate and the live batching knobs of ``user_config``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import torch

from deployments.contracts import BatchConfig
from deployments.errors import InvalidInputError, ModelUnavailableError
from deployments.model_manifest import resolve_source
from deployments.models.batch_gate import BatchGate
from deployments.queue_wait import replica_queue_waits

logger = logging.getLogger("ray.serve")

T = TypeVar("T")


def set_torch_threads(requested: int | None = None) -> None:
    """Intra-op threads of this replica: ``requested``, else Ray's OMP_NUM_THREADS (set
    from the actor's num_cpus), which torch does not read once it is already imported."""
    threads = requested or int(os.environ.get("OMP_NUM_THREADS") or 0)
    if threads:
        torch.set_num_threads(threads)


def pick_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def pick_dtype(requested: str, device: torch.device) -> torch.dtype:
    if requested == "auto":
        # fp16 halves memory traffic on GPUs; CPU kernels are fastest (and exact) in fp32.
        return torch.float16 if device.type == "cuda" else torch.float32
    dtype: torch.dtype = getattr(torch, requested)
    return dtype


def hf_model_dir(source: str) -> Path:
    """A model ``source`` (see ``resolve_source``) that holds a Hugging Face model."""
    path = resolve_source(source)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"no model config.json under {path} (build the demo models with `make models`)"
        )
    return path


class ForwardRunner:
    """A replica's one model thread, and whether a pass on it has broken the model."""

    def __init__(self, label: str, thread_name: str = "forward") -> None:
        self.label = label
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=thread_name)
        self.failure: str | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the model thread. Bad input (InvalidInputError) is the caller's
        fault; anything else means the model itself is broken (e.g. a CUDA error), so
        health checks fail from then on and Serve replaces this replica."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except InvalidInputError:
            raise
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"
            logger.exception("model pass failed; marking %s unhealthy", self.label)
            raise

    async def run_unchecked(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the model thread; its failures do not mark the replica broken
        (tokenizing one request, loading one multiplexed model)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def check_serving(self) -> None:
        """Refuse new work once the model is broken (the replica is about to be replaced)."""
        if self.failure is not None:
            raise ModelUnavailableError(f"model {self.label} is unhealthy")

    def check_health(self) -> None:
        if self.failure is not None:
            raise RuntimeError(f"model {self.label} is broken: {self.failure}")


class BatchedReplica:
    """Scaffolding of a deployment whose ``_run_batch`` is a ``@serve.batch`` method
    wrapped in ``batch_gate.gated``: its runner, its gate and its live batching knobs."""

    _run_batch: Any
    _runner: ForwardRunner
    _gate: BatchGate
    _batch: BatchConfig
    _default_batch: BatchConfig

    def _start(self, label: str, default_batch: BatchConfig, torch_threads: int | None) -> None:
        """For ``__init__``: ``default_batch`` runs until (and whenever) ``user_config`` is
        empty - the manifest's batching for a predictor, the defaults otherwise."""
        set_torch_threads(torch_threads)
        self._runner = ForwardRunner(label)
        self._gate = BatchGate()
        self._default_batch = default_batch
        self._apply_batching(default_batch)

    def _apply_batching(self, batch: BatchConfig) -> None:
        self._batch = batch
        batcher: Any = self._run_batch  # @serve.batch adds these setters at run time
        batcher.set_max_batch_size(batch.max_batch_size)
        batcher.set_batch_wait_timeout_s(batch.batch_wait_timeout_s)

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Serve's live knobs: ``user_config`` is a BatchConfig; empty means the default."""
        batch = BatchConfig.model_validate(user_config) if user_config else self._default_batch
        self._apply_batching(batch)
        logger.info("batching for %s: %s", self._runner.label, batch.model_dump())

    def check_health(self) -> None:
        self._runner.check_health()

    def record_autoscaling_stats(self) -> dict[str, float]:
        """Ray Serve's hook, called every ``metrics_interval_s`` when the deployment
        autoscales: this replica's recent queue-wait p95, read by the SLO policy
        (deployments/autoscaling/policy.py) in the controller."""
        return replica_queue_waits().stats()
