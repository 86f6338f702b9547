"""Liveness and readiness probes (no authentication, no model work)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from deployments.schemas import Health, Readiness
from deployments.state import State

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
async def readyz(state: State) -> JSONResponse:
    names = list(state.models)
    infos = await asyncio.gather(*(state.probe(name) for name in names))
    models: dict[str, Literal["ready", "unavailable"]] = {
        n: ("ready" if i is not None else "unavailable") for n, i in zip(names, infos, strict=True)
    }
    ready = all(i is not None for i in infos)
    body = Readiness(status="ready" if ready else "not_ready", models=models)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
