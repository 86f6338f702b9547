"""The text-generation deployment: any Hugging Face causal LM from a local directory.

Knows nothing of HTTP. A request is a prompt, or chat messages that the replica renders
with the tokenizer's own chat template (the ingress has no tokenizer); a generator
serving chat (``GeneratorArgs.chat``) without a template fails at load, saying so.
``generate`` is a streaming method (call it through
``handle.options(stream=True)``): it yields a first chunk once the prompt is accepted,
then text deltas as tokens are produced, decoded one token at a time with a KV cache.
A chunk carries every token that is ready when it is built: under load the engine steps
faster than Ray streams one object per token (each chunk is a message through the
replica, the ingress and the proxy), so tokens that queued meanwhile travel together; a
lone stream still gets a chunk per token.
Each decode step runs on a one-thread executor, so the event loop stays free to accept,
interleave and cancel requests: when the caller goes away Serve cancels this generator
at its next await, and no further token is computed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import torch
from ray import serve
from transformers import AutoModelForCausalLM, AutoTokenizer

from deployments.config import GeneratorArgs
from deployments.contracts import (
    BatchConfig,
    ChatMessage,
    FinishReason,
    GenerateRequest,
    GenerationBatching,
    GenerationChunk,
    ModelContract,
    ModelInfo,
    TensorSpec,
    TokenLogprob,
)
from deployments.errors import InputTooLongError, InvalidInputError
from deployments.metrics import GenerationMetrics
from deployments.models.generation.detokenizer import IncrementalDecoder
from deployments.models.generation.scheduler import (
    BatchedDecoder,
    ContinuousBatcher,
    Sequence,
    Token,
    sample,
)
from deployments.models.generation.stop_sequences import StopMatcher
from deployments.models.runtime import (
    ForwardRunner,
    hf_model_dir,
    pick_device,
    pick_dtype,
    set_torch_threads,
)

logger = logging.getLogger("ray.serve")


# The sequential engine decodes each request on its own: say so in GET /v1/models.
UNBATCHED = BatchConfig(max_batch_size=1, batch_wait_timeout_s=0.0)


class _Sequence:
    """One request's decoding state in the sequential engine, touched only by the
    executor thread."""

    def __init__(self, prompt_ids: list[int], request: GenerateRequest, device: torch.device):
        self.next_input = torch.tensor([prompt_ids], device=device)
        self.past: Any = None
        self.temperature = request.temperature
        self.top_p = request.top_p
        self.logprobs = request.logprobs
        self.rng = torch.Generator()  # CPU: sampling happens on CPU, whatever the device
        if request.seed is None:
            self.rng.seed()
        else:
            self.rng.manual_seed(request.seed)


class TextGeneratorModel:
    """Tokenizer and model, loaded once; pure PyTorch, no Serve."""

    def __init__(self, args: GeneratorArgs) -> None:
        self.device = pick_device(args.device)
        self.dtype = pick_dtype(args.dtype, self.device)
        source = hf_model_dir(args.source)
        self.tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        model: Any = AutoModelForCausalLM.from_pretrained(
            source, local_files_only=True, dtype=self.dtype
        )
        self.model = model.to(self.device).eval()
        config = self.model.config
        self.context = int(
            getattr(config, "max_position_embeddings", None)
            or getattr(config, "n_positions", None)
            or args.max_prompt_tokens + args.max_new_tokens_limit
        )
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = config.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        if args.chat and not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(
                f"generator {args.name}: the tokenizer in {args.source} has no chat template, "
                "so POST /v1/chat/completions cannot render messages for it; use a chat "
                "model's directory, or set `chat: false` to serve /v1/completions only"
            )

    def render(self, messages: list[ChatMessage]) -> list[int]:
        """The conversation in the model's chat template, ending with the assistant's cue."""
        try:
            text = self.tokenizer.apply_chat_template(
                [m.model_dump() for m in messages], add_generation_prompt=True, tokenize=False
            )
        except Exception as exc:
            # Real templates refuse some conversations themselves (Llama's: "roles must
            # alternate user/assistant"): the client's input, not a broken model.
            raise InvalidInputError(
                f"the chat template of this model refused these messages: {exc}",
                param="messages",
            ) from None
        # The template writes its own special tokens (BOS included where the model has one).
        ids: list[int] = self.tokenizer(str(text), add_special_tokens=False)["input_ids"]
        return ids

    def encode_request(self, request: GenerateRequest) -> list[int]:
        if request.messages is not None:
            return self.render(request.messages)
        return self.encode(request.prompt or "")

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=True)["input_ids"]
        if not ids and self.tokenizer.bos_token_id is not None:
            ids = [self.tokenizer.bos_token_id]
        return ids

    def decode(self, ids: list[int]) -> str:
        text = self.tokenizer.decode(
            ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        return text if isinstance(text, str) else "".join(text)

    @torch.inference_mode()
    def step(self, seq: _Sequence) -> tuple[int, TokenLogprob | None]:
        """One forward pass over the new input with the cached keys/values; the next token
        (and its log-probability, when the request asked for them)."""
        out = self.model(input_ids=seq.next_input, past_key_values=seq.past, use_cache=True)
        seq.past = out.past_key_values
        logits = out.logits[0, -1].float().cpu()
        token = sample(logits, seq)
        seq.next_input = torch.tensor([[token]], device=self.device)
        if seq.logprobs is None:
            return token, None
        return token, self.logprob(logits, token, seq.logprobs)

    def logprob(self, logits: torch.Tensor, token: int, top: int) -> TokenLogprob:
        logprobs = torch.log_softmax(logits, dim=-1)
        best = torch.topk(logprobs, top) if top else None
        return TokenLogprob(
            token=self.decode([token]),
            logprob=float(logprobs[token]),
            top=[]
            if best is None
            else [
                (self.decode([int(i)]), float(v))
                for v, i in zip(best.values, best.indices, strict=True)
            ],
        )


@serve.deployment(
    max_ongoing_requests=16,
    ray_actor_options={"num_cpus": 1},
    health_check_period_s=10,
)
class TextGenerator:
    def __init__(self, args: GeneratorArgs) -> None:
        set_torch_threads(args.torch_threads)
        self._args = args
        self._lm = TextGeneratorModel(args)
        self._runner = ForwardRunner(args.name, thread_name="decode")
        self._metrics = GenerationMetrics(args.name)
        self._batcher: ContinuousBatcher | None = None
        if args.engine == "continuous":
            decoder = BatchedDecoder(self._lm.model, self._lm.device, self._lm.logprob)
            self._batcher = ContinuousBatcher(decoder, self._runner.run, args.batching)
            self._batcher.on_step = self._metrics.step
        logger.info(
            "loaded generator %s from %s on %s (%s), context %d",
            args.name,
            args.source,
            self._lm.device,
            self._lm.dtype,
            self._lm.context,
        )

    def check_health(self) -> None:
        self._runner.check_health()

    def reconfigure(self, config: dict[str, Any]) -> None:
        """user_config: continuous batching knobs, applied from the next step on (an
        empty user_config restores serve_config.yaml's GeneratorArgs.batching)."""
        knobs = GenerationBatching.model_validate(config) if config else self._args.batching
        if self._batcher is not None:
            self._batcher.knobs = knobs
        logger.info("generator %s batching: %s", self._args.name, knobs)

    def info(self) -> ModelInfo:
        lm = self._lm
        return ModelInfo(
            name=self._args.name,
            kind="generator",
            device=str(lm.device),
            dtype=str(lm.dtype).removeprefix("torch."),
            batching=UNBATCHED
            if self._batcher is None
            else BatchConfig(
                max_batch_size=self._batcher.knobs.max_num_seqs, batch_wait_timeout_s=0.0
            ),
            generation=None if self._batcher is None else self._batcher.knobs,
            contract=ModelContract(
                inputs=[TensorSpec(name="prompt", datatype="string", shape=[1])],
                outputs=[
                    TensorSpec(
                        name="text",
                        datatype="string",
                        shape=[-1],
                        description="streamed text deltas of the continuation",
                    )
                ],
                max_tokens_per_input=min(self._args.max_prompt_tokens, lm.context - 1),
                truncates=False,
            ),
        )

    async def generate(self, request: GenerateRequest) -> AsyncIterator[GenerationChunk]:
        arrived = time.perf_counter()
        self._runner.check_serving()
        lm = self._lm
        prompt_ids = await self._runner.run_unchecked(lm.encode_request, request)
        self._check_lengths(len(prompt_ids), request)
        eos_ids = set() if request.ignore_eos else lm.eos_ids
        batched: Sequence | None = None
        if self._batcher is None:
            alone = _Sequence(prompt_ids, request, lm.device)

            async def next_tokens(wanted: int) -> list[Token]:
                token, logprob = await self._runner.run(lm.step, alone)
                return [(token, logprob, time.perf_counter())]
        else:
            batched = Sequence(
                prompt_ids=prompt_ids,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                top_p=request.top_p,
                logprobs=request.logprobs,
                seed=request.seed,
                eos_ids=eos_ids,
            )
            # Before the first chunk: a full waiting line is still a plain 503.
            self._batcher.submit(batched)
            next_tokens = batched.take
        self._metrics.started(len(prompt_ids))
        yield GenerationChunk(prompt_tokens=len(prompt_ids))

        decoder = IncrementalDecoder(lm.decode)
        stops = StopMatcher(request.stop)
        # Stop sequences are matched on the text as each token adds to it; without them
        # tokens are decoded once per chunk: two tokenizer calls a token were a tenth of
        # the event loop's GIL time at 16 streams (py-spy, benchmarks/README.md).
        text_per_token = stops.active
        produced = sent = 0
        pending = ""  # text of tokens not sent yet
        undecoded: list[int] = []  # tokens not decoded yet (no stop sequences)
        last = arrived
        outcome = "error"
        logprobs: list[TokenLogprob] = []  # of tokens whose text is not sent yet
        try:
            finish: FinishReason | None = None
            while finish is None:
                # The first token goes at once, later ones by the interval; with stop
                # sequences each token's text is checked as it comes.
                due = 1 if produced == 0 or text_per_token else self._stream_interval()
                ready = await next_tokens(max(1, due - (produced - sent)))
                before = produced
                for token, logprob, at in ready:
                    if produced == 0:
                        self._metrics.first_token(at - arrived)
                    else:
                        self._metrics.inter_token_gap(at - last)
                    last = at
                    if logprob is not None:
                        logprobs.append(logprob)
                    produced += 1
                    if token in eos_ids:
                        finish = "stop"
                    elif text_per_token:
                        pending += stops.feed(decoder.add(token))
                        if stops.stopped:
                            finish = "stop"
                    else:
                        undecoded.append(token)
                    if finish is None and produced >= request.max_tokens:
                        finish = "length"
                    if finish is not None:
                        break  # tokens the engine queued past a stop are not sent
                if finish is None and (produced - sent < self._stream_interval() and before > 0):
                    continue  # the first token goes at once, later ones by the interval
                if undecoded:
                    pending += decoder.extend(undecoded)
                    undecoded = []
                if finish is not None and not stops.stopped:
                    pending += stops.feed(decoder.flush()) + stops.flush()
                if pending or finish:
                    text, pending, sent = pending, "", produced
                    yield GenerationChunk(
                        text=text,
                        completion_tokens=produced,
                        finish_reason=finish,
                        logprobs=logprobs,
                    )
                    logprobs = []
            outcome = finish
        except (asyncio.CancelledError, GeneratorExit):
            # The caller left (client disconnect, deadline): stop decoding right here.
            outcome = "cancelled"
            logger.info("generation cancelled after %d of %d tokens", produced, request.max_tokens)
            raise
        finally:
            if batched is not None:
                batched.done = True  # leaves the batch before its next step
            self._metrics.ended(outcome, produced, time.perf_counter() - arrived)

    def _stream_interval(self) -> int:
        return 1 if self._batcher is None else self._batcher.knobs.stream_interval

    def _check_lengths(self, prompt_tokens: int, request: GenerateRequest) -> None:
        limit = min(self._args.max_prompt_tokens, self._lm.context - 1)
        max_tokens = request.max_tokens
        if prompt_tokens > limit:
            what, param = (
                ("prompt has", "prompt")
                if request.messages is None
                else ("messages in the chat template have", "messages")
            )
            raise InputTooLongError(
                f"{what} {prompt_tokens} tokens; model {self._args.name} accepts at most {limit}",
                param=param,
            )
        if prompt_tokens + max_tokens > self._lm.context:
            raise InvalidInputError(
                f"prompt ({prompt_tokens} tokens) plus max_tokens ({max_tokens}) exceeds "
                f"the context window of model {self._args.name} ({self._lm.context} tokens)",
                param="max_tokens",
            )
