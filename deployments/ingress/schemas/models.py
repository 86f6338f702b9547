"""Bodies of GET /v1/models, compatible with the OpenAI models API plus each model's
contract and live batching knobs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from deployments.contracts import (
    BatchConfig,
    EmbeddingBatchConfig,
    GenerationBatching,
    ModelContract,
    ModelKind,
)


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
    batching: EmbeddingBatchConfig | BatchConfig | None = Field(
        None, description="Live batching knobs (embedding models: with their token budget)."
    )
    generation: GenerationBatching | None = Field(
        None, description="Generators: the continuous batching knobs in effect."
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
