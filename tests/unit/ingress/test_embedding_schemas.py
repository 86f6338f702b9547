"""POST /v1/embeddings bodies: texts, or token ids as OpenAI's API takes them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from deployments.config import RequestLimits
from deployments.errors import InvalidInputError
from deployments.ingress.input_checks import check_texts
from deployments.ingress.schemas.embeddings import EmbeddingRequest


@pytest.mark.parametrize(
    ("given", "inputs"),
    [
        ("a", ["a"]),
        (["a", "b"], ["a", "b"]),
        ([101, 7592], [[101, 7592]]),  # one input as ids
        ([[1, 2], [3]], [[1, 2], [3]]),  # several
    ],
)
def test_texts_and_token_ids_become_one_input_per_vector(given: Any, inputs: Any) -> None:
    assert EmbeddingRequest(model="m", input=given).inputs() == inputs


@pytest.mark.parametrize(
    "bad",
    [
        [1, "a"],  # ids and text mixed in one list
        [-1],  # no negative ids
        [True, False],  # JSON booleans are no ids
        [[1], "a"],
        [1.5],
        7,  # a bare int is neither a text nor a list
    ],
)
def test_anything_else_is_refused(bad: Any) -> None:
    with pytest.raises(ValidationError):
        EmbeddingRequest(model="m", input=bad)


def test_id_lists_are_checked_like_texts() -> None:
    limits = RequestLimits(max_input_chars=4, max_inputs_per_request=2)
    check_texts([[1, 2, 3, 4], "text"], limits, "input")
    with pytest.raises(InvalidInputError, match=r"input\[0\] is an empty list of token ids"):
        check_texts([[]], limits, "input")
    with pytest.raises(InvalidInputError, match=r"input\[1\] has 5 token ids; at most 4"):
        check_texts(["a", [1, 2, 3, 4, 5]], limits, "input")
    with pytest.raises(InvalidInputError, match="3 items; at most 2"):
        check_texts([[1], [2], [3]], limits, "input")


def test_the_example_validates() -> None:
    (example,) = EmbeddingRequest.model_json_schema()["examples"]
    assert EmbeddingRequest.model_validate(example)
