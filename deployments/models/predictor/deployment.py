"""Model-repository deployments: one model per deployment (TorchPredictor), or many small
models sharing replicas (MultiplexedPredictor). Both batch by rows, not requests.

Knows nothing of HTTP. Each ``predict`` call carries one request's rows, already checked
against the manifest by the ingress; they are cut into chunks no bigger than a batch, and
``@serve.batch`` packs chunks from many requests into one forward pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from ray import serve

from deployments.contracts import BatchConfig, ModelInfo, PredictResult
from deployments.errors import InvalidInputError, ModelNotFoundError
from deployments.metrics import ModelMetrics, MultiplexMetrics
from deployments.model_manifest import ModelSpec
from deployments.models.batch_gate import gated
from deployments.models.predictor.torch_artifact import LoadedModel
from deployments.models.runtime import BatchedReplica

logger = logging.getLogger("ray.serve")

_DEFAULT_BATCH = BatchConfig()


class _Chunk:
    """Part of one request's rows, at most one batch long, for one loaded model."""

    __slots__ = ("arrays", "arrived", "metrics", "model", "rows", "started")

    def __init__(
        self, model: LoadedModel, metrics: ModelMetrics, arrays: list[np.ndarray], arrived: float
    ) -> None:
        self.model = model
        self.metrics = metrics
        self.arrays = arrays
        self.rows = len(arrays[0])
        self.arrived = arrived
        self.started = False  # set once a batch takes it; cancelled before that, it never runs


class _ChunkResult(NamedTuple):
    outputs: list[np.ndarray]
    batch_size: int
    queue_s: float
    forward_s: float


def _rows_in(chunks: list[_Chunk]) -> int:
    return sum(chunk.rows for chunk in chunks)


def _device(spec: ModelSpec) -> str:
    if spec.manifest.resources.num_gpus > 0:
        if not torch.cuda.is_available():
            raise RuntimeError(f"{spec.name} asks for a GPU but this replica has none")
        return "cuda"
    return "cpu"


class _BatchedPredictor(BatchedReplica):
    """Row batching shared by both deployments."""

    async def _predict_with(
        self,
        model: LoadedModel,
        metrics: ModelMetrics,
        inputs: Sequence[np.ndarray],
        arrived: float | None = None,
    ) -> PredictResult:
        manifest = model.spec.manifest
        self._runner.check_serving()
        arrays = list(inputs)
        rows = {len(a) for a in arrays}
        # The ingress checked all this; a caller that skipped it must not break the model.
        if (
            len(arrays) != len(manifest.inputs)
            or len(rows) != 1
            or 0 in rows
            or any(
                a.shape[1:] != tuple(s.shape[1:])
                for a, s in zip(arrays, manifest.inputs, strict=True)
            )
        ):
            raise InvalidInputError("inputs do not match the model's contract", param="inputs")
        size = self._batch.max_batch_size
        n = rows.pop()
        now = time.perf_counter()
        arrived = now if arrived is None else arrived
        chunks = [
            _Chunk(model, metrics, [a[i : i + size] for a in arrays], now)
            for i in range(0, n, size)
        ]
        try:
            await self._gate.wait()
            results: list[_ChunkResult] = await asyncio.gather(*map(self._run_batch, chunks))
        except asyncio.CancelledError:
            skipped = sum(c.rows for c in chunks if not c.started)
            metrics.record_cancelled(skipped)
            raise
        outputs = {
            o.name: np.concatenate([r.outputs[i] for r in results])
            for i, o in enumerate(manifest.outputs)
        }
        return PredictResult(
            outputs=outputs,
            **PredictResult.of_chunks(results, arrived),
        )

    @serve.batch(
        max_batch_size=_DEFAULT_BATCH.max_batch_size,
        batch_wait_timeout_s=_DEFAULT_BATCH.batch_wait_timeout_s,
        batch_size_fn=_rows_in,
    )
    @gated
    async def _run_batch(self, chunks: list[_Chunk]) -> list[_ChunkResult]:
        for chunk in chunks:
            chunk.started = True
        # Serve splits batches by multiplexed model id; grouping by model keeps that true
        # whatever the caller did.
        by_model: dict[int, list[_Chunk]] = {}
        for chunk in chunks:
            by_model.setdefault(id(chunk.model), []).append(chunk)
        done: dict[int, _ChunkResult] = {}
        for group in by_model.values():
            model = group[0].model
            arrays = [
                np.concatenate([c.arrays[i] for c in group]) for i in range(len(group[0].arrays))
            ]
            n = len(arrays[0])
            started = time.perf_counter()
            outputs = await self._forward(model, arrays)
            seconds = time.perf_counter() - started
            waits = [started - c.arrived for c in group]
            group[0].metrics.record_batch(
                size=n,
                max_batch_size=self._batch.max_batch_size,
                seconds=seconds,
                token_counts=[],
                waits=waits,
            )
            start = 0
            for chunk, waited in zip(group, waits, strict=True):
                end = start + chunk.rows
                done[id(chunk)] = _ChunkResult([o[start:end] for o in outputs], n, waited, seconds)
                start = end
        return [done[id(chunk)] for chunk in chunks]

    async def _forward(self, model: LoadedModel, arrays: list[np.ndarray]) -> list[np.ndarray]:
        # Inputs were checked against the manifest, so a failing forward pass means the
        # model itself is broken (e.g. a CUDA error): the runner marks the replica unhealthy.
        return await self._runner.run(model.run, arrays)


def _info(spec: ModelSpec, device: str, batch: BatchConfig) -> ModelInfo:
    return ModelInfo(
        name=spec.name,
        kind="predictor",
        device=device,
        dtype=",".join(sorted({t.dtype for t in spec.manifest.inputs})),
        contract=spec.manifest.contract(),
        batching=batch,
    )


@serve.deployment(
    max_ongoing_requests=32, ray_actor_options={"num_cpus": 0.1}, health_check_period_s=10
)
class TorchPredictor(_BatchedPredictor):
    """One model directory of the repository, loaded once per replica."""

    def __init__(self, spec: ModelSpec) -> None:
        self._spec = spec
        self._start(spec.name, spec.manifest.batching, None)
        self._model = LoadedModel(spec, _device(spec))
        self._metrics = ModelMetrics(spec.name, "predictor")
        logger.info("loaded %s (%s) on %s", spec.name, spec.manifest.format, self._model.device)

    def info(self) -> ModelInfo:
        return _info(self._spec, str(self._model.device), self._batch)

    async def predict(self, inputs: list[np.ndarray]) -> PredictResult:
        return await self._predict_with(self._model, self._metrics, inputs)


class _Tenant:
    """A multiplexed model in a replica's cache; Serve calls ``__del__`` on eviction."""

    def __init__(self, model: LoadedModel, metrics: ModelMetrics, on_unload: Any) -> None:
        self.model = model
        self.metrics = metrics
        self._on_unload = on_unload

    def __del__(self) -> None:
        # Serve calls this on eviction, and the garbage collector may call it again.
        on_unload, self._on_unload = self._on_unload, None
        if on_unload is not None:
            on_unload(self.model.spec.name)


@serve.deployment(
    max_ongoing_requests=32, ray_actor_options={"num_cpus": 0.1}, health_check_period_s=10
)
class MultiplexedPredictor(_BatchedPredictor):
    """Every model under one root; a replica keeps the most recently used ones loaded."""

    def __init__(self, name: str, specs: list[ModelSpec], max_models_per_replica: int) -> None:
        self._specs = {s.name: s for s in specs}
        self._start(name, _DEFAULT_BATCH, None)
        self._metrics = {s.name: ModelMetrics(s.name, "predictor") for s in specs}
        self._mux_metrics = MultiplexMetrics()

        async def load(model_id: str) -> _Tenant:
            return await self._load(model_id)

        # The cache bound comes from the config, so the decorator is applied here.
        self._get_model = serve.multiplexed(max_num_models_per_replica=max_models_per_replica)(load)

    async def _load(self, model_id: str) -> _Tenant:
        spec = self._specs.get(model_id)
        if spec is None:
            raise ModelNotFoundError(f"model {model_id!r} is not served", param="model")
        started = time.perf_counter()
        model = await self._runner.run_unchecked(LoadedModel, spec, _device(spec))
        self._mux_metrics.record_load(model_id, time.perf_counter() - started)
        logger.info("%s: loaded %s", self._runner.label, model_id)
        return _Tenant(model, self._metrics[model_id], self._unloaded)

    def _unloaded(self, model_id: str) -> None:
        self._mux_metrics.record_unload(model_id)
        logger.info("%s: unloaded %s", self._runner.label, model_id)

    def _spec_of_request(self) -> ModelSpec:
        model_id = serve.get_multiplexed_model_id()
        spec = self._specs.get(model_id)
        if spec is None:
            raise ModelNotFoundError(f"model {model_id!r} is not served", param="model")
        return spec

    def info(self) -> ModelInfo:
        # From the manifest: describing a model must not load it (nor evict another).
        spec = self._spec_of_request()
        return _info(spec, _device(spec), self._batch)

    async def predict(self, inputs: list[np.ndarray]) -> PredictResult:
        arrived = time.perf_counter()  # a load on a cache miss is part of the replica's time
        tenant: _Tenant = await self._get_model(self._spec_of_request().name)
        return await self._predict_with(tenant.model, tenant.metrics, inputs, arrived)
