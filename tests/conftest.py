"""Fixtures of every test: the example model repository serve_config.yaml names."""

from __future__ import annotations

import pytest

from tests.support.live_cluster import build_models


@pytest.fixture(scope="session", autouse=True)
def model_repository() -> None:
    """serve_config.yaml names example models; its args validate only once they exist."""
    build_models()
