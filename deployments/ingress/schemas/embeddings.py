"""Bodies of POST /v1/embeddings, compatible with the OpenAI embeddings API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _is_ids(item: Any) -> bool:
    """A token id, or a non-empty list of them (JSON true is no id)."""
    if isinstance(item, list):
        return bool(item) and all(_is_ids(i) for i in item if not isinstance(i, list))
    return isinstance(item, int) and not isinstance(item, bool)


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

    @field_validator("input", mode="before")
    @classmethod
    def _no_token_ids(cls, value: Any) -> Any:
        # OpenAI also takes token ids (a list of ints, or of lists of ints), as LangChain
        # sends by default; ids of OpenAI's tokenizer mean nothing to ours, so say so
        # instead of pydantic's "input should be a valid string".
        items = value if isinstance(value, list) else [value]
        if any(_is_ids(i) for i in items):
            raise ValueError(
                "token-id input (lists of integers) is not supported: send the text "
                "(LangChain: OpenAIEmbeddings(check_embedding_ctx_length=False))"
            )
        return value

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
