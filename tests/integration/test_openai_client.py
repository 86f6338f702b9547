"""The official `openai` client works unchanged against the cluster (base_url=<cluster>/v1)."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import openai
import pytest

from tests.support.live_cluster import GENERATOR, MODEL, LiveCluster


def test_embeddings_default_base64_and_float(oai: openai.OpenAI, client: httpx.Client) -> None:
    texts = ["hello world", "Grüße, 東京 🚀"]
    # The client asks for base64 by default and decodes the float32 bytes itself.
    result = oai.embeddings.create(model=MODEL, input=texts)
    assert result.model == MODEL and len(result.data) == 2
    assert result.usage.prompt_tokens > 0
    vectors = np.array([d.embedding for d in result.data])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    raw = client.post("/v1/embeddings", json={"model": MODEL, "input": texts}).json()
    expected = np.array([d["embedding"] for d in raw["data"]])
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    floats = oai.embeddings.create(model=MODEL, input=texts[0], encoding_format="float")
    np.testing.assert_allclose(floats.data[0].embedding, expected[0], atol=1e-6)


def test_models_list(oai: openai.OpenAI) -> None:
    ids = {m.id for m in oai.models.list()}
    assert {MODEL, GENERATOR} <= ids
    assert oai.models.retrieve(GENERATOR).id == GENERATOR


def test_completion_non_stream(oai: openai.OpenAI) -> None:
    result = oai.completions.create(model=GENERATOR, prompt="Hello", max_tokens=5, temperature=0)
    assert result.object == "text_completion" and result.model == GENERATOR
    (choice,) = result.choices
    assert choice.finish_reason == "length" and choice.text
    assert result.usage is not None and result.usage.completion_tokens == 5


def test_completion_stream_matches_non_stream(oai: openai.OpenAI) -> None:
    def create(stream: bool, **extra: Any) -> Any:
        return oai.completions.create(
            model=GENERATOR,
            prompt="Once upon a time",
            max_tokens=12,
            temperature=1.0,
            seed=3,
            stream=stream,
            **extra,
        )

    whole = create(False).choices[0]
    chunks = list(create(True))
    assert len(chunks) >= 2
    assert "".join(c.choices[0].text for c in chunks) == whole.text
    assert chunks[-1].choices[0].finish_reason == whole.finish_reason == "length"
    with_usage = list(create(True, stream_options={"include_usage": True}))
    usage = with_usage[-1].usage
    assert with_usage[-1].choices == [] and usage is not None
    assert usage.completion_tokens == 12
    assert usage.total_tokens == usage.prompt_tokens + 12


def test_stop_sequence(oai: openai.OpenAI) -> None:
    text = (
        oai.completions.create(model=GENERATOR, prompt="Hello world", max_tokens=8, temperature=0)
        .choices[0]
        .text
    )
    stop = text[3:6]
    result = oai.completions.create(
        model=GENERATOR, prompt="Hello world", max_tokens=8, temperature=0, stop=[stop]
    )
    assert result.choices[0].text == text[: text.find(stop)]
    assert result.choices[0].finish_reason == "stop"


def test_errors_are_typed(oai: openai.OpenAI, cluster: LiveCluster) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.completions.create(model="no-such-model", prompt="hi")
    with pytest.raises(openai.NotFoundError):
        oai.embeddings.create(model=GENERATOR, input="hi")
    with pytest.raises(openai.UnprocessableEntityError):
        oai.completions.create(model=GENERATOR, prompt="hi", n=2)
    bad = openai.OpenAI(base_url=cluster.base_url + "/v1", api_key="rsk_wrong", max_retries=0)
    with bad, pytest.raises(openai.AuthenticationError):
        bad.completions.create(model=GENERATOR, prompt="hi")


def test_error_mid_stream_raises(oai: openai.OpenAI) -> None:
    # A deadline that passes mid-stream ends it with an error event, which the client raises.
    stream = oai.completions.create(
        model=GENERATOR,
        prompt="The quick brown fox",  # a visible word per token
        max_tokens=1000,
        temperature=0,
        stream=True,
        # Well inside the ~1 s that 1000 tokens of the tiny model take on an idle box
        # (1500 ms let the stream finish first), well past its first token (~tens of ms).
        extra_headers={"X-Request-Timeout-Ms": "400"},
    )
    received = 0
    with pytest.raises(openai.APIError, match="deadline"):
        for _ in stream:
            received += 1
    assert received > 0
