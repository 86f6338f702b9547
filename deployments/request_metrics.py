"""Counts every metered request by model and final status, whatever path it took."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployments.metrics import UNKNOWN_MODEL, ingress_metrics
from deployments.route_path import route_path
from deployments.server_timing import mark_received

# Routes whose requests carry a `model`; probes and docs are not worth a series each.
METERED_PATHS = frozenset({"/v1/embeddings"})
# POST /v1/models/<name>/predict: one route per model, but the label is the model id
# (only once it is known to be served), so the series stay bounded.
METERED_PATH_PATTERNS = (re.compile(r"^/v1/models/[^/]+/predict$"),)
# nginx's "client closed request": the client left before an answer (Serve cancelled us).
CLIENT_CLOSED_REQUEST = 499


def note_model(state: dict[str, Any], model: str) -> None:
    """Label this request with a model id; call only once the id is known to be served."""
    state["model"] = model


def is_metered(path: str) -> bool:
    return path in METERED_PATHS or any(p.match(path) for p in METERED_PATH_PATTERNS)


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_metered(route_path(scope)):
            await self.app(scope, receive, send)
            return
        status = 500
        mark_received(scope.setdefault("state", {}))

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except asyncio.CancelledError:
            status = CLIENT_CLOSED_REQUEST  # not a server error: nobody got an answer
            raise
        finally:
            state = scope.get("state") or {}
            ingress_metrics().record(
                state.get("model", UNKNOWN_MODEL), status, state.get("error_code")
            )
