"""Live-cluster fixtures: one real Ray cluster per test session, started only if a test
needs it, shared by every integration test."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.support.live_cluster import LiveCluster, start_cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCluster]:
    started = time.monotonic()
    live = start_cluster(tmp_path_factory.mktemp("cluster"))
    print(f"\nlive cluster ready in {time.monotonic() - started:.1f} s at {live.base_url}")
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="session")
def base_url(cluster: LiveCluster) -> str:
    return cluster.base_url


@pytest.fixture(scope="session")
def tight_url(cluster: LiveCluster) -> str:
    return cluster.tight_url


@pytest.fixture
def client(cluster: LiveCluster) -> Iterator[httpx.Client]:
    """The main app, as the holder of the test cluster's admin API key."""
    with httpx.Client(base_url=cluster.base_url, headers=cluster.auth_headers(), timeout=60) as c:
        yield c


@pytest.fixture
def anonymous(base_url: str) -> Iterator[httpx.Client]:
    """The main app, without credentials."""
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c


@pytest.fixture
def oai(cluster: LiveCluster) -> Iterator[openai.OpenAI]:
    """The official OpenAI client on the main app's /v1, as the admin key's holder."""
    with openai.OpenAI(
        base_url=cluster.base_url + "/v1", api_key=cluster.keys["admin"], max_retries=0
    ) as client:
        yield client
