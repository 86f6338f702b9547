"""The FastAPI ingress deployment: validates, routes to model deployments, maps errors.

Knows nothing of torch: models are reached only through DeploymentHandles.
"""

from __future__ import annotations

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from deployments import http_errors
from deployments.config import AppArgs
from deployments.limits import BodySizeLimitMiddleware
from deployments.request_metrics import RequestMetricsMiddleware
from deployments.routers import embeddings, health, models
from deployments.state import ServingState, max_request_bytes, set_state

DESCRIPTION = """OpenAI-compatible embeddings served by Ray Serve.

Every error has the body `{"error": {"message", "type", "param", "code"}}`."""


def create_app() -> FastAPI:
    app = FastAPI(title="Ray Serve inference cluster", version="0.1.0", description=DESCRIPTION)
    app.include_router(embeddings.router)
    app.include_router(models.router)
    app.include_router(health.router)
    # Added first so it runs inside the error middleware, which turns its 413 into JSON.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes_getter=max_request_bytes)
    http_errors.install(app)
    # Outermost, so it sees the final status of every request, errors included.
    app.add_middleware(RequestMetricsMiddleware)
    return app


app = create_app()


@serve.deployment(max_ongoing_requests=256, ray_actor_options={"num_cpus": 0.25})
@serve.ingress(app)
class Ingress:
    def __init__(self, args: AppArgs, models: dict[str, DeploymentHandle]) -> None:
        set_state(ServingState(args, models))
