"""What one request carries through the ingress, in one typed place.

The outermost middleware creates it (``start``) when a request arrives; the others and the
routes fill it in: access control the principal, a model route the model it serves, the
error handlers the error code; request metrics and Server-Timing read it at the end.
It lives in the ASGI scope's ``state`` under one key, so it travels with the request
through every middleware and into FastAPI's ``Request``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.types import Scope

from deployments.contracts import ModelKind
from deployments.security.principal import Principal

_KEY = "rsic_context"


@dataclass(slots=True)
class RequestContext:
    received_at: float = field(default_factory=time.perf_counter)
    principal: Principal | None = None
    model: str | None = None
    kind: ModelKind | None = None
    error_code: str | None = None
    # The Open Inference Protocol's binary tensor data, after the JSON header of its body
    # (split off by middleware/body_limits.py; read by routers/v2.py).
    binary_tensors: bytes = b""

    def serve_model(self, model: str, kind: ModelKind) -> None:
        """Label this request with a model; call only once the model is known to be served,
        so metric labels stay bounded by the configured models."""
        self.model = model
        self.kind = kind


def start(scope: Scope) -> RequestContext:
    """A fresh context for a request that just arrived (the outermost middleware)."""
    context = RequestContext()
    scope.setdefault("state", {})[_KEY] = context
    return context


def context_of(scope: Scope) -> RequestContext:
    """The request's context; one is started if no middleware did (an app under test)."""
    found: RequestContext | None = scope.get("state", {}).get(_KEY)
    return found if found is not None else start(scope)
