"""HTTP schemas of POST /v1/chat/completions, compatible with OpenAI's chat completions API.

What is not supported yet (tools, structured output, images and audio) is refused with
422 naming it, never silently ignored: a client relying on it must not get an answer
that looks right. Other fields OpenAI clients send (penalties, metadata, ...) are ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from deployments.contracts import MAX_TOP_LOGPROBS, ChatRole, FinishReason
from deployments.ingress.schemas.completions import CompletionUsage, SamplingRequest

# Newer OpenAI clients send "developer" where older ones sent "system": the same turn.
ROLES: dict[str, ChatRole] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}
# response_format types answered as plain text anyway; json_object/json_schema need
# constrained decoding, which is not built yet.
PLAIN_FORMATS = frozenset({"text"})


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str = Field(description="`system` (or `developer`), `user` or `assistant`.")
    content: str | list[dict[str, Any]] = Field(
        description='Text, or a list of parts `{"type": "text", "text": ...}` (joined by '
        "newlines); other part types are not supported."
    )
    name: str | None = Field(None, max_length=256, description="Ignored.")

    @field_validator("role")
    @classmethod
    def _known_role(cls, v: str) -> str:
        if v not in ROLES:
            supported = ", ".join(sorted(ROLES))
            raise ValueError(f"message role {v!r} is not supported (only {supported})")
        return v

    @field_validator("content")
    @classmethod
    def _text_parts(cls, v: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
        if isinstance(v, str):
            return v
        if not v:
            raise ValueError("content must not be an empty list")
        for i, part in enumerate(v):
            kind = part.get("type")
            if kind != "text":
                raise ValueError(
                    f"content part {i} has type {kind!r}: only 'text' parts are supported"
                )
            if not isinstance(part.get("text"), str):
                raise ValueError(f"content part {i} needs a string 'text'")
        return v

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part["text"] for part in self.content)

    def chat_role(self) -> ChatRole:
        return ROLES[self.role]


class ChatCompletionRequest(SamplingRequest):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "tiny-gpt2",
                    "messages": [{"role": "user", "content": "Hello!"}],
                    "max_completion_tokens": 16,
                }
            ]
        },
    )

    messages: list[ChatMessageIn] = Field(
        min_length=1, description="The conversation so far, oldest first."
    )
    max_completion_tokens: int | None = Field(
        None,
        ge=1,
        description="Most tokens to generate; defaults to the model's default_max_tokens "
        "and may not exceed its max_new_tokens_limit.",
    )
    max_tokens: int | None = Field(
        None, ge=1, description="The older name of max_completion_tokens (which wins)."
    )
    logprobs: bool = Field(False, description="Return each token's log-probability.")
    top_logprobs: int | None = Field(
        None,
        ge=0,
        le=MAX_TOP_LOGPROBS,
        description="With logprobs: this many likeliest alternatives per token.",
    )
    tools: list[Any] | None = Field(None, description="Not supported yet: 422 if not empty.")
    functions: list[Any] | None = Field(
        None, description="Not supported (deprecated tools): 422 if not empty."
    )
    response_format: dict[str, Any] | None = Field(
        None, description='Only `{"type": "text"}`; json_object and json_schema get 422.'
    )

    @field_validator("tools", "functions")
    @classmethod
    def _no_tools(cls, v: list[Any] | None) -> list[Any] | None:
        if v:
            raise ValueError("tool and function calling is not supported yet")
        return v

    @field_validator("response_format")
    @classmethod
    def _plain_text(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is not None and v.get("type") not in PLAIN_FORMATS:
            raise ValueError(
                f"response_format type {v.get('type')!r} is not supported yet (only 'text')"
            )
        return v

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @model_validator(mode="after")
    def _top_logprobs_need_logprobs(self) -> ChatCompletionRequest:
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self

    def logprobs_asked(self) -> int | None:
        """Alternatives per token the replica computes; None: no log-probabilities."""
        return (self.top_logprobs or 0) if self.logprobs else None


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = Field(description="The token's UTF-8 bytes.")


class ChatTokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob] = Field(description="The likeliest tokens at this position.")


class ChoiceLogprobs(BaseModel):
    content: list[ChatTokenLogprob] | None = Field(description="One entry per generated token.")
    refusal: None = None


class ChatMessageOut(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: None = None


class ChatChoice(BaseModel):
    index: int = Field(0, description="Always 0 (n=1).")
    message: ChatMessageOut
    logprobs: ChoiceLogprobs | None = None
    finish_reason: FinishReason | None = Field(
        description="`stop` (end of the answer or a stop sequence) or `length`."
    )


class ChatCompletionResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    id: str = Field(description="Same for every chunk of one completion.")
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(description="Unix time the completion started.")
    model: str
    choices: list[ChatChoice]
    usage: CompletionUsage | None = None


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = Field(None, description="On the first chunk only.")
    content: str | None = None


class ChatChunkChoice(BaseModel):
    index: int = 0
    delta: ChatDelta
    logprobs: ChoiceLogprobs | None = None
    finish_reason: FinishReason | None = Field(None, description="On the last chunk only.")


class ChatCompletionChunk(BaseModel):
    """One `data:` event of a streamed chat completion."""

    model_config = ConfigDict(protected_namespaces=())

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: CompletionUsage | None = None
