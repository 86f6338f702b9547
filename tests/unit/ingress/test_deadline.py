"""The per-request deadline: the client's X-Request-Timeout-Ms, capped by the config."""

from __future__ import annotations

import asyncio
import time

import pytest

from deployments.config import AppArgs
from deployments.ingress.deadline import Deadline, request_deadline
from deployments.ingress.model_client import ModelClient
from deployments.security.access_control import AccessControl
from deployments.security.settings import Settings


@pytest.fixture
def state() -> ModelClient:
    args = AppArgs.model_validate(
        {
            "models": [{"name": "m", "source": "/unused"}],
            "limits": {"max_deadline_s": 2.5},
            "auth": {"enabled": False},
        }
    )
    return ModelClient(args, {}, AccessControl.build(args, Settings()))


def test_the_client_picks_a_shorter_deadline(state: ModelClient) -> None:
    assert asyncio.run(request_deadline(state, 300)).budget_s == 0.3


def test_no_header_or_a_longer_one_gets_the_cap(state: ModelClient) -> None:
    assert asyncio.run(request_deadline(state, None)).budget_s == 2.5
    assert asyncio.run(request_deadline(state, 10**400)).budget_s == 2.5  # no float overflow


def test_remaining_time_counts_down() -> None:
    deadline = Deadline(0.2)
    first = deadline.remaining_s()
    time.sleep(0.05)
    assert 0 < deadline.remaining_s() < first <= 0.2
