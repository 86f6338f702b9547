"""Counts every metered request by model and final status, whatever path it took."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployments.metrics import UNKNOWN_MODEL, ingress_metrics
from deployments.route_path import route_path

# Routes whose requests carry a `model`; probes and docs are not worth a series each.
METERED_PATHS = frozenset({"/v1/embeddings"})
# nginx's "client closed request": the client left before an answer (Serve cancelled us).
CLIENT_CLOSED_REQUEST = 499


def note_model(state: dict[str, Any], model: str) -> None:
    """Label this request with a model id; call only once the id is known to be served."""
    state["model"] = model


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) not in METERED_PATHS:
            await self.app(scope, receive, send)
            return
        status = 500

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
