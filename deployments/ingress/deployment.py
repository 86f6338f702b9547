"""The FastAPI ingress deployment: validates, routes to model deployments, maps errors.

Knows nothing of torch: models are reached only through DeploymentHandles.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from deployments.config import AppArgs
from deployments.ingress import docs_pages, openapi
from deployments.ingress.middleware import errors
from deployments.ingress.middleware.access import AccessMiddleware
from deployments.ingress.middleware.body_limits import BodyLimitsMiddleware
from deployments.ingress.middleware.request_metrics import RequestMetricsMiddleware
from deployments.ingress.model_client import ModelClient
from deployments.ingress.routers import chat, completions, embeddings, health, models, predict, v2
from deployments.security.access_control import AccessControl
from deployments.security.settings import Settings

DESCRIPTION = """OpenAI-compatible embeddings and completions served by Ray Serve.

Every route but the probes needs an API key (`Authorization: Bearer <key>` or
`X-API-Key: <key>`) or an OAuth2 JWT access token (`Authorization: Bearer <token>`).
Every error has the body `{"error": {"message", "type", "param", "code"}}`, but under
`/v2` (the Open Inference Protocol, KServe v2 REST): `{"error": "..."}`, bad input 400."""


def create_app(client: ModelClient, model_routers: Sequence[APIRouter] = ()) -> FastAPI:
    """The ingress's FastAPI app around ``client``; ``model_routers`` add the routes of
    configured models."""
    app = FastAPI(
        title="Ray Serve inference cluster",
        version="0.1.0",
        description=DESCRIPTION,
        swagger_ui_parameters={"persistAuthorization": True},
        # FastAPI's pages load their assets from a CDN; docs_pages serves them itself.
        docs_url=None,
        redoc_url=None,
    )
    docs_pages.install(app)
    app.state.model_client = client  # read by the routes' Models dependency
    app.include_router(embeddings.router)
    app.include_router(models.router)
    for router in model_routers:
        app.include_router(router)
    app.include_router(health.router)
    app.include_router(v2.router)
    # Each middleware wraps the ones added before it, so a request meets them bottom-up:
    # metrics -> errors -> access (401/429, before any body byte is read) -> body limits
    # (415/413, before parsing) -> routes.
    app.add_middleware(BodyLimitsMiddleware, limits=client.limits)
    app.add_middleware(AccessMiddleware, access=client.access)
    errors.install(app)
    # Outermost, so it sees the final status of every request: 401/403/429 included.
    app.add_middleware(RequestMetricsMiddleware)
    openapi.install(app, client.access, client.limits)
    return app


def model_routers(args: AppArgs) -> list[APIRouter]:
    """Routes that exist only for some configured models (typed from their contracts)."""
    found: list[APIRouter] = []
    found += predict.routers(args.predictor_specs(), args.limits.max_inputs_per_request)
    if args.generators:
        found += [completions.router, chat.router]
    return found


# No app at import time: each replica builds its own in __serve_build_asgi_app__, after
# __init__, so the routes (and OpenAPI schemas) of configured models are generated from
# AppArgs and the app holds this replica's ModelClient.
@serve.deployment(max_ongoing_requests=256, ray_actor_options={"num_cpus": 0.25})
@serve.ingress()
class Ingress:
    def __init__(self, args: AppArgs, models: dict[str, DeploymentHandle]) -> None:
        # Settings come from this process's environment, inherited from `ray start`.
        access = AccessControl.build(args, Settings())
        self._args = args
        self._client = ModelClient(args, models, access)

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self._client, model_routers(self._args))
