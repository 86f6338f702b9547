"""Bodies of POST /v1/embeddings, compatible with the OpenAI embeddings API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        protected_namespaces=(),
        json_schema_extra={"examples": [{"input": ["hello world"], "model": "all-MiniLM-L6-v2"}]},
    )

    input: str | list[str] = Field(
        description="Text to embed, or a list of texts (one vector each, in order)."
    )
    model: str = Field(description="Id of a served model (see GET /v1/models).")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="`base64` returns little-endian float32 bytes, base64-encoded."
    )
    dimensions: int | None = Field(
        None, ge=1, description="Must equal the model's dimensions if given (no truncation)."
    )
    user: str | None = Field(None, max_length=256, description="Opaque end-user id; ignored.")


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int = Field(description="Position of the input this vector belongs to.")
    embedding: list[float] | str = Field(description="The vector, or base64 float32 bytes.")


class Usage(BaseModel):
    prompt_tokens: int = Field(description="Tokens the model read, after truncation.")
    total_tokens: int = Field(description="Equal to prompt_tokens for embeddings.")


class EmbeddingResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage
