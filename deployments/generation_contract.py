"""What the ingress asks of a generator deployment and what it streams back.

Plain pydantic, no torch and no HTTP: the ingress validates an OpenAI request into a
GenerateRequest; the model yields GenerationChunks, the first one before any token.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FinishReason = Literal["stop", "length"]


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(description="Text to continue.")
    max_tokens: int = Field(ge=1, description="Most tokens to generate.")
    temperature: float = Field(
        ge=0.0, description="0 is greedy decoding; higher flattens the distribution."
    )
    top_p: float = Field(gt=0.0, le=1.0, description="Nucleus sampling mass.")
    stop: list[str] = Field(
        default_factory=list, description="Generation ends before the first of these texts."
    )
    seed: int | None = Field(None, description="Seeds sampling, for reproducible outputs.")


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
