"""POST /v1/embeddings bodies: what OpenAI's API takes that ours refuses, said clearly."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from deployments.ingress.schemas.embeddings import EmbeddingRequest


@pytest.mark.parametrize("ids", [[1, 2, 3], [[1, 2], [3]], 7])
def test_token_ids_get_a_clear_refusal(ids: Any) -> None:
    """OpenAI takes token ids (LangChain sends them by default); they are ids of OpenAI's
    tokenizer, not ours, so the 422 says to send text instead."""
    with pytest.raises(ValidationError, match=r"token-id input .* is not supported"):
        EmbeddingRequest(model="m", input=ids)


@pytest.mark.parametrize("text", ["a", ["a", "b"]])
def test_text_still_validates(text: Any) -> None:
    assert EmbeddingRequest(model="m", input=text).input == text


def test_the_example_validates() -> None:
    (example,) = EmbeddingRequest.model_json_schema()["examples"]
    assert EmbeddingRequest.model_validate(example)
