"""The generator replica's chat side, on the real tiny chat model without Serve: messages
rendered with the model's own chat template, a template-less model refused at load, and
log-probabilities that are the model's own."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any, cast

import pytest
import torch

from deployments.config import GeneratorArgs
from deployments.contracts import ChatMessage, GenerateRequest, GenerationChunk

MESSAGES = [
    ChatMessage(role="system", content="You are terse."),
    ChatMessage(role="user", content="Say hello"),
]


@pytest.fixture(scope="module")
def tiny_chat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from deployments.examples.tiny_gpt2 import build

    return build(tmp_path_factory.mktemp("tiny-chat"))


def replica(source: Path, **args: Any) -> Any:
    from deployments.models.generation.deployment import TextGenerator

    return cast(Any, TextGenerator).func_or_class(
        GeneratorArgs(name="g", source=str(source), max_prompt_tokens=64, **args)
    )


def collect(gen: Any, **kw: Any) -> list[GenerationChunk]:
    params: dict[str, Any] = {"max_tokens": 8, "temperature": 0.0, "top_p": 1.0} | kw

    async def run() -> list[GenerationChunk]:
        return [c async for c in gen.generate(GenerateRequest(**params))]

    return asyncio.run(run())


def test_messages_render_with_the_models_template(tiny_chat: Path) -> None:
    from transformers import AutoTokenizer

    gen = replica(tiny_chat)
    tok = AutoTokenizer.from_pretrained(tiny_chat, local_files_only=True)
    text = str(
        tok.apply_chat_template(
            [m.model_dump() for m in MESSAGES], add_generation_prompt=True, tokenize=False
        )
    )
    assert text.endswith("<|im_start|>assistant\n")
    ids = gen._lm.render(MESSAGES)
    assert ids == tok(text, add_special_tokens=False)["input_ids"]
    assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>")
    # The chat answer is the completion of the rendered text, token for token.
    chat = collect(gen, messages=MESSAGES)
    plain = collect(gen, prompt=text)
    assert chat[0].prompt_tokens == len(ids)
    assert "".join(c.text for c in chat) == "".join(c.text for c in plain)
    # The end of a turn is an end of sequence too.
    assert tok.convert_tokens_to_ids("<|im_end|>") in gen._lm.eos_ids


def test_a_model_without_a_chat_template_is_refused_for_chat(
    tiny_chat: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(tiny_chat, bare)
    (bare / "chat_template.jinja").unlink()
    with pytest.raises(ValueError, match=r"no chat template.*chat: false"):
        replica(bare)
    # Completions only: it loads, and still completes.
    chunks = collect(replica(bare, chat=False), prompt="Hello", max_tokens=3)
    assert chunks[-1].completion_tokens == 3


def test_logprobs_are_the_models_own(tiny_chat: Path) -> None:
    gen = replica(tiny_chat)
    lm = gen._lm
    chunks = collect(gen, prompt="The quick brown fox", max_tokens=6, logprobs=3)
    tokens = [t for c in chunks for t in c.logprobs]
    assert len(tokens) == chunks[-1].completion_tokens == 6
    # Greedy, so the answer is plain generate()'s; recompute every position from it.
    prompt_ids = lm.encode("The quick brown fox")
    with torch.inference_mode():
        out = lm.model.generate(
            torch.tensor([prompt_ids]), do_sample=False, max_new_tokens=6, min_new_tokens=6
        )
    flat = out[0, len(prompt_ids) :].tolist()
    assert [lm.decode([i]) for i in flat] == [t.token for t in tokens]
    with torch.inference_mode():
        logits = lm.model(input_ids=torch.tensor([prompt_ids + flat])).logits[0].float()
    expected = torch.log_softmax(logits[len(prompt_ids) - 1 : -1], dim=-1)
    for pos, (t, token_id) in enumerate(zip(tokens, flat, strict=True)):
        assert t.logprob == pytest.approx(float(expected[pos, token_id]), abs=1e-4)
        assert len(t.top) == 3
        # Greedy: the chosen token is the likeliest, so it heads its own alternatives.
        assert t.top[0][1] == pytest.approx(t.logprob, abs=1e-6)
        assert [lp for _, lp in t.top] == sorted((lp for _, lp in t.top), reverse=True)
    # Asked for none: none computed.
    assert all(not c.logprobs for c in collect(gen, prompt="The quick brown fox"))
    assert collect(gen, prompt="x", max_tokens=2, logprobs=0)[-1].logprobs[-1].top == []


def test_a_template_that_refuses_the_messages_is_a_bad_input(tiny_chat: Path) -> None:
    from deployments.errors import InvalidInputError

    gen = replica(tiny_chat)
    # Real chat templates raise on conversations they do not accept (as Llama's does).
    gen._lm.tokenizer.chat_template = "{{ raise_exception('roles must alternate') }}"
    with pytest.raises(InvalidInputError, match="roles must alternate"):
        collect(gen, messages=MESSAGES)
