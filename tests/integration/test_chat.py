"""POST /v1/chat/completions on the real cluster, driven by the official `openai` client
and LangChain's ChatOpenAI unchanged, and by raw HTTP for its framing and its errors.

The served model is serve_config.yaml's demo generator (tiny random GPT-2 with a ChatML
template): its answers are gibberish, but greedy and seeded decoding make them
reproducible.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from typing import Any, cast

import httpx
import openai
import pytest

from tests.support.generation import chunks_of, sse_data
from tests.support.live_cluster import GENERATOR, MODEL, ROOT, LiveCluster

MESSAGES = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "Tell me a story"},
]
SEEDED: dict[str, Any] = {"temperature": 1.0, "seed": 7, "max_completion_tokens": 12}


def chat(client: httpx.Client, **extra: Any) -> httpx.Response:
    body = {"model": GENERATOR, "messages": MESSAGES} | extra
    return client.post("/v1/chat/completions", json=body)


def chat_events(client: httpx.Client, **extra: Any) -> list[dict[str, Any]]:
    body = {"model": GENERATOR, "messages": MESSAGES, "stream": True} | extra
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        return chunks_of(list(sse_data(r.iter_lines())))


def chat_create(oai: openai.OpenAI) -> Any:
    """The client's create, untyped: its overloads want TypedDict messages."""
    return cast(Any, oai.chat.completions.create)


def test_openai_chat_streamed_equals_non_streamed(oai: openai.OpenAI) -> None:
    whole = chat_create(oai)(model=GENERATOR, messages=MESSAGES, **SEEDED)
    assert whole.object == "chat.completion" and whole.id.startswith("chatcmpl-")
    (choice,) = whole.choices
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason == "length"
    assert whole.usage is not None and whole.usage.completion_tokens == 12
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + 12
    chunks = list(
        chat_create(oai)(
            model=GENERATOR,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            **SEEDED,
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == choice.message.content
    assert chunks[-2].choices[0].finish_reason == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage


def test_openai_chat_logprobs(oai: openai.OpenAI) -> None:
    kw: dict[str, Any] = {"temperature": 0, "max_completion_tokens": 6}
    kw |= {"logprobs": True, "top_logprobs": 2}
    whole = chat_create(oai)(model=GENERATOR, messages=MESSAGES, **kw)
    logprobs = whole.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert len(logprobs.content) == 6
    for t in logprobs.content:
        assert t.logprob <= 0 and len(t.top_logprobs) == 2
        # Greedy: each token is the likeliest at its position.
        assert math.isclose(t.top_logprobs[0].logprob, t.logprob, abs_tol=1e-6)
        assert t.bytes == list(t.token.encode())
    streamed = list(chat_create(oai)(model=GENERATOR, messages=MESSAGES, stream=True, **kw))
    tokens = [
        t
        for c in streamed
        if c.choices and c.choices[0].logprobs
        for t in c.choices[0].logprobs.content or []
    ]
    assert [(t.token, t.logprob) for t in tokens] == [
        (t.token, t.logprob) for t in logprobs.content
    ]
    assert "".join(t.token for t in tokens) == whole.choices[0].message.content


def test_completions_logprobs(oai: openai.OpenAI) -> None:
    result = oai.completions.create(
        model=GENERATOR, prompt="Hello", max_tokens=5, temperature=0, logprobs=3
    )
    lp = result.choices[0].logprobs
    assert lp is not None and lp.tokens and lp.token_logprobs and lp.top_logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 5
    assert "".join(lp.tokens) == result.choices[0].text
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(5)]
    for token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True):
        assert len(top) <= 3 and max(top.values()) == pytest.approx(logprob, abs=1e-6)
        assert top.get(token, logprob) == pytest.approx(logprob, abs=1e-6)


def test_langchain_chat_openai(cluster: LiveCluster) -> None:
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        model=GENERATOR,
        base_url=cluster.base_url + "/v1",
        api_key=cluster.keys["admin"],
        temperature=0,
        max_completion_tokens=8,
        max_retries=0,
    )
    messages = [SystemMessage("You answer briefly."), HumanMessage("Tell me a story")]
    answer = llm.invoke(messages)
    assert isinstance(answer.content, str) and answer.content
    assert answer.usage_metadata and answer.usage_metadata["output_tokens"] == 8
    streamed = "".join(str(c.content) for c in llm.stream(messages))
    assert streamed == answer.content


def test_sse_framing(client: httpx.Client) -> None:
    chunks = chat_events(client, temperature=0, max_completion_tokens=6)
    assert len({c["id"] for c in chunks}) == 1
    for c in chunks:
        assert c["object"] == "chat.completion.chunk" and c["model"] == GENERATOR
        assert "usage" not in c
    first, *rest = [c["choices"][0] for c in chunks]
    assert first["delta"] == {"role": "assistant", "content": ""}
    assert all(c["delta"]["role"] is None for c in rest)
    reasons = [c["finish_reason"] for c in [first, *rest]]
    assert reasons[-1] == "length" and set(reasons[:-1]) == {None}


def test_text_parts_and_the_older_max_tokens(client: httpx.Client) -> None:
    plain = chat(client, temperature=0, max_tokens=5).json()
    parts = [{"type": "text", "text": "Tell me"}, {"type": "text", "text": "a story"}]
    as_parts = chat(
        client,
        temperature=0,
        max_completion_tokens=5,
        messages=[MESSAGES[0], {"role": "user", "content": parts}],
    ).json()
    assert plain["usage"]["completion_tokens"] == as_parts["usage"]["completion_tokens"] == 5
    # "Tell me\na story" renders to other tokens than "Tell me a story": both accepted.
    assert as_parts["usage"]["prompt_tokens"] > 0


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "user", "content": ""}]}, "messages"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages",
        ),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"max_completion_tokens": 1025}, "max_completion_tokens"),
        ({"max_tokens": 1025}, "max_tokens"),
        ({"temperature": -1}, "temperature"),
        ({"top_p": 2}, "top_p"),
        ({"stop": ["a"] * 5}, "stop"),
        ({"seed": "x"}, "seed"),
        ({"n": 3}, "n"),
        ({"stream_options": {"include_usage": "x"}}, "stream_options"),
        ({"user": 5}, "user"),
        ({"logprobs": "maybe"}, "logprobs"),
        ({"logprobs": True, "top_logprobs": 99}, "top_logprobs"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            "response_format",
        ),
        # Rendered and counted in the replica: still a JSON 422, since no stream started.
        ({"messages": [{"role": "user", "content": "word " * 600}]}, "messages"),
    ],
)
def test_bad_fields_are_422(client: httpx.Client, extra: dict[str, Any], param: str) -> None:
    for stream in (False, True):
        r = chat(client, **{"stream": stream} | extra)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/json")
        error = r.json()["error"]
        assert error["param"] is not None and error["param"].startswith(param), error
        assert error["message"]


def test_refusals_name_what_is_unsupported(client: httpx.Client) -> None:
    image = [{"type": "image_url", "image_url": {"url": "x"}}]
    r = chat(client, messages=[{"role": "user", "content": image}])
    assert "image_url" in r.json()["error"]["message"]
    r = chat(client, tools=[{"type": "function", "function": {"name": "f"}}])
    assert "tool" in r.json()["error"]["message"]
    r = chat(client, response_format={"type": "json_schema", "json_schema": {"name": "x"}})
    assert "json_schema" in r.json()["error"]["message"]
    # JSON's escape of a lone surrogate: valid JSON, no text a tokenizer can take.
    raw = b'{"model": "%s", "messages": [{"role": "user", "content": "\\ud800"}]}'
    r = client.post(
        "/v1/chat/completions",
        content=raw % GENERATOR.encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422 and "Unicode" in r.json()["error"]["message"], r.text


def test_auth_scope_and_model_errors(cluster: LiveCluster, anonymous: httpx.Client) -> None:
    assert chat(anonymous).status_code == 401
    with httpx.Client(base_url=cluster.base_url, headers=cluster.auth_headers("other-model")) as c:
        r = chat(c)
        assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
    with httpx.Client(base_url=cluster.base_url, headers=cluster.auth_headers()) as c:
        for model in ("no-such-model", MODEL):
            r = chat(c, model=model)
            assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


def test_deadline_mid_stream_is_an_error_event(client: httpx.Client) -> None:
    body = {"model": GENERATOR, "messages": MESSAGES, "stream": True}
    body |= {"temperature": 0, "max_completion_tokens": 1000}
    with client.stream(
        "POST", "/v1/chat/completions", json=body, headers={"X-Request-Timeout-Ms": "400"}
    ) as r:
        assert r.status_code == 200
        events = list(sse_data(r.iter_lines()))
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["error"]["code"] == "deadline_exceeded"


def test_documented_in_openapi(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/v1/chat/completions"]["post"]
    assert "text/event-stream" in op["responses"]["200"]["content"]


def test_readme_chat_example(cluster: LiveCluster) -> None:
    """The curl example of README.md's "Chat completions" runs as shown."""
    section = (ROOT / "README.md").read_text().split("## Chat completions", 1)[1]
    bash = re.search(r"```bash\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    assert bash
    command = (
        bash.group(1)
        .replace("\\\n", " ")
        .replace("127.0.0.1:8000", f"127.0.0.1:{cluster.http_port}")
    )
    out = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=os.environ | {"API_KEY": cluster.keys["admin"]},
    ).stdout
    body = json.loads(out)
    assert body["object"] == "chat.completion" and body["usage"]["completion_tokens"] == 8
