"""Access control as ASGI middleware, ahead of body parsing: an unauthenticated or
throttled client costs a header lookup, never a body read or a JSON parse.

The decisions are ``security.access_control``'s; this module only feeds it the request's
headers and hands the admitted caller to the routes (``Caller``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from deployments.errors import MissingCredentialsError
from deployments.ingress.request_context import context_of
from deployments.ingress.route_path import route_path
from deployments.security.access_control import API_KEY_HEADER, PROBE_PATHS, AccessControl
from deployments.security.principal import Principal


class AccessMiddleware:
    def __init__(self, app: ASGIApp, access: AccessControl) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope) if scope["type"] == "http" else ""
        if scope["type"] != "http" or path in PROBE_PATHS:
            await self.app(scope, receive, send)
            return
        if not self.access.is_public(path):
            client = scope.get("client")
            headers = Headers(scope=scope)
            context_of(scope).principal = self.access.admit(
                headers.get("authorization"),
                headers.get(API_KEY_HEADER),
                client[0] if client else "unknown",
            )
        await self.app(scope, receive, send)


# Dependencies are `async def` on purpose: FastAPI runs a plain `def` one in a worker
# thread, a thread hop per dependency per request that profiling showed costing ~10% of the
# ingress's CPU.
async def caller(request: Request) -> Principal:
    principal = context_of(request.scope).principal
    if principal is None:  # a public path: no route there may depend on Caller
        raise MissingCredentialsError("this route needs credentials")
    return principal


# The caller AccessMiddleware admitted; only routes it protects may depend on this.
Caller = Annotated[Principal, Depends(caller)]
