"""Outermost middleware: starts every request's context, and counts each request to a model
route by model, kind and final status, whatever path it took (401/403/429 included)."""

from __future__ import annotations

import asyncio
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployments.ingress import request_context
from deployments.ingress.route_path import route_path
from deployments.metrics import UNKNOWN_MODEL, request_metrics

# Routes whose requests carry a `model`; probes and docs are not worth a series each.
METERED_PATHS = frozenset({"/v1/embeddings", "/v1/completions", "/v1/chat/completions"})
# POST /v1/models/<name>/predict and the Open Inference Protocol's
# POST /v2/models/<name>/infer: one route per model, but the label is the model id (only
# once it is known to be served), so the series stay bounded.
METERED_PATH_PATTERNS = (
    re.compile(r"^/v1/models/[^/]+/predict$"),
    re.compile(r"^/v2/models/[^/]+/infer$"),
)
# nginx's "client closed request": the client left before an answer (Serve cancelled us).
CLIENT_CLOSED_REQUEST = 499


def is_metered(path: str) -> bool:
    return path in METERED_PATHS or any(p.match(path) for p in METERED_PATH_PATTERNS)


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = request_context.start(scope)
        if not is_metered(route_path(scope)):
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            # A streamed completion returns from here once its last event is sent.
            await self.app(scope, receive, send_and_watch)
        except asyncio.CancelledError:
            status = CLIENT_CLOSED_REQUEST  # not a server error: nobody got an answer
            raise
        finally:
            request_metrics().record(
                context.model or UNKNOWN_MODEL,
                context.kind or UNKNOWN_MODEL,
                status,
                context.error_code,
            )
