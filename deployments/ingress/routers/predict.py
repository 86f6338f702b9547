"""POST /v1/models/<name>/predict: one route per model of the repository, its request and
response bodies typed from the model's manifest (see deployments.ingress.schemas.predict).

No ``from __future__ import annotations`` here: FastAPI must see the generated classes
themselves in the handlers' signatures, not names it cannot resolve.
"""

from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel

from deployments.contracts import PredictResult
from deployments.errors import ModelNotFoundError
from deployments.ingress.deadline import RequestDeadline
from deployments.ingress.middleware.access import Caller
from deployments.ingress.model_client import Models
from deployments.ingress.openapi import documented
from deployments.ingress.request_context import context_of
from deployments.ingress.responses import answer
from deployments.ingress.schemas.predict import request_model, response_model
from deployments.model_manifest import ModelSpec

PREFIX = "/v1/models"


def _arrays(inputs: BaseModel, spec: ModelSpec) -> list[np.ndarray]:
    return [
        np.asarray(getattr(inputs, f"i{i}"), dtype=t.dtype)
        for i, t in enumerate(spec.manifest.inputs)
    ]


def _render(spec: ModelSpec, result: PredictResult) -> bytes:
    manifest = spec.manifest
    body: dict[str, Any] = {"model": spec.name, "outputs": result.outputs}
    labelled = {o.name: o.labels for o in manifest.outputs if o.labels}
    if labelled:
        body["labels"] = {
            name: [labels[i] for i in np.argmax(result.outputs[name], axis=1)]
            for name, labels in labelled.items()
        }
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def predict_router(spec: ModelSpec, max_rows: int) -> APIRouter:
    """The route of one model, typed from its manifest."""
    name = spec.name
    request_body = request_model(spec, max_rows)
    router = APIRouter(prefix=PREFIX, tags=["predict"])

    def may_use(caller: Caller) -> None:
        # A dependency of the route, so it runs before the body is validated: a key
        # without this model's scope gets 403, whatever it sent.
        caller.require_model(name)

    async def predict(
        body: request_body,  # type: ignore[valid-type]
        models: Models,
        deadline: RequestDeadline,
        request: Request,
    ) -> Response:
        models.handle(name, "predictor")
        context_of(request.scope).serve_model(name, "predictor")
        inputs = _arrays(body.inputs, spec)  # type: ignore[attr-defined]
        return await answer(
            request,
            models.predict(name, inputs, deadline.remaining_s()),
            lambda result: _render(spec, result),
        )

    router.add_api_route(
        f"/{name}/predict",
        predict,
        methods=["POST"],
        response_model=response_model(spec),
        summary=f"Predict with {name}.",
        description=spec.manifest.description,
        dependencies=[Depends(may_use)],
        responses=documented(403, 422, 500, 503, 504),
        operation_id=f"predict_{name}",
    )
    return router


unknown = APIRouter(prefix=PREFIX)


@unknown.post("/{model}/predict", include_in_schema=False)
async def predict_unknown(model: str, models: Models, caller: Caller) -> None:
    """Any model without a route of its own: 403 or 404, in the usual JSON error body."""
    caller.require_model(model)
    models.handle(model, "predictor")
    raise ModelNotFoundError(f"model {model!r} is not a predictor", param="model")


def routers(specs: list[ModelSpec], max_rows: int) -> list[APIRouter]:
    return [*(predict_router(spec, max_rows) for spec in specs), unknown]
