"""Who may reach which route: authentication and rate limits, before the body is read.

Deny by default: every path needs credentials unless it is listed public here, so a route
added later is protected without anyone remembering to protect it. The check runs as ASGI
middleware, ahead of body parsing, so an unauthenticated or throttled client costs a header
lookup, never a body read or a JSON parse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from deployments.auth import Authenticator
from deployments.config import AppArgs, AuthConfig
from deployments.principal import Principal
from deployments.rate_limit import RateLimiter
from deployments.route_path import route_path
from deployments.settings import Settings

PROBE_PATHS = frozenset({"/healthz", "/readyz"})
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
API_KEY_HEADER = "X-API-Key"
_PRINCIPAL = "principal"


class AccessControl:
    def __init__(
        self, auth: AuthConfig, authenticator: Authenticator | None, limiter: RateLimiter
    ) -> None:
        self.auth = auth
        self.authenticator = authenticator
        self.limiter = limiter

    @classmethod
    def build(cls, args: AppArgs, settings: Settings) -> AccessControl:
        authenticator = Authenticator.from_settings(settings) if args.auth.enabled else None
        return cls(args.auth, authenticator, RateLimiter(args.rate_limits))

    @property
    def requires_credentials(self) -> bool:
        return self.authenticator is not None

    def is_public(self, path: str) -> bool:
        if path in PROBE_PATHS:
            return True
        if path in DOCS_PATHS:
            return self.auth.public_docs or not self.requires_credentials
        return False

    def admit(self, headers: Headers, client_address: str) -> Principal:
        """The caller, authenticated (401 otherwise) and within its rate limit (429 otherwise)."""
        if self.authenticator is None:
            principal = Principal.anonymous(client_address)
        else:
            principal = self.authenticator.authenticate(
                headers.get("authorization"), headers.get(API_KEY_HEADER)
            )
        self.limiter.check(principal)
        return principal


class AccessMiddleware:
    def __init__(self, app: ASGIApp, access: Callable[[], AccessControl]) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope) if scope["type"] == "http" else ""
        # Probes answer even before the replica's state exists.
        if scope["type"] != "http" or path in PROBE_PATHS:
            await self.app(scope, receive, send)
            return
        access = self.access()
        if not access.is_public(path):
            client = scope.get("client")
            principal = access.admit(Headers(scope=scope), client[0] if client else "unknown")
            scope.setdefault("state", {})[_PRINCIPAL] = principal
        await self.app(scope, receive, send)


# Dependencies are `async def` on purpose: FastAPI runs a plain `def` one in a worker
# thread, a thread hop per dependency per request that profiling showed costing ~10% of the
# ingress's CPU.
async def caller(request: Request) -> Principal:
    principal: Principal = request.scope["state"][_PRINCIPAL]
    return principal


# The caller AccessMiddleware admitted; only routes it protects may depend on this.
Caller = Annotated[Principal, Depends(caller)]
