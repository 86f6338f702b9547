"""GET /v1/models: served models with their input/output contract (OpenAI-compatible)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from deployments.ingress.middleware.access import Caller
from deployments.ingress.model_client import ModelClient, Models
from deployments.ingress.openapi import documented
from deployments.ingress.schemas.models import ModelCard, ModelList

router = APIRouter(prefix="/v1/models", tags=["models"])


async def _card(models: ModelClient, name: str) -> ModelCard:
    info = await models.probe(name)
    card = ModelCard(
        id=name,
        created=models.created,
        owned_by=models.owned_by[name],
        kind=models.kinds[name],
        ready=info is not None,
    )
    if info is not None:
        card = card.model_copy(
            update=info.model_dump(include={"dimensions", "device", "dtype"})
            | {"contract": info.contract, "batching": info.batching, "generation": info.generation}
        )
    return card


@router.get("", response_model=ModelList, summary="List the served models the caller may use.")
async def list_models(models: Models, caller: Caller) -> ModelList:
    usable = [name for name in models.models if caller.may_use_model(name)]
    cards = await asyncio.gather(*(_card(models, name) for name in usable))
    return ModelList(data=list(cards))


@router.get(
    "/{model}",
    response_model=ModelCard,
    summary="Describe one served model.",
    responses=documented(403, 404),
)
async def get_model(model: str, models: Models, caller: Caller) -> ModelCard:
    caller.require_model(model)
    models.handle(model)
    return await _card(models, model)
