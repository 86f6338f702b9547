"""Pieces of text generation that need no cluster: stop sequences over streamed deltas,
incremental detokenization with the real tiny GPT-2 tokenizer, request validation, and
the replica's decode loop (the real model, driven without Serve)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import ValidationError

from deployments.config import AppArgs, GeneratorArgs
from deployments.contracts import GenerateRequest, GenerationChunk
from deployments.ingress.schemas.completions import CompletionRequest
from deployments.models.generation.detokenizer import IncrementalDecoder
from deployments.models.generation.stop_sequences import StopMatcher


def run_stops(stops: list[str], deltas: list[str]) -> tuple[str, bool]:
    m = StopMatcher(stops)
    out = "".join(m.feed(d) for d in deltas)
    return out + m.flush(), m.stopped


@pytest.mark.parametrize(
    ("stops", "deltas", "text", "stopped"),
    [
        ([], ["ab", "cd"], "abcd", False),
        (["cd"], ["ab", "cd", "ef"], "ab", True),
        (["cd"], ["abc", "def"], "ab", True),  # the stop spans two deltas
        (["xyz"], ["ab", "x", "y", "q"], "abxyq", False),  # a false start is released
        (["xyz"], ["abx", "y"], "abxy", False),  # held back until the end, then flushed
        (["b", "abc"], ["zab", "c"], "za", True),  # the earliest stop wins
        (["END"], ["E", "N", "D", "more"], "", True),
        (["\n\n"], ["one\n", "\ntwo"], "one", True),
    ],
)
def test_stop_sequences(stops: list[str], deltas: list[str], text: str, stopped: bool) -> None:
    assert run_stops(stops, deltas) == (text, stopped)


def test_stop_matcher_never_emits_a_stop_prefix_early() -> None:
    m = StopMatcher(["abc"])
    assert m.feed("xa") == "x"
    assert m.feed("b") == ""
    assert m.feed("d") == "abd"


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from deployments.examples.tiny_gpt2 import build

    return build(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.mark.parametrize(
    "text", ["hello world", "café naïve", "日本語のテキスト", "emoji 🙂🚀 and more", " lead space"]
)
def test_incremental_decoding_matches_whole_decoding(tiny_gpt2: Path, text: str) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_gpt2, local_files_only=True)
    ids = tok(text)["input_ids"]
    assert len(ids) > 1

    def decode(ids: list[int]) -> str:
        return str(tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False))

    dec = IncrementalDecoder(decode)
    deltas = [dec.add(i) for i in ids] + [dec.flush()]
    assert "".join(deltas) == text
    # Bytes of a character split over tokens are held back, never sent as U+FFFD.
    assert all("\ufffd" not in d for d in deltas)
    if not text.isascii():
        assert "" in deltas[:-1], "expected some token to hold back a partial character"
    # Tokens decoded a chunk at a time (no stop sequences) give the same text, with the
    # same holding back, wherever the chunks split a character.
    for size in (2, 3, 8):
        chunked = IncrementalDecoder(decode)
        parts = [chunked.extend(ids[i : i + size]) for i in range(0, len(ids), size)]
        parts.append(chunked.flush())
        assert "".join(parts) == text and all("\ufffd" not in p for p in parts)


def test_completion_request_validation() -> None:
    ok = CompletionRequest.model_validate(
        {"model": "m", "prompt": ["hi"], "stop": "x", "logprobs": 3, "echo": True}
    )
    assert ok.prompt_text() == "hi" and ok.stops() == ["x"] and ok.n == 1
    for bad in (
        {"prompt": ["a", "b"]},
        {"prompt": [1, 2]},
        {"n": 2},
        {"stop": ["a"] * 5},
        {"stop": ""},
        {"max_tokens": 0},
        {"temperature": -0.1},
        {"top_p": 1.5},
    ):
        with pytest.raises(ValidationError):
            CompletionRequest.model_validate({"model": "m", "prompt": "hi"} | bad)


def test_generators_share_the_model_namespace() -> None:
    args = AppArgs.model_validate(
        {"models": [{"name": "e", "source": "/x"}], "generators": [{"name": "g", "source": "/y"}]}
    )
    assert args.model_kinds() == {"e": "embedding", "g": "generator"}
    with pytest.raises(ValidationError, match="unique"):
        AppArgs.model_validate(
            {
                "models": [{"name": "m", "source": "/x"}],
                "generators": [{"name": "m", "source": "/y"}],
            }
        )
    with pytest.raises(ValidationError, match="default_max_tokens"):
        GeneratorArgs(name="g", source="/y", max_new_tokens_limit=8, default_max_tokens=16)


def test_replica_decode_loop(tiny_gpt2: Path) -> None:
    """TextGenerator's generate() on the real model, outside Serve: chunks, stop, length."""
    from deployments.models.generation.deployment import TextGenerator

    # @serve.deployment wraps the class; func_or_class is the plain class inside.
    gen = cast(Any, TextGenerator).func_or_class(
        GeneratorArgs(name="g", source=str(tiny_gpt2), max_prompt_tokens=64)
    )

    async def collect(**kw: object) -> list[GenerationChunk]:
        params: dict = {"prompt": "The quick brown fox", "max_tokens": 6, "temperature": 0.0}
        params |= {"top_p": 1.0} | kw
        return [c async for c in gen.generate(GenerateRequest(**params))]

    chunks = asyncio.run(collect())
    assert chunks[0].prompt_tokens and chunks[0].text == ""
    assert chunks[-1].finish_reason == "length" and chunks[-1].completion_tokens == 6
    text = "".join(c.text for c in chunks)
    stop = text[5:8]
    stopped = asyncio.run(collect(stop=[stop]))
    assert "".join(c.text for c in stopped) == text[: text.find(stop)]
    assert stopped[-1].finish_reason == "stop"
    # A vanishing temperature is greedy, not a broken distribution (or a broken replica).
    tiny = asyncio.run(collect(temperature=1e-300, seed=1))
    assert "".join(c.text for c in tiny) == text
    # So is a vanishing top_p (found by the fuzzer: it compared as 0 in float32).
    nucleus = asyncio.run(collect(temperature=1.0, top_p=1e-301, seed=1))
    assert "".join(c.text for c in nucleus) == text
    gen.check_health()
    with pytest.raises(Exception, match="prompt has"):
        asyncio.run(collect(prompt="word " * 100))
