"""Everything that crosses a DeploymentHandle between the ingress and a model replica.

What a model tells the ingress about itself (a Triton-style I/O contract and its live
batching knobs), what each kind of model answers, and what a generator is asked and
streams back. Shared by both sides; plain pydantic and numpy, no torch and no HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

ModelKind = Literal["embedding", "predictor", "generator"]
# One input of an embedding model: a text, or token ids of the model's own vocabulary
# (OpenAI's embeddings API takes both; ids skip the tokenizer, special tokens are added).
EmbedInput = str | list[int]
FinishReason = Literal["stop", "length"]


def is_encodable(text: str) -> bool:
    """Whether ``text`` is real Unicode: JSON's "\\ud800" decodes to a lone surrogate,
    which tokenizers reject, and that must stay a bad input, never a broken model."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class BatchConfig(BaseModel):
    """Live batching knobs, applied through ``user_config`` without restarting replicas."""

    model_config = ConfigDict(extra="forbid")

    max_batch_size: int = Field(
        32, ge=1, le=4096, description="Most inputs (items, not requests) run in one forward pass."
    )
    batch_wait_timeout_s: float = Field(
        0.0,
        ge=0.0,
        le=10.0,
        description=(
            "How long the first queued item waits for others before a partial batch runs. "
            "0 still batches under load: what arrives during a forward pass runs together "
            "in the next one (deployments/models/batch_gate.py)."
        ),
    )


class EmbeddingBatchConfig(BatchConfig):
    """An embedding model's live batching knobs: BatchConfig's, plus a token budget."""

    max_batch_tokens: int | None = Field(
        None,
        ge=1,
        le=1_048_576,
        description=(
            "Most padded token positions (rows x longest row) one forward pass computes. "
            "Inputs of similar length run together and the earliest deadline leads, so a "
            "long input does not pad many short ones "
            "(deployments/models/embedding/scheduler.py). null: batches count items only."
        ),
    )


class GenerationBatching(BaseModel):
    """A generator's continuous batching knobs (deployments/models/generation/scheduler.py);
    set in GeneratorArgs.batching, changed live through the deployment's user_config."""

    model_config = ConfigDict(extra="forbid")

    max_num_seqs: int = Field(
        16,
        ge=1,
        le=1024,
        description="Most sequences one decode step advances together; 1 decodes one "
        "request at a time.",
    )
    max_num_batched_tokens: int = Field(
        2048,
        ge=1,
        description="Most prompt tokens prefilled in one step, so long prompts joining "
        "cannot stall running streams for long (a lone prompt always fits).",
    )
    max_cache_tokens: int = Field(
        65536,
        ge=1,
        description="KV-cache budget in tokens: a request is admitted when its prompt plus "
        "max_tokens fit what running ones reserved, so none is ever preempted.",
    )
    max_waiting_seqs: int = Field(
        64,
        ge=0,
        description="Most requests waiting for a slot; past it 503 with Retry-After.",
    )
    stream_interval: int = Field(
        1,
        ge=1,
        le=64,
        description="Tokens per streamed chunk after the first (vLLM's stream interval): "
        "each chunk is one message through replica, ingress and proxy, so a larger value "
        "trades inter-chunk latency for serving CPU under load. 1 sends what is ready "
        "(a stream that lags the engine still gets its queued tokens in one chunk).",
    )


class TensorSpec(BaseModel):
    name: str = Field(description="Tensor name.")
    datatype: Literal["string", "float64", "float32", "float16", "int64", "int32", "bool"] = Field(
        description="Element type."
    )
    shape: list[int] = Field(description="Shape; -1 is variable (the first axis is the batch).")
    description: str = Field("", description="What the tensor holds.")


class ModelContract(BaseModel):
    inputs: list[TensorSpec] = Field(description="Accepted inputs.")
    outputs: list[TensorSpec] = Field(description="Produced outputs.")
    max_tokens_per_input: int | None = Field(
        None, description="Text models: longer inputs are truncated or rejected."
    )
    truncates: bool | None = Field(
        None, description="Text models: whether over-long inputs are truncated (else 422)."
    )
    normalized: bool | None = Field(None, description="Embeddings: output rows have unit norm.")


class ModelInfo(BaseModel):
    """A model deployment's self-description, returned by its ``info`` method."""

    model_config = ConfigDict(protected_namespaces=())

    name: str
    kind: ModelKind = "embedding"
    dimensions: int | None = Field(None, description="Embeddings: length of each vector.")
    device: str
    dtype: str
    contract: ModelContract
    generation: GenerationBatching | None = Field(
        None, description="Generators: the continuous batching knobs in effect."
    )
    # Embedding models report their token budget too (a union, so it is serialized).
    batching: EmbeddingBatchConfig | BatchConfig


class BatchedAnswer(BaseModel):
    """What every batched model call reports beside its outputs: the batch it ran in and
    where its time went inside the replica (the ingress's x-batch-size and Server-Timing)."""

    batch_size: int = Field(description="Largest batch any of these inputs ran in.")
    queue_s: float = Field(0.0, description="Longest wait of these inputs for their batch.")
    forward_s: float = Field(
        0.0, description="Longest forward pass (preprocessing included) these inputs ran in."
    )
    replica_s: float = Field(0.0, description="Time from the call's arrival to its answer.")
    slot_s: float | None = Field(
        None,
        description="Set by the ingress, not the model: how long the request waited in "
        "the ingress for a call slot (deployments/ingress/call_coalescer.py); None where calls "
        "are not coalesced.",
    )

    @staticmethod
    def of_chunks(chunks: Sequence[ChunkAnswer], arrived: float) -> dict[str, Any]:
        """These fields for a call whose inputs ran as ``chunks`` (each in some batch),
        the call having arrived at ``arrived`` (``time.perf_counter()``)."""
        return {
            "batch_size": max(c.batch_size for c in chunks),
            "queue_s": max(c.queue_s for c in chunks),
            "forward_s": max(c.forward_s for c in chunks),
            "replica_s": time.perf_counter() - arrived,
        }


class ChunkAnswer(Protocol):
    """What a model replica knows of one chunk of a call once its batch has run."""

    @property
    def batch_size(self) -> int: ...
    @property
    def queue_s(self) -> float: ...
    @property
    def forward_s(self) -> float: ...


class EmbedResult(BatchedAnswer):
    """The model's answer to one ``embed`` call."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vectors: np.ndarray = Field(description="float32 [n, dimensions], unit rows.")
    token_counts: list[int] = Field(description="Tokens the model used per input.")
    batch_size: int = Field(description="Largest batch (in items) any of these inputs ran in.")


class PredictResult(BatchedAnswer):
    """The model's answer to one ``predict`` call."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    outputs: dict[str, np.ndarray] = Field(
        description="Each output of the manifest, one row per input row."
    )
    batch_size: int = Field(description="Largest batch (in rows) any of these rows ran in.")


ChatRole = Literal["system", "user", "assistant"]


class ChatMessage(BaseModel):
    """One turn of a conversation, its content already flattened to text by the ingress."""

    model_config = ConfigDict(extra="forbid")

    role: ChatRole
    content: str


class TokenLogprob(BaseModel):
    """One generated token with its log-probability under the model (raw logits, before
    temperature and top_p, as vLLM and OpenAI report them), and the likeliest
    alternatives at its position."""

    token: str = Field(description="The token's text (decoded alone).")
    logprob: float
    top: list[tuple[str, float]] = Field(
        default_factory=list, description="The likeliest tokens there, most likely first."
    )


MAX_TOP_LOGPROBS = 20


class GenerateRequest(BaseModel):
    """A prompt to continue, or a conversation to answer (rendered with the model's chat
    template by the replica, which owns the tokenizer): exactly one of the two."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = Field(None, description="Text to continue.")
    messages: list[ChatMessage] | None = Field(
        None, description="A conversation; the replica renders it with its chat template."
    )
    max_tokens: int = Field(ge=1, description="Most tokens to generate.")
    temperature: float = Field(
        ge=0.0, description="0 is greedy decoding; higher flattens the distribution."
    )
    top_p: float = Field(gt=0.0, le=1.0, description="Nucleus sampling mass.")
    stop: list[str] = Field(
        default_factory=list, description="Generation ends before the first of these texts."
    )
    seed: int | None = Field(None, description="Seeds sampling, for reproducible outputs.")
    ignore_eos: bool = Field(
        False, description="Keep generating past the end-of-sequence token (benchmarks)."
    )
    logprobs: int | None = Field(
        None,
        ge=0,
        le=MAX_TOP_LOGPROBS,
        description="Report each token's log-probability and this many alternatives; "
        "None: no log-probabilities.",
    )

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> GenerateRequest:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("exactly one of prompt and messages is required")
        return self


class GenerationChunk(BaseModel):
    """One step of a generation stream.

    The first chunk of every stream has no text and carries ``prompt_tokens``: it is
    sent once the prompt was accepted, so the ingress can still answer errors as plain
    JSON before it starts a stream. The last has ``finish_reason``.
    """

    text: str = Field("", description="New text since the previous chunk (may be empty).")
    prompt_tokens: int | None = Field(None, description="Set on the first chunk only.")
    completion_tokens: int = Field(0, description="Tokens generated so far.")
    finish_reason: FinishReason | None = Field(None, description="Set on the last chunk.")
    logprobs: list[TokenLogprob] = Field(
        default_factory=list,
        description="When asked for: the tokens generated since the previous chunk.",
    )
