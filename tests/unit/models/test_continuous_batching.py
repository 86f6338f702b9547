"""The generator's continuous batching on the real tiny model, outside Serve: sequences
join a running batch and leave it at once, outputs stay a lone request's (and plain
``model.generate``'s), the prefill token budget and the waiting line are honoured."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
import torch

from deployments.config import GeneratorArgs
from deployments.contracts import GenerateRequest, GenerationChunk
from deployments.errors import OverloadedError

PROMPTS = ["The quick brown fox", "Hello", "Once upon a time there was", "Ray Serve is a"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from deployments.examples.tiny_gpt2 import build

    return build(tmp_path_factory.mktemp("tiny-gpt2"))


def replica(source: Path, **args: Any) -> Any:
    from deployments.models.generation.deployment import TextGenerator

    return cast(Any, TextGenerator).func_or_class(
        GeneratorArgs(name="g", source=str(source), max_prompt_tokens=64, **args)
    )


def request(prompt: str, **kw: Any) -> GenerateRequest:
    return GenerateRequest(
        **{"prompt": prompt, "max_tokens": 24, "temperature": 0.0, "top_p": 1.0} | kw
    )


async def text_of(chunks: AsyncIterator[GenerationChunk]) -> tuple[str, str | None, int]:
    parts = [c async for c in chunks]
    return "".join(c.text for c in parts), parts[-1].finish_reason, parts[-1].completion_tokens


def run_together(gen: Any, requests: list[GenerateRequest]) -> list[tuple[str, str | None, int]]:
    async def main() -> list[tuple[str, str | None, int]]:
        return list(await asyncio.gather(*(text_of(gen.generate(r)) for r in requests)))

    return asyncio.run(main())


def record_steps(gen: Any) -> list[tuple[int, int]]:
    """(rows advanced, prompt tokens prefilled) of every step the decoder runs."""
    decoder = gen._batcher.decoder
    steps: list[tuple[int, int]] = []
    step = decoder.step

    def recording(arrivals: list[Any]) -> Any:
        running = sum(not s.done for s in decoder.rows)
        steps.append((running + len(arrivals), sum(len(s.prompt_ids) for s in arrivals)))
        return step(arrivals)

    decoder.step = recording
    return steps


@pytest.mark.parametrize(
    "sampling",
    [
        {"temperature": 0.0},
        {"temperature": 1.0, "seed": 3},
        {"temperature": 0.8, "top_p": 0.9, "seed": 11},
    ],
    ids=["greedy", "seeded", "nucleus"],
)
def test_batched_outputs_equal_lone_and_sequential_ones(tiny: Path, sampling: dict) -> None:
    requests = [
        request(p, **sampling | {"seed": sampling.get("seed", 0) + i})
        for i, p in enumerate(PROMPTS)
    ]
    batched = replica(tiny)
    steps = record_steps(batched)
    together = run_together(batched, requests)
    assert max(rows for rows, _ in steps) == len(PROMPTS), "expected one batch of all"
    alone = [run_together(batched, [r])[0] for r in requests]
    sequential = run_together(replica(tiny, engine="sequential"), requests)
    assert together == alone == sequential


def test_greedy_equals_model_generate(tiny: Path) -> None:
    gen = replica(tiny)
    lm = gen._lm
    results = run_together(gen, [request(p, max_tokens=16) for p in PROMPTS])
    for prompt, (text, _, _) in zip(PROMPTS, results, strict=True):
        ids = lm.encode(prompt)
        with torch.inference_mode():
            out = lm.model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=16)
        new = out[0, len(ids) :].tolist()
        ended = [i for i, t in enumerate(new) if t in lm.eos_ids]
        new = new[: ended[0]] if ended else new
        assert text == lm.decode(new)


def test_join_mid_stream_and_leave_on_cancel(tiny: Path) -> None:
    gen = replica(tiny)
    steps = record_steps(gen)
    long = request(PROMPTS[0], max_tokens=200)
    short = request(PROMPTS[1], max_tokens=10)

    async def main() -> tuple[list[GenerationChunk], tuple[str, str | None, int]]:
        first = gen.generate(long)
        head = [await anext(first) for _ in range(6)]  # the long one runs alone a while
        joined = await text_of(gen.generate(short))  # joins the running batch
        await first.aclose()  # the caller leaves mid-stream
        for _ in range(3):
            await asyncio.sleep(0.05)
        return head, joined

    head, joined = asyncio.run(main())
    assert head[0].prompt_tokens
    assert joined == run_together(gen, [short])[0]
    rows = [r for r, _ in steps]
    assert 2 in rows, "the short request never shared a step with the long one"
    # Cancelled: it left the batch at once, nowhere near its 200 tokens.
    assert len(steps) < 60 and not gen._batcher.running and not gen._batcher.decoder.rows


def test_prefill_budget_and_seq_limit(tiny: Path) -> None:
    from deployments.contracts import GenerationBatching

    gen = replica(tiny)
    prompt_tokens = [len(gen._lm.encode(p)) for p in PROMPTS]
    budget = max(prompt_tokens) + 1
    gen.reconfigure(GenerationBatching(max_num_seqs=3, max_num_batched_tokens=budget).model_dump())
    assert gen.info().generation.max_num_seqs == 3 and gen.info().batching.max_batch_size == 3
    steps = record_steps(gen)
    results = run_together(gen, [request(p, max_tokens=8) for p in PROMPTS * 2])
    assert all(tokens == 8 for _, _, tokens in results)
    assert all(rows <= 3 for rows, _ in steps)
    # A lone prompt may use the whole budget; two together never exceed it.
    assert all(prefill <= budget for _, prefill in steps)
    assert sum(1 for _, prefill in steps if prefill) > 2
    gen.reconfigure({})
    assert gen.info().generation == GeneratorArgs(name="g", source="/x").batching


def test_full_waiting_line_is_overloaded(tiny: Path) -> None:
    from deployments.contracts import GenerationBatching

    gen = replica(tiny, batching=GenerationBatching(max_num_seqs=1, max_waiting_seqs=1))

    async def main() -> None:
        running = gen.generate(request(PROMPTS[0], max_tokens=100))
        await anext(running)
        await anext(running)  # admitted and decoding
        waiting = gen.generate(request(PROMPTS[1]))
        await anext(waiting)  # accepted into the line
        with pytest.raises(OverloadedError, match="max_waiting_seqs 1"):
            await anext(gen.generate(request(PROMPTS[2])))
        await running.aclose()
        assert (await text_of(waiting))[1] == "length"

    asyncio.run(main())


def test_config_checks_the_budgets() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="max_num_batched_tokens"):
        GeneratorArgs(
            name="g", source="/x", max_prompt_tokens=512, batching={"max_num_batched_tokens": 100}
        )
    with pytest.raises(ValidationError, match="max_cache_tokens"):
        GeneratorArgs(name="g", source="/x", batching={"max_cache_tokens": 100})
    with pytest.raises(ValidationError):
        GeneratorArgs(name="g", source="/x", batching={"max_num_seqs": 0})


@pytest.mark.parametrize("engine", ["continuous", "sequential"])
def test_ignore_eos_keeps_generating(tiny: Path, engine: str) -> None:
    gen = replica(tiny, engine=engine)
    lm = gen._lm
    first = lm.model(torch.tensor([lm.encode(PROMPTS[0])])).logits[0, -1].argmax()
    # Make the greedy first token an end of sequence of this model (its real EOS rarely
    # comes first from random weights).
    lm.eos_ids.add(int(first))
    assert run_together(gen, [request(PROMPTS[0], max_tokens=8)])[0][1:] == ("stop", 1)
    kept = run_together(gen, [request(PROMPTS[0], max_tokens=8, ignore_eos=True)])[0]
    assert kept[1:] == ("length", 8)


def test_a_slow_reader_gets_the_queued_tokens_in_one_chunk(tiny: Path) -> None:
    """Tokens that queue while the stream is not read travel in one chunk (one Ray
    message instead of one per token), with the same text, count and logprobs; a stop
    sequence still cuts the text where a token-by-token reader would."""
    gen = replica(tiny)
    slow = request(PROMPTS[2], max_tokens=20, logprobs=1)

    async def read(pause_after: int, req: GenerateRequest = slow) -> list[GenerationChunk]:
        chunks = []
        async for chunk in gen.generate(req):
            chunks.append(chunk)
            if len(chunks) == pause_after:
                await asyncio.sleep(0.3)  # the engine keeps stepping meanwhile
        return chunks

    eager = asyncio.run(read(pause_after=10_000))
    lagging = asyncio.run(read(pause_after=2))
    assert len(lagging) < len(eager), "nothing was coalesced"
    assert max(len(c.logprobs) for c in lagging) > 1
    for chunks in (eager, lagging):
        assert "".join(c.text for c in chunks) == "".join(c.text for c in eager)
        assert chunks[-1].completion_tokens == 20 and chunks[-1].finish_reason == "length"
        assert [lp for c in chunks for lp in c.logprobs] == [lp for c in eager for lp in c.logprobs]

    text = "".join(c.text for c in eager)
    stop = text[len(text) // 2 : len(text) // 2 + 3]
    cut = asyncio.run(read(1, request(PROMPTS[2], max_tokens=20, stop=[stop])))
    assert "".join(c.text for c in cut) == text[: text.index(stop)]
    assert cut[-1].finish_reason == "stop"


def test_stream_interval_sends_tokens_in_groups(tiny: Path) -> None:
    """``stream_interval`` (user_config, applied live): the first token goes alone, then
    chunks of at least that many tokens, the last with whatever is left; same text."""
    gen = replica(tiny)
    req = request(PROMPTS[0], max_tokens=21)

    async def chunks() -> list[GenerationChunk]:
        return [c async for c in gen.generate(req)][1:]  # past the prompt_tokens chunk

    one = asyncio.run(chunks())
    gen.reconfigure({"stream_interval": 5})
    five = asyncio.run(chunks())
    counts = [c.completion_tokens for c in five]
    assert counts[0] == 1 and counts[-1] == 21
    assert all(b - a >= 5 for a, b in itertools.pairwise(counts[:-1])), counts
    assert len(five) <= 2 + 20 // 5 < len(one)
    assert "".join(c.text for c in five) == "".join(c.text for c in one)
    with pytest.raises(ValueError, match="stream_interval"):
        gen.reconfigure({"stream_interval": 0})
