"""Continuous batching on the live cluster: concurrent streams share decode steps (the
decode batch size histogram shows it), outputs equal a lone request's, the knobs are in
GET /v1/models, and a client that leaves frees its slot (running sequences fall back)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support.generation import completion, settled, wait_for
from tests.support.live_cluster import GENERATOR, LiveCluster
from tests.support.scrape import total

GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": 48, "ignore_eos": True}
PROMPTS = ["The quick brown fox", "Hello", "Once upon a time", "Ray Serve is"]


def test_knobs_are_listed(client: httpx.Client) -> None:
    card = client.get(f"/v1/models/{GENERATOR}").json()
    assert card["generation"] == {
        "max_num_seqs": 32,
        "max_num_batched_tokens": 2048,
        "max_cache_tokens": 65536,
        "max_waiting_seqs": 64,
        "stream_interval": 8,
    }
    assert card["batching"]["max_batch_size"] == 32


def test_concurrent_streams_share_steps_and_keep_their_outputs(
    cluster: LiveCluster, client: httpx.Client
) -> None:
    alone = {
        p: completion(client, prompt=p, **GREEDY).json()["choices"][0]["text"] for p in PROMPTS
    }
    before = settled(cluster, quiet_s=6)

    async def together() -> list[str]:
        async with httpx.AsyncClient(
            base_url=cluster.base_url, headers=cluster.auth_headers(), timeout=60
        ) as c:
            bodies = [{"model": GENERATOR, "prompt": p, **GREEDY} for p in PROMPTS * 2]
            answers = await asyncio.gather(*(c.post("/v1/completions", json=b) for b in bodies))
            return [a.json()["choices"][0]["text"] for a in answers]

    texts = asyncio.run(together())
    assert texts == [alone[p] for p in PROMPTS * 2]

    def shared_steps(s: dict) -> float:
        # Sequences advanced minus steps taken since `before`: above 0 when some step
        # advanced more than one sequence.
        name = "ray_generation_decode_batch_size"
        d = {
            part: total(s, f"{name}_{part}", model=GENERATOR)
            - total(before, f"{name}_{part}", model=GENERATOR)
            for part in ("sum", "count")
        }
        return d["sum"] - d["count"]

    after = wait_for(cluster, lambda s: shared_steps(s) > 0)
    assert shared_steps(after) > 0


def test_a_client_that_leaves_frees_its_slot(cluster: LiveCluster) -> None:
    payload = {"model": GENERATOR, "prompt": "The quick brown fox", "stream": True}
    payload |= {"temperature": 0, "max_tokens": 1000, "ignore_eos": True}
    client = httpx.Client(base_url=cluster.base_url, headers=cluster.auth_headers(), timeout=60)
    with client, client.stream("POST", "/v1/completions", json=payload) as r:
        assert r.status_code == 200
        for i, _ in enumerate(r.iter_lines()):
            if i == 6:
                break
    after = wait_for(
        cluster,
        lambda s: (
            total(s, "ray_generation_running_sequences", model=GENERATOR) == 0
            and total(s, "ray_generation_cancelled_total", model=GENERATOR) >= 1
        ),
    )
    assert total(after, "ray_generation_waiting_sequences", model=GENERATOR) == 0
