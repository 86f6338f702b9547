"""The embedding model deployment: dynamic batching by items around a SentenceEncoder.

Knows nothing of HTTP. Each ``embed`` call carries one request's texts; they are cut into
chunks no bigger than a batch and queued, and ``@serve.batch`` packs chunks from many
requests into one forward pass whose size is counted in items, not requests.

With a token budget (``max_batch_tokens`` in user_config) or calls that carry deadlines,
what ``@serve.batch`` collected is split by ``scheduler.TokenBudgetScheduler`` instead:
forward passes of similar-length inputs within the budget, the earliest deadline first,
and inputs whose deadline passed are answered 504 without being computed.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any, cast

import numpy as np
import torch
from ray import serve

from deployments.config import EmbeddingModelArgs
from deployments.contracts import (
    EmbeddingBatchConfig,
    EmbedInput,
    EmbedResult,
    ModelContract,
    ModelInfo,
    TensorSpec,
)
from deployments.errors import DeadlineExceededError, InvalidInputError, ServingError
from deployments.metrics import ModelMetrics
from deployments.models.batch_gate import gated
from deployments.models.embedding.encoder import Encoded, SentenceEncoder
from deployments.models.embedding.scheduler import TokenBudgetScheduler
from deployments.models.runtime import BatchedReplica

logger = logging.getLogger("ray.serve")

_DEFAULT_BATCH = EmbeddingBatchConfig()


class _Chunk:
    """Part of one request's texts, at most one batch long, stamped on arrival."""

    __slots__ = ("arrived", "deadline", "started", "texts")

    def __init__(self, texts: list[EmbedInput], arrived: float, deadline: float = math.inf) -> None:
        self.texts = texts
        self.arrived = arrived
        self.deadline = deadline  # time.perf_counter() of this replica; inf: none
        self.started = False  # set once a batch takes it; cancelled before that, it never runs


def _expired() -> DeadlineExceededError:
    return DeadlineExceededError(
        "the request's deadline passed while its inputs waited for a batch"
    )


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
    _batch: EmbeddingBatchConfig
    _default_batch: EmbeddingBatchConfig

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

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """As BatchedReplica's, with the embedding knobs (token budget) validated too."""
        batch = (
            EmbeddingBatchConfig.model_validate(user_config) if user_config else self._default_batch
        )
        self._apply_batching(batch)
        logger.info("batching for %s: %s", self._args.name, batch.model_dump())

    async def embed(self, texts: list[EmbedInput], timeout_s: float | None = None) -> EmbedResult:
        """``texts`` embedded; ``timeout_s``: the time the caller has left (a remaining
        budget, as clocks differ between processes): inputs still queued past it are
        dropped before their forward pass."""
        if not texts:
            raise InvalidInputError("no inputs to embed", param="input")
        self._runner.check_serving()
        size = self._batch.max_batch_size
        now = time.perf_counter()
        deadline = math.inf if timeout_s is None else now + timeout_s
        chunks = [_Chunk(texts[i : i + size], now, deadline) for i in range(0, len(texts), size)]
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

    async def embed_many(
        self, requests: list[list[EmbedInput]], timeouts_s: list[float | None] | None = None
    ) -> list[EmbedResult | ServingError]:
        """``embed`` for several requests in one call (the ingress's CallCoalescer): their
        chunks join the same batch queue. A request's own bad input comes back as its
        error, in its place; anything else fails the call."""
        budgets = timeouts_s or [None] * len(requests)
        results = await asyncio.gather(*map(self.embed, requests, budgets), return_exceptions=True)
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
        if self._batch.max_batch_tokens is not None:
            return await self._run_scheduled(chunks)
        # Items only: one forward pass over every chunk still within its deadline.
        now = time.perf_counter()
        live = [c for c in chunks if c.deadline > now]
        if len(live) == len(chunks):
            return await self._run_together(chunks)
        answers = iter(await self._run_together(live) if live else [])
        out: list[_ChunkResult | Exception] = []
        for chunk in chunks:
            if chunk.deadline > now:
                out.append(next(answers))
            else:
                self._metrics.record_expired(len(chunk.texts))
                out.append(_expired())
        return out

    async def _run_together(self, chunks: list[_Chunk]) -> list[_ChunkResult | Exception]:
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

    async def _run_scheduled(self, chunks: list[_Chunk]) -> list[_ChunkResult | Exception]:
        """What ``@serve.batch`` collected, as the scheduler orders it: one forward pass per
        batch it returns, expired inputs dropped before each."""
        budget = self._batch.max_batch_tokens
        flat = [text for chunk in chunks for text in chunk.texts]
        lengths = self._encoder.token_lengths(flat) if budget is not None else [1] * len(flat)
        scheduler: TokenBudgetScheduler[tuple[int, int]] = TokenBudgetScheduler(
            self._batch.max_batch_size, budget
        )
        k = 0
        for ci, chunk in enumerate(chunks):
            for ti in range(len(chunk.texts)):
                scheduler.push((ci, ti), lengths[k], chunk.deadline)
                k += 1
        dims = self._encoder.dimensions
        vectors = [np.zeros((len(c.texts), dims), dtype=np.float32) for c in chunks]
        counts = [[0] * len(c.texts) for c in chunks]
        failed: dict[int, Exception] = {}
        whole: dict[int, _ChunkResult] = {}  # chunks re-run alone after a bad input
        first_start: dict[int, float] = {}
        biggest = [0] * len(chunks)
        longest = [0.0] * len(chunks)
        while True:
            expired = {ci for ci, _ in scheduler.expired(time.perf_counter())}
            for ci in expired - failed.keys() - whole.keys():
                failed[ci] = _expired()
                self._metrics.record_expired(len(chunks[ci].texts))
            batch = scheduler.next_batch()
            if batch is None:
                break
            items = [(ci, ti) for ci, ti in batch.items if ci not in failed and ci not in whole]
            if not items:
                continue
            started = time.perf_counter()
            owners = sorted({ci for ci, _ in items})
            try:
                encoded = await self._forward([chunks[ci].texts[ti] for ci, ti in items])
            except InvalidInputError:
                # One request's bad input must not fail the others batched with it.
                for ci in owners:
                    alone = await self._run_alone(chunks[ci].texts)
                    if isinstance(alone, Exception):
                        failed[ci] = alone
                    else:
                        whole[ci] = alone
                continue
            seconds = time.perf_counter() - started
            fresh = [ci for ci in owners if ci not in first_start]
            for ci in fresh:
                first_start[ci] = started
            self._metrics.record_batch(
                size=len(items),
                max_batch_size=self._batch.max_batch_size,
                seconds=seconds,
                token_counts=encoded.token_counts,
                waits=[started - chunks[ci].arrived for ci in fresh],
            )
            for row, (ci, ti) in enumerate(items):
                vectors[ci][ti] = encoded.vectors[row]
                counts[ci][ti] = encoded.token_counts[row]
            for ci in owners:
                biggest[ci] = max(biggest[ci], len(items))
                longest[ci] = max(longest[ci], seconds)
        out: list[_ChunkResult | Exception] = []
        for ci, chunk in enumerate(chunks):
            if ci in failed:
                out.append(failed[ci])
            elif ci in whole:
                out.append(whole[ci])
            else:
                waited = first_start.get(ci, chunk.arrived) - chunk.arrived
                out.append(_ChunkResult(vectors[ci], counts[ci], biggest[ci], waited, longest[ci]))
        return out

    async def _run_alone(self, chunk: list[EmbedInput]) -> _ChunkResult | Exception:
        try:
            encoded = await self._forward(chunk)
        except InvalidInputError as exc:
            return exc
        return _ChunkResult(encoded.vectors, encoded.token_counts, len(chunk))

    async def _forward(self, texts: list[EmbedInput]) -> Encoded:
        return await self._runner.run(self._encoder.encode, texts)
