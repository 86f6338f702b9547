"""Continuous (iteration-level) batching over one model's KV cache.

One decode step advances every running sequence by one token in a single forward pass;
requests that arrived meanwhile join at the next step (their prompts prefilled together,
within ``max_num_batched_tokens``), and a sequence that finished, stopped, was cancelled
or ran out of its deadline leaves before the next step, its cache rows dropped.

The running batch is one left-padded KV cache (``DynamicCache`` of tensors
[batch, heads, positions, dim]) with an attention mask over its positions: joining pads
the shorter side on the left and concatenates, leaving drops rows and then the columns
no remaining row uses. Each row gets its own position ids, so a sequence's logits are
its lone run's (tests/unit/models/test_continuous_batching.py checks greedy and seeded
outputs against a lone request and against ``model.generate``). Sampling stays per row
(temperature, top_p, seed).

Admission is by reservation: a sequence is admitted when its prompt plus max_tokens fit
what is left of ``max_cache_tokens``, so a running sequence is never preempted. The line
of waiting sequences is bounded (``max_waiting_seqs``): past it OverloadedError (503).

Measured on this 2-core box with the demo model (tests' tiny GPT-2, 64 streamed tokens,
one thread): one decode step costs ~2.1 ms for one sequence and ~5.9 ms for 16, so 16
sequences make ~2700 tokens/s where one-at-a-time steps make ~490.

Why not transformers' ContinuousBatchingManager (transformers 5.24 here): measured
beside this scheduler in one run (benchmarks/generation.py, the set-ups taking turns),
it is level with it on this CPU, not faster: in two runs ours made 1.05x and 1.14x its
tokens/s at concurrency 1, 0.87x and 0.73x at 4, 0.93x and 0.92x at 16, 1.20x and 1.07x
at 32 (RESULTS.md, Text generation).
And it draws every request's samples from one manager-wide seed
(``ContinuousBatchingConfig.seed``), so a seeded request's output would depend on its
neighbours in the batch; this replica also needs stop sequences decided on detokenized
text and cancellation at the next step from Serve's async generators. A scheduler over
the model's own cache keeps those in our hands at no cost in speed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import torch
import torch.nn.functional as F
from transformers.cache_utils import DynamicCache

from deployments.contracts import GenerationBatching, TokenLogprob
from deployments.errors import OverloadedError

logger = logging.getLogger("ray.serve")

MIN_TEMPERATURE = 1e-4


# A generated token as its reader gets it: id, log-probability (when asked for), and the
# perf_counter time of the step that made it.
Token = tuple[int, TokenLogprob | None, float]


@dataclass(eq=False)
class Sequence:
    """One request inside the engine. ``done`` is set by the engine (end of sequence,
    length) or by the request's own generator (stop sequence, cancellation); the engine
    drops a done sequence before its next step.

    Tokens wait in the sequence until its reader takes them; the reader is woken once
    as many are ready as its next chunk needs, when the sequence ends, or on an engine
    error, rather than at every step. With a wake-up and two
    tokenizer calls per token, the replica's event loop held the GIL 0.94x as long as
    the decode thread at 16 streams over HTTP; with both per chunk, 0.71x (py-spy,
    benchmarks/README.md "generation.py").
    """

    prompt_ids: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    logprobs: int | None
    seed: int | None
    eos_ids: set[int]
    done: bool = False
    produced: int = 0
    length: int = 0  # tokens of this sequence in the cache
    next_token: int = -1  # sampled, not yet fed to the model
    rng: torch.Generator = field(default_factory=torch.Generator)
    _ready: list[Token] = field(default_factory=list, init=False, repr=False)
    _wanted: int = field(default=1, init=False, repr=False)  # by the waiting reader
    _error: Exception | None = field(default=None, init=False, repr=False)
    _waiter: asyncio.Future[None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.seed is None:
            self.rng.seed()
        else:
            self.rng.manual_seed(self.seed)

    def deliver(self, token: int, logprob: TokenLogprob | None, at: float) -> None:
        """The engine's side (event loop): one more token for the reader."""
        self._ready.append((token, logprob, at))
        if self.done or len(self._ready) >= self._wanted:
            self._wake()

    def fail(self, error: Exception) -> None:
        """The engine's side: the model failed; the reader gets ``error`` after the tokens
        that were ready before it."""
        self.done = True
        self._error = error
        self._wake()

    async def take(self, wanted: int = 1) -> list[Token]:
        """The reader's side: every token ready, once ``wanted`` are (fewer if the
        sequence ended); raises the engine's error once no token is left before it."""
        self._wanted = wanted
        while self._error is None and (
            not self._ready or (len(self._ready) < wanted and not self.done)
        ):
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if not self._ready:
            raise cast(Exception, self._error)
        ready, self._ready = self._ready, []
        return ready

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    @property
    def reserved(self) -> int:
        return len(self.prompt_ids) + self.max_tokens


class Sampling(Protocol):
    temperature: float
    top_p: float
    rng: torch.Generator


def sample(logits: torch.Tensor, seq: Sampling) -> int:
    """The next token from one row of float32 CPU logits, with the sequence's settings."""
    # Dividing by a tiny temperature overflows to inf (then NaN probabilities); it
    # means greedy anyway.
    if seq.temperature < MIN_TEMPERATURE:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / seq.temperature, dim=-1)
    if seq.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest head of the distribution whose mass reaches top_p.
        outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs >= seq.top_p
        # The most likely token always stays: a top_p below float32's range (1e-300)
        # compares as 0 and would otherwise zero the whole distribution.
        outside[0] = False
        sorted_probs[outside] = 0.0
        pick = torch.multinomial(sorted_probs, 1, generator=seq.rng)
        return int(order[pick])
    return int(torch.multinomial(probs, 1, generator=seq.rng))


def _pad_left(t: torch.Tensor, to: int, dim: int) -> torch.Tensor:
    missing = to - t.shape[dim]
    if missing == 0:
        return t
    # F.pad's pairs run from the last dimension backwards.
    pads = [0, 0] * (t.dim() - 1 - dim) + [missing, 0]
    return F.pad(t, pads)


class BatchedDecoder:
    """The running batch's cache and mask; touched only by the model thread."""

    def __init__(self, model: Any, device: torch.device, logprob: Any) -> None:
        self.model = model
        self.device = device
        self._logprob = logprob  # (logits, token, top) -> TokenLogprob
        self.rows: list[Sequence] = []
        self._layers: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._mask = torch.zeros(0, 0, dtype=torch.long, device=device)

    def cached_tokens(self) -> int:
        return sum(s.length for s in self.rows)

    @torch.inference_mode()
    def step(self, arrivals: list[Sequence]) -> list[tuple[Sequence, int, TokenLogprob | None]]:
        """Drop done rows, advance every running row one token, then prefill ``arrivals``
        (their first token) and merge them into the batch."""
        self.drop_done()
        results = self._decode() if self.rows else []
        if arrivals:
            results += self._prefill(arrivals)
        return results

    def reset(self) -> None:
        self.rows = []
        self._layers = []
        self._mask = self._mask[:0, :0]

    def drop_done(self) -> None:
        keep = [i for i, s in enumerate(self.rows) if not s.done]
        if len(keep) == len(self.rows):
            return
        if not keep:
            self.reset()
            return
        idx = torch.tensor(keep, device=self.device)
        self.rows = [self.rows[i] for i in keep]
        mask = self._mask.index_select(0, idx)
        # Columns that only the dropped rows used: the longest survivor starts here.
        start = int(mask.any(0).nonzero()[0])
        self._mask = mask[:, start:]
        self._layers = [
            (k.index_select(0, idx)[:, :, start:], v.index_select(0, idx)[:, :, start:])
            for k, v in self._layers
        ]

    def _forward(
        self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, layers: list
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        cache = DynamicCache(layers) if layers else DynamicCache()
        out = self.model(
            input_ids=ids,
            # Without padding the mask changes nothing, and building its 4-D form costs
            # about as much as a lone decode step of the demo model.
            attention_mask=None if bool(mask.all()) else mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
        )
        kv = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        return out.logits[:, -1].float().cpu(), kv

    def _decode(self) -> list[tuple[Sequence, int, TokenLogprob | None]]:
        rows = self.rows
        ids = torch.tensor([[s.next_token] for s in rows], device=self.device)
        ones = torch.ones(len(rows), 1, dtype=self._mask.dtype, device=self.device)
        mask = torch.cat([self._mask, ones], dim=1)
        positions = torch.tensor([[s.length] for s in rows], device=self.device)
        logits, self._layers = self._forward(ids, mask, positions, self._layers)
        self._mask = mask
        for s in rows:
            s.length += 1
        return [self._pick(s, logits[i]) for i, s in enumerate(rows)]

    def _prefill(self, arrivals: list[Sequence]) -> list[tuple[Sequence, int, TokenLogprob | None]]:
        width = max(len(s.prompt_ids) for s in arrivals)
        ids = torch.tensor(
            [[0] * (width - len(s.prompt_ids)) + s.prompt_ids for s in arrivals],
            device=self.device,
        )
        mask = torch.tensor(
            [[0] * (width - len(s.prompt_ids)) + [1] * len(s.prompt_ids) for s in arrivals],
            device=self.device,
        )
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits, layers = self._forward(ids, mask, positions, [])
        for s in arrivals:
            s.length = len(s.prompt_ids)
        results = [self._pick(s, logits[i]) for i, s in enumerate(arrivals)]
        self._merge(arrivals, layers, mask)
        return results

    def _merge(self, arrivals: list[Sequence], layers: list, mask: torch.Tensor) -> None:
        if not self.rows:
            self.rows, self._layers, self._mask = list(arrivals), layers, mask
            return
        width = max(self._mask.shape[1], mask.shape[1])
        self._layers = [
            (
                torch.cat([_pad_left(k0, width, 2), _pad_left(k1, width, 2)]),
                torch.cat([_pad_left(v0, width, 2), _pad_left(v1, width, 2)]),
            )
            for (k0, v0), (k1, v1) in zip(self._layers, layers, strict=True)
        ]
        self._mask = torch.cat([_pad_left(self._mask, width, 1), _pad_left(mask, width, 1)])
        self.rows += arrivals

    def _pick(self, s: Sequence, logits: torch.Tensor) -> tuple[Sequence, int, TokenLogprob | None]:
        token = sample(logits, s)
        s.next_token = token
        s.produced += 1
        if token in s.eos_ids or s.produced >= s.max_tokens:
            s.done = True  # the engine knows; no further step for it
        logprob = None if s.logprobs is None else self._logprob(logits, token, s.logprobs)
        return s, token, logprob


class ContinuousBatcher:
    """The replica's decode loop: admits waiting sequences, steps the batch on the model
    thread, and hands each sequence its tokens."""

    def __init__(self, decoder: BatchedDecoder, run: Any, knobs: GenerationBatching) -> None:
        self.decoder = decoder
        self._run = run  # ForwardRunner.run
        self.knobs = knobs
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.on_step: Any = None  # (batch size, batcher) -> None, for metrics

    def submit(self, seq: Sequence, retry_after_s: int = 1) -> None:
        if len(self.waiting) >= self.knobs.max_waiting_seqs:
            raise OverloadedError(
                f"{len(self.waiting)} generations are waiting for a slot "
                f"(max_waiting_seqs {self.knobs.max_waiting_seqs}); retry",
                retry_after_s=retry_after_s,
            )
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            # A replica has one event loop; tests driving it with asyncio.run have several.
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._loop())
        self.waiting.append(seq)
        self._wake.set()

    def reserved_tokens(self) -> int:
        return sum(s.reserved for s in self.running)

    def _admit(self) -> list[Sequence]:
        knobs = self.knobs
        arrivals: list[Sequence] = []
        budget = knobs.max_num_batched_tokens
        reserved = self.reserved_tokens()
        while self.waiting and len(self.running) + len(arrivals) < knobs.max_num_seqs:
            seq = self.waiting[0]
            prompt = len(seq.prompt_ids)
            # The first arrival of a step always fits the prefill budget (config checks
            # max_prompt_tokens against it), later ones only while it lasts.
            if arrivals and prompt > budget:
                break
            if reserved + seq.reserved > knobs.max_cache_tokens and (self.running or arrivals):
                break
            self.waiting.popleft()
            arrivals.append(seq)
            budget -= prompt
            reserved += seq.reserved
        return arrivals

    async def _loop(self) -> None:
        while True:
            self.running = [s for s in self.running if not s.done]
            if any(s.done for s in self.waiting):
                self.waiting = deque(s for s in self.waiting if not s.done)
            if not self.running and not self.waiting:
                # Nothing left to step (no step in flight either): free the cache now.
                self.decoder.drop_done()
                self._wake.clear()
                await self._wake.wait()
                continue
            arrivals = self._admit()
            stepping = len(self.running) + len(arrivals)
            try:
                results = await self._run(self.decoder.step, arrivals)
            except BaseException as exc:
                # The model failed (the runner marked the replica unhealthy): every
                # sequence in the batch ends with that error.
                for s in [*self.running, *arrivals]:
                    s.fail(exc if isinstance(exc, Exception) else RuntimeError(exc))
                self.running = []
                self.decoder.reset()
                if not isinstance(exc, Exception):
                    raise
                continue
            self.running += arrivals
            now = time.perf_counter()
            for seq, token, logprob in results:
                seq.deliver(token, logprob, now)
            if self.on_step is not None:
                self.on_step(stepping, self)
            # Let the requests' generators read their tokens (and mark stops and
            # cancellations done) before the next step is built.
            await asyncio.sleep(0)
