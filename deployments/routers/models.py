"""GET /v1/models: served models with their input/output contract (OpenAI-compatible)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from deployments.access import Caller
from deployments.http_errors import documented
from deployments.schemas import ModelCard, ModelList
from deployments.state import ServingState, State

router = APIRouter(prefix="/v1/models", tags=["models"])


async def _card(state: ServingState, name: str) -> ModelCard:
    info = await state.probe(name)
    card = ModelCard(
        id=name,
        created=state.created,
        owned_by=state.owned_by[name],
        kind=state.kinds[name],
        ready=info is not None,
    )
    if info is not None:
        card = card.model_copy(
            update=info.model_dump(include={"dimensions", "device", "dtype"})
            | {"contract": info.contract, "batching": info.batching}
        )
    return card


@router.get("", response_model=ModelList, summary="List the served models the caller may use.")
async def list_models(state: State, caller: Caller) -> ModelList:
    usable = [name for name in state.models if caller.may_use_model(name)]
    cards = await asyncio.gather(*(_card(state, name) for name in usable))
    return ModelList(data=list(cards))


@router.get(
    "/{model}",
    response_model=ModelCard,
    summary="Describe one served model.",
    responses=documented(403, 404),
)
async def get_model(model: str, state: State, caller: Caller) -> ModelCard:
    caller.require_model(model)
    state.handle(model)
    return await _card(state, model)
