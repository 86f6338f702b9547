"""The chat completions request schema: what it accepts, flattens and refuses (422)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from deployments.ingress.schemas.chat import ChatCompletionRequest
from deployments.ingress.schemas.completions import CompletionRequest

USER = {"role": "user", "content": "hi"}


def parse(**fields: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "m", "messages": [USER]} | fields)


def test_content_parts_and_roles_are_flattened() -> None:
    body = parse(
        messages=[
            {"role": "developer", "content": "be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {"role": "assistant", "content": "ok", "name": "bot"},
        ],
        max_tokens=5,
        stop="x",
        response_format={"type": "text"},
        tools=[],
        frequency_penalty=0.5,  # ignored, as OpenAI clients send it
    )
    assert [(m.chat_role(), m.text()) for m in body.messages] == [
        ("system", "be brief"),
        ("user", "a\nb"),
        ("assistant", "ok"),
    ]
    assert body.requested_max_tokens() == 5 and body.stops() == ["x"]
    assert body.logprobs_asked() is None
    assert parse(max_tokens=5, max_completion_tokens=7).requested_max_tokens() == 7
    assert parse(logprobs=True).logprobs_asked() == 0
    assert parse(logprobs=True, top_logprobs=3).logprobs_asked() == 3


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"messages": []}, "at least 1"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "role 'tool'"),
        ({"messages": [{"role": "user"}]}, "content"),
        ({"messages": [{"role": "user", "content": None}]}, "content"),
        ({"messages": [{"role": "user", "content": []}]}, "empty list"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "type 'image_url'",
        ),
        ({"messages": [{"role": "user", "content": [{"type": "text"}]}]}, "string 'text'"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"temperature": 2.5}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"stop": ["a"] * 5}, "at most 4"),
        ({"stop": [""]}, "stop"),
        ({"seed": -1}, "seed"),
        ({"n": 2}, "n=1"),
        ({"stream": "maybe"}, "stream"),
        ({"stream_options": {"include_usage": "x"}}, "include_usage"),
        ({"user": "u" * 300}, "user"),
        ({"logprobs": "maybe"}, "logprobs"),
        ({"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
        ({"top_logprobs": 2}, "needs logprobs"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tool and function"),
        ({"functions": [{"name": "f"}]}, "tool and function"),
        ({"response_format": {"type": "json_schema", "json_schema": {}}}, "'json_schema'"),
        ({"response_format": {"type": "json_object"}}, "'json_object'"),
    ],
)
def test_bad_fields_are_refused_by_name(fields: dict[str, Any], names: str) -> None:
    with pytest.raises(ValidationError, match=names):
        parse(**fields)


def test_completion_logprobs_bounds() -> None:
    ok = CompletionRequest.model_validate({"model": "m", "prompt": "p", "logprobs": 5})
    assert ok.logprobs == 5
    with pytest.raises(ValidationError, match="logprobs"):
        CompletionRequest.model_validate({"model": "m", "prompt": "p", "logprobs": 6})
