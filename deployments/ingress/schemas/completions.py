"""HTTP schemas of POST /v1/completions, compatible with OpenAI's (legacy) completions API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from deployments.contracts import FinishReason

MAX_STOPS = 4
MAX_STOP_CHARS = 256
MAX_COMPLETION_LOGPROBS = 5


def check_stops(v: str | list[str] | None) -> str | list[str] | None:
    """`stop` of both APIs: a string or up to MAX_STOPS of them, none empty or too long."""
    stops = stop_list(v)
    if len(stops) > MAX_STOPS:
        raise ValueError(f"at most {MAX_STOPS} stop sequences are accepted")
    for s in stops:
        if not s or len(s) > MAX_STOP_CHARS:
            raise ValueError(f"each stop sequence must have 1 to {MAX_STOP_CHARS} characters")
    return v


def stop_list(v: str | list[str] | None) -> list[str]:
    return [v] if isinstance(v, str) else list(v or [])


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = Field(
        False, description="Send one more chunk, before [DONE], with usage and no choices."
    )


class SamplingRequest(BaseModel):
    """What both text-generation APIs (completions and chat) take alike: the model, how
    to sample, when to stop, and how to answer. Unknown fields are ignored: OpenAI clients
    send extras (echo, best_of, penalties, metadata, ...)."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str = Field(description="Id of a served generator model (see GET /v1/models).")
    temperature: float = Field(1.0, ge=0.0, le=2.0, description="0 is greedy decoding.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    stop: str | list[str] | None = Field(
        None,
        description=f"Up to {MAX_STOPS} texts; generation ends before the first of them, "
        "which is not returned (finish_reason `stop`).",
    )
    seed: int | None = Field(
        None, ge=0, le=2**63 - 1, description="Seeds sampling for reproducible outputs."
    )
    n: int = Field(1, description="Choices per request; only 1 is supported.")
    stream: bool = Field(False, description="Stream the answer as Server-Sent Events.")
    stream_options: StreamOptions | None = Field(None, description="Streaming options.")
    user: str | None = Field(None, max_length=256, description="Opaque end-user id; ignored.")

    _few_stops = field_validator("stop")(check_stops)

    @field_validator("n")
    @classmethod
    def _one_choice(cls, v: int) -> int:
        if v != 1:
            raise ValueError("only n=1 is supported")
        return v

    def stops(self) -> list[str]:
        return stop_list(self.stop)


class CompletionRequest(SamplingRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"model": "tiny-gpt2", "prompt": "Once upon a time", "max_tokens": 16}]
        },
    )

    prompt: str | list[str] = Field(
        description="Text to continue; a list must hold exactly one string."
    )
    max_tokens: int | None = Field(
        None,
        ge=1,
        description="Most tokens to generate; defaults to the model's default_max_tokens "
        "and may not exceed its max_new_tokens_limit.",
    )
    ignore_eos: bool = Field(
        False,
        description="vLLM's extension: keep generating past the end-of-sequence token, so "
        "every request makes max_tokens tokens (benchmarks).",
    )
    logprobs: int | None = Field(
        None,
        ge=0,
        le=MAX_COMPLETION_LOGPROBS,
        description="Return each token's log-probability and this many likeliest "
        "alternatives at its position (OpenAI's limit, 5).",
    )

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and len(v) != 1:
            raise ValueError(f"exactly one prompt per request is supported, got {len(v)}")
        return v

    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class CompletionLogprobs(BaseModel):
    """OpenAI's legacy shape: parallel lists, one entry per generated token."""

    tokens: list[str] = Field(description="Each token's text.")
    token_logprobs: list[float] = Field(description="Each token's log-probability.")
    top_logprobs: list[dict[str, float]] = Field(
        description="Per token: the likeliest tokens at its position and their log-probabilities."
    )
    text_offset: list[int] = Field(description="Where each token's text starts in the text.")


class CompletionChoice(BaseModel):
    text: str = Field(description="Generated text (in a stream: the new text of this chunk).")
    index: int = Field(0, description="Always 0 (n=1).")
    logprobs: CompletionLogprobs | None = Field(
        None, description="With `logprobs` in the request: this text's tokens."
    )
    finish_reason: FinishReason | None = Field(
        None,
        description="`stop` (end of text or a stop sequence) or `length` (max_tokens); "
        "null on stream chunks but the last.",
    )


class CompletionUsage(BaseModel):
    prompt_tokens: int = Field(description="Tokens of the prompt.")
    completion_tokens: int = Field(description="Tokens generated.")
    total_tokens: int = Field(description="Their sum.")


class CompletionResponse(BaseModel):
    """The whole answer (stream false), or one `data:` chunk of a stream (without usage)."""

    model_config = ConfigDict(protected_namespaces=())

    id: str = Field(description="Same for every chunk of one completion.")
    object: Literal["text_completion"] = "text_completion"
    created: int = Field(description="Unix time the completion started.")
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage | None = None
