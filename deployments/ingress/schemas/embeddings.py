"""Bodies of POST /v1/embeddings, compatible with the OpenAI embeddings API."""

from __future__ import annotations

from typing import Annotated, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from deployments.contracts import EmbedInput

# A token id of the served model's vocabulary (JSON true is no id; the replica checks the
# upper bound, which only the model knows).
TokenId = Annotated[StrictInt, Field(ge=0)]


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        protected_namespaces=(),
        json_schema_extra={"examples": [{"input": ["hello world"], "model": "all-MiniLM-L6-v2"}]},
    )

    input: str | list[str] | list[TokenId] | list[list[TokenId]] = Field(
        description="Text to embed, or a list of texts (one vector each, in order); or, as "
        "OpenAI's API allows, token ids of the served model's own tokenizer: one list of "
        "ints, or a list of them (the model adds its special tokens, so the ids of a text "
        "embed as the text does). Ids of another tokenizer (tiktoken's, which LangChain "
        "sends by default) would embed as other tokens: LangChain needs "
        "OpenAIEmbeddings(check_embedding_ctx_length=False)."
    )
    model: str = Field(description="Id of a served model (see GET /v1/models).")

    def inputs(self) -> list[EmbedInput]:
        """One entry per vector to answer, in order."""
        value = self.input
        if isinstance(value, str) or (value and isinstance(value[0], int)):
            return [cast(EmbedInput, value)]
        return cast(list[EmbedInput], value)

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
