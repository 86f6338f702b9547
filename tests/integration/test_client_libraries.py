"""OpenAI-compatible client libraries we don't write, unchanged, against the live
cluster's /v1: LangChain's ``OpenAIEmbeddings`` (langchain-openai), LlamaIndex's
``OpenAIEmbedding`` (llama-index-embeddings-openai) and ``litellm`` (embedding and text
completion). Each must work offline: nothing here may fetch a tokenizer or a price list.

- LangChain counts tokens with tiktoken, whose BPE files it downloads on first use; with
  ``check_embedding_ctx_length=False`` it sends the texts as they are (and no tokenizer
  is loaded).
- litellm fetches its model price map at import unless ``LITELLM_LOCAL_MODEL_COST_MAP``
  is set (then it reads the copy it ships); its token counting uses the tiktoken files it
  ships too.

Each test skips, saying why, without its package (the dev extra installs them).
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.live_cluster import GENERATOR, MODEL, LiveCluster

TEXTS = ["hello world", "Grüße aus Köln"]


def reference(client: httpx.Client, texts: list[str]) -> np.ndarray:
    body = client.post("/v1/embeddings", json={"model": MODEL, "input": texts}).json()
    return np.asarray([d["embedding"] for d in body["data"]], dtype=np.float32)


def test_langchain_openai_embeddings(cluster: LiveCluster, client: httpx.Client) -> None:
    langchain_openai = pytest.importorskip(
        "langchain_openai", reason="langchain-openai is not installed (dev extra)"
    )
    embeddings = langchain_openai.OpenAIEmbeddings(
        model=MODEL,
        base_url=cluster.base_url + "/v1",
        api_key=cluster.keys["admin"],
        check_embedding_ctx_length=False,  # else tiktoken downloads its BPE files
        max_retries=0,
    )
    vectors = np.asarray(embeddings.embed_documents(TEXTS), dtype=np.float32)
    np.testing.assert_allclose(vectors, reference(client, TEXTS), atol=1e-5)
    query = np.asarray(embeddings.embed_query(TEXTS[0]), dtype=np.float32)
    np.testing.assert_allclose(query, vectors[0], atol=1e-5)


def test_llama_index_openai_embedding(cluster: LiveCluster, client: httpx.Client) -> None:
    module = pytest.importorskip(
        "llama_index.embeddings.openai",
        reason="llama-index-embeddings-openai is not installed (dev extra)",
    )
    # model_name: any served id (`model` must be one of OpenAI's own names).
    embedding = module.OpenAIEmbedding(
        model_name=MODEL,
        api_base=cluster.base_url + "/v1",
        api_key=cluster.keys["admin"],
        max_retries=0,
    )
    vectors = np.asarray(embedding.get_text_embedding_batch(TEXTS), dtype=np.float32)
    np.testing.assert_allclose(vectors, reference(client, TEXTS), atol=1e-5)
    query = np.asarray(embedding.get_query_embedding(TEXTS[1]), dtype=np.float32)
    np.testing.assert_allclose(query, vectors[1], atol=1e-5)


@pytest.fixture
def litellm(monkeypatch: pytest.MonkeyPatch) -> Any:
    # Read before import: the price map it ships instead of one fetched from GitHub.
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return pytest.importorskip("litellm", reason="litellm is not installed (dev extra)")


def test_litellm_embedding(litellm: Any, cluster: LiveCluster, client: httpx.Client) -> None:
    answer = litellm.embedding(
        model=f"openai/{MODEL}",
        input=TEXTS,
        api_base=cluster.base_url + "/v1",
        api_key=cluster.keys["admin"],
    )
    vectors = np.asarray([d["embedding"] for d in answer.data], dtype=np.float32)
    np.testing.assert_allclose(vectors, reference(client, TEXTS), atol=1e-5)


def test_litellm_text_completion(litellm: Any, cluster: LiveCluster) -> None:
    answer = litellm.text_completion(
        model=f"text-completion-openai/{GENERATOR}",
        prompt="Once upon a time",
        max_tokens=4,
        temperature=0,
        api_base=cluster.base_url + "/v1",
        api_key=cluster.keys["admin"],
    )
    (choice,) = answer.choices
    assert choice.text and choice.finish_reason == "length"
    assert answer.usage.completion_tokens == 4
