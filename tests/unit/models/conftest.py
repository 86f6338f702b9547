"""Fixtures for model deployment classes instantiated directly, outside any replica."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from ray import serve


@pytest.fixture
def replica_context(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """A stand-in for the one thing ``@serve.batch`` reads from its replica's context.

    Ray's batch queue checks ``max_ongoing_requests`` whenever it is created or resized,
    and the queue lives on the decorated method (one per process, as in a replica), so
    every test that touches it after the first one also needs this.
    """
    context = SimpleNamespace(_deployment_config=SimpleNamespace(max_ongoing_requests=256))
    monkeypatch.setattr(serve, "get_replica_context", lambda: context)
    yield context
