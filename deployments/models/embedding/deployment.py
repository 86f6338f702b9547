"""The embedding model deployment: dynamic batching by items around a SentenceEncoder.

Knows nothing of HTTP. Each ``embed`` call carries one request's texts; they are cut into
chunks no bigger than a batch and queued, and ``@serve.batch`` packs chunks from many
requests into one forward pass whose size is counted in items, not requests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import cast

import numpy as np
import torch
from ray import serve

from deployments.config import EmbeddingModelArgs
from deployments.contracts import BatchConfig, EmbedResult, ModelContract, ModelInfo, TensorSpec
from deployments.errors import InvalidInputError, ServingError
from deployments.metrics import ModelMetrics
from deployments.models.batch_gate import gated
from deployments.models.embedding.encoder import Encoded, SentenceEncoder
from deployments.models.runtime import BatchedReplica

logger = logging.getLogger("ray.serve")

_DEFAULT_BATCH = BatchConfig()


class _Chunk:
    """Part of one request's texts, at most one batch long, stamped on arrival."""

    __slots__ = ("arrived", "started", "texts")

    def __init__(self, texts: list[str], arrived: float) -> None:
        self.texts = texts
        self.arrived = arrived
        self.started = False  # set once a batch takes it; cancelled before that, it never runs


def _items_in(chunks: list[_Chunk]) -> int:
    return sum(len(chunk.texts) for chunk in chunks)


class _ChunkResult:
    __slots__ = ("batch_size", "forward_s", "queue_s", "token_counts", "vectors")

    def __init__(
        self,
        vectors: np.ndarray,
        token_counts: list[int],
        batch_size: int,
        queue_s: float = 0.0,
        forward_s: float = 0.0,
    ) -> None:
        self.vectors = vectors
        self.token_counts = token_counts
        self.batch_size = batch_size
        self.queue_s = queue_s
        self.forward_s = forward_s


@serve.deployment(
    max_ongoing_requests=64,
    ray_actor_options={"num_cpus": 1},
    health_check_period_s=10,
)
class EmbeddingModel(BatchedReplica):
    def __init__(self, args: EmbeddingModelArgs) -> None:
        self._start(args.name, _DEFAULT_BATCH, args.torch_threads)
        self._args = args
        self._encoder = SentenceEncoder.load(
            args.source,
            device=args.device,
            dtype=args.dtype,
            max_seq_length=args.max_seq_length,
            truncate=args.truncate,
            trace=args.trace,
            backend=args.backend,
            onnx_file=args.onnx_file(),
        )
        self._metrics = ModelMetrics(args.name, "embedding")
        logger.info(
            "loaded %s on %s (%s, backend %s), %d threads",
            args.name,
            self._encoder.device,
            self._dtype(),
            args.backend,
            torch.get_num_threads(),
        )

    def _dtype(self) -> str:
        if self._args.quantize == "int8":
            return "int8"
        return str(self._encoder.dtype).removeprefix("torch.")

    def info(self) -> ModelInfo:
        enc = self._encoder
        return ModelInfo(
            name=self._args.name,
            dimensions=enc.dimensions,
            device=str(enc.device),
            dtype=self._dtype(),
            batching=self._batch,
            contract=ModelContract(
                inputs=[
                    TensorSpec(name="input", datatype="string", shape=[-1], description="texts")
                ],
                outputs=[
                    TensorSpec(
                        name="embedding",
                        datatype="float32",
                        shape=[-1, enc.dimensions],
                        description="mean-pooled, L2-normalised sentence embeddings",
                    )
                ],
                max_tokens_per_input=enc.max_seq_length,
                truncates=enc.truncate,
                normalized=True,
            ),
        )

    async def embed(self, texts: list[str]) -> EmbedResult:
        if not texts:
            raise InvalidInputError("no inputs to embed", param="input")
        self._runner.check_serving()
        size = self._batch.max_batch_size
        now = time.perf_counter()
        chunks = [_Chunk(texts[i : i + size], now) for i in range(0, len(texts), size)]
        try:
            await self._gate.wait()
            results: list[_ChunkResult | Exception] = await asyncio.gather(
                *map(self._run_batch, chunks)
            )
        except asyncio.CancelledError:
            # The caller gave up (deadline, client gone): @serve.batch drops the chunks no
            # batch has taken yet, so their inputs are never computed.
            skipped = sum(len(c.texts) for c in chunks if not c.started)
            self._metrics.record_cancelled(skipped)
            logger.info("embed cancelled: %d of %d inputs never ran", skipped, len(texts))
            raise
        for r in results:
            if isinstance(r, Exception):
                raise r
        done = [r for r in results if isinstance(r, _ChunkResult)]
        return EmbedResult(
            vectors=np.concatenate([r.vectors for r in done]),
            token_counts=[n for r in done for n in r.token_counts],
            **EmbedResult.of_chunks(done, now),
        )

    async def embed_many(self, requests: list[list[str]]) -> list[EmbedResult | ServingError]:
        """``embed`` for several requests in one call (the ingress's CallCoalescer): their
        chunks join the same batch queue. A request's own bad input comes back as its
        error, in its place; anything else fails the call."""
        results = await asyncio.gather(*map(self.embed, requests), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException) and not isinstance(r, ServingError):
                raise r
        return cast(list[EmbedResult | ServingError], results)

    @serve.batch(
        max_batch_size=_DEFAULT_BATCH.max_batch_size,
        batch_wait_timeout_s=_DEFAULT_BATCH.batch_wait_timeout_s,
        batch_size_fn=_items_in,
    )
    @gated
    async def _run_batch(self, chunks: list[_Chunk]) -> list[_ChunkResult | Exception]:
        for chunk in chunks:
            chunk.started = True
        flat = [text for chunk in chunks for text in chunk.texts]
        started = time.perf_counter()
        try:
            encoded = await self._forward(flat)
        except InvalidInputError:
            # One request's bad input must not fail the others batched with it.
            return [await self._run_alone(chunk.texts) for chunk in chunks]
        seconds = time.perf_counter() - started
        waits = [started - chunk.arrived for chunk in chunks]
        self._metrics.record_batch(
            size=len(flat),
            max_batch_size=self._batch.max_batch_size,
            seconds=seconds,
            token_counts=encoded.token_counts,
            waits=waits,
        )
        out: list[_ChunkResult | Exception] = []
        start = 0
        for chunk, waited in zip(chunks, waits, strict=True):
            end = start + len(chunk.texts)
            out.append(
                _ChunkResult(
                    encoded.vectors[start:end],
                    encoded.token_counts[start:end],
                    len(flat),
                    queue_s=waited,
                    forward_s=seconds,
                )
            )
            start = end
        return out

    async def _run_alone(self, chunk: list[str]) -> _ChunkResult | Exception:
        try:
            encoded = await self._forward(chunk)
        except InvalidInputError as exc:
            return exc
        return _ChunkResult(encoded.vectors, encoded.token_counts, len(chunk))

    async def _forward(self, texts: list[str]) -> Encoded:
        return await self._runner.run(self._encoder.encode, texts)
