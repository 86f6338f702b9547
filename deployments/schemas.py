"""HTTP request/response schemas, compatible with the OpenAI embeddings and models APIs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from deployments.config import BatchConfig, ModelKind
from deployments.contracts import ModelContract


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


class ModelCard(BaseModel):
    id: str = Field(description="Model id to pass as `model`.")
    object: Literal["model"] = "model"
    created: int = Field(description="Unix time the serving application started.")
    owned_by: str
    kind: ModelKind | None = Field(None, description="embedding, predictor or generator.")
    ready: bool = Field(description="Whether the model deployment answered just now.")
    dimensions: int | None = Field(None, description="Length of each output vector.")
    device: str | None = Field(None, description="Where the replica runs the model.")
    dtype: str | None = Field(None, description="Compute precision.")
    contract: ModelContract | None = Field(None, description="Input/output contract.")
    batching: BatchConfig | None = Field(None, description="Live batching knobs.")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    models: dict[str, Literal["ready", "unavailable"]] = Field(
        description="Per model deployment: whether it answered within the timeout."
    )


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong, for humans.")
    type: str = Field(description="Error class, as in the OpenAI API.")
    param: str | None = Field(None, description="The request field at fault, if any.")
    code: str = Field(description="Stable machine-readable code.")


class ErrorResponse(BaseModel):
    error: ErrorDetail
