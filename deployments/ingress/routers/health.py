"""Liveness and readiness probes (no authentication, no model work)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from deployments.ingress.model_client import Models
from deployments.ingress.schemas.health import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness: the ingress is up.")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: every model deployment answered.",
    responses={503: {"model": Readiness, "description": "A model did not answer."}},
)
async def readyz(models: Models) -> JSONResponse:
    names = list(models.models)
    infos = await asyncio.gather(*(models.probe(name) for name in names))
    states: dict[str, Literal["ready", "unavailable"]] = {
        n: ("ready" if i is not None else "unavailable") for n, i in zip(names, infos, strict=True)
    }
    ready = all(i is not None for i in infos)
    body = Readiness(status="ready" if ready else "not_ready", models=states)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
