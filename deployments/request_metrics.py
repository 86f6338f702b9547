"""Counts every metered request by model and final status, whatever path it took."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployments.metrics import UNKNOWN_MODEL, ingress_metrics

# Routes whose requests carry a `model`; probes and docs are not worth a series each.
METERED_PATHS = frozenset({"/v1/embeddings"})


def note_model(state: dict[str, Any], model: str) -> None:
    """Label this request with a model id; call only once the id is known to be served."""
    state["model"] = model


def _route_path(scope: Scope) -> str:
    # Under a route_prefix, Serve passes the full path with the prefix as root_path.
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _route_path(scope) not in METERED_PATHS:
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
        finally:
            state = scope.get("state") or {}
            ingress_metrics().record(
                state.get("model", UNKNOWN_MODEL), status, state.get("error_code")
            )
