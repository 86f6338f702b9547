"""The Open Inference Protocol (KServe v2 REST), so Triton's, KServe's and MLServer's
clients and tools (tritonclient, perf_analyzer) talk to every predictor, multiplexed
model and embedding model here.

The same path as the typed routes: the caller's scope (``caller.require_model``), rate
limits and deadlines, and ``ModelClient.predict`` / ``embed`` (so batching, coalescing,
request metrics and Server-Timing are theirs). Metadata comes from each model's manifest
(predictors) or its own contract (embeddings: a BYTES input, one text per row, and an
FP32 output). Errors leave through the one error table, which renders them in the
protocol's ``{"error": "..."}`` on /v2 paths (middleware/errors.py). Binary tensor data
(Triton's extension) is not supported: JSON only, and a request asking for binary
tensors gets a 400 saying so.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from deployments.contracts import EmbedResult, ModelKind, PredictResult
from deployments.errors import InvalidInputError, ModelNotFoundError
from deployments.ingress import v2_tensors
from deployments.ingress.deadline import RequestDeadline
from deployments.ingress.input_checks import check_texts
from deployments.ingress.middleware.access import Caller
from deployments.ingress.model_client import ModelClient, Models
from deployments.ingress.openapi import documented
from deployments.ingress.request_context import context_of
from deployments.ingress.responses import answer
from deployments.ingress.schemas.v2 import (
    InferRequest,
    InferResponse,
    Liveness,
    ModelMetadata,
    ModelReadiness,
    ServerMetadata,
    ServerReadiness,
    TensorMetadata,
    V2Error,
)
from deployments.model_manifest import ModelSpec

PREFIX = "/v2"
SERVER_NAME = "ray-serve-inference-cluster"
SERVER_VERSION = "0.1.0"
MODEL_VERSION = "1"
# The protocol's kinds of model served here; generators speak OpenAI's completions only.
V2_KINDS: tuple[ModelKind, ...] = ("predictor", "embedding")
PLATFORM = {"torchscript": "pytorch_torchscript", "torch_export": "pytorch_torch_export"}
EMBEDDING_PLATFORM = "sentence_transformers"
# Triton's `timeout` parameter is in microseconds.
MICROSECONDS = 1e-6

# Triton's clients send their JSON without a Content-Type (middleware/body_limits.py lets
# that through on /v2 only); FastAPI must still parse it as JSON.
router = APIRouter(prefix=PREFIX, tags=["v2"], strict_content_type=False)
ERRORS = {
    s: {"model": V2Error, "description": r["description"]}
    | ({"headers": r["headers"]} if "headers" in r else {})
    for s, r in documented(400, 403, 404, 500, 503, 504).items()
}


def _specs(models: ModelClient) -> dict[str, ModelSpec]:
    return {s.name: s for s in models.args.predictor_specs()}


def _served_kind(models: ModelClient, caller: Caller, name: str) -> ModelKind:
    """``name``'s kind, for a caller allowed to use it: 403 before 404, as elsewhere."""
    caller.require_model(name)
    kind = models.kinds.get(name)
    if kind is None or name not in models.models:
        raise ModelNotFoundError(f"model {name!r} is not served; see GET /v1/models")
    if kind not in V2_KINDS:
        raise ModelNotFoundError(
            f"model {name!r} is a {kind} model; /v2 serves predictor and embedding models"
        )
    return kind


@router.get("", response_model=ServerMetadata, summary="Server metadata.", responses=ERRORS)
async def server_metadata() -> ServerMetadata:
    return ServerMetadata(name=SERVER_NAME, version=SERVER_VERSION, extensions=[])


@router.get("/health/live", response_model=Liveness, summary="Liveness (no credentials).")
async def live() -> Liveness:
    return Liveness(live=True)


@router.get(
    "/health/ready",
    response_model=ServerReadiness,
    summary="Readiness: every model answered (no credentials).",
    responses={503: {"model": ServerReadiness, "description": "A model did not answer."}},
)
async def ready(models: Models) -> JSONResponse:
    infos = await asyncio.gather(*(models.probe(name) for name in models.models))
    is_ready = all(i is not None for i in infos)
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


@router.get(
    "/models/{name}",
    response_model=ModelMetadata,
    summary="A model's metadata: platform, versions, inputs and outputs.",
    responses=ERRORS,
)
async def model_metadata(name: str, models: Models, caller: Caller) -> ModelMetadata:
    kind = _served_kind(models, caller, name)
    if kind == "predictor":
        manifest = _specs(models)[name].manifest
        platform = PLATFORM[manifest.format]
        contract = manifest.contract()
    else:
        info = await models.info(name)
        platform, contract = EMBEDDING_PLATFORM, info.contract

    def tensors(specs: list[Any]) -> list[TensorMetadata]:
        return [
            TensorMetadata(
                name=t.name, datatype=v2_tensors.datatype_of(t.datatype), shape=list(t.shape)
            )
            for t in specs
        ]

    return ModelMetadata(
        name=name,
        versions=[MODEL_VERSION],
        platform=platform,
        inputs=tensors(contract.inputs),
        outputs=tensors(contract.outputs),
    )


@router.get(
    "/models/{name}/ready",
    response_model=ModelReadiness,
    summary="Whether the model answers.",
    responses=ERRORS | {503: {"model": ModelReadiness, "description": "It did not answer."}},
)
async def model_ready(name: str, models: Models, caller: Caller) -> JSONResponse:
    _served_kind(models, caller, name)
    is_ready = await models.probe(name) is not None
    return JSONResponse({"name": name, "ready": is_ready}, status_code=200 if is_ready else 503)


def _check_parameters(body: InferRequest) -> float | None:
    """The request's own deadline (Triton's ``timeout``, µs), refusing binary tensors."""
    params = body.parameters or {}
    binary = params.get("binary_data_output") is True
    binary |= any("binary_data_size" in (i.parameters or {}) for i in body.inputs)
    binary |= any((o.parameters or {}).get("binary_data") is True for o in body.outputs or [])
    if binary:
        raise InvalidInputError(v2_tensors.BINARY_UNSUPPORTED)
    timeout = params.get("timeout")
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise InvalidInputError("parameters.timeout must be a positive integer (microseconds)")
    return float(timeout) * MICROSECONDS


def _selected(body: InferRequest, available: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The requested (output name, dtype) pairs, all of them when none are named."""
    if body.outputs is None:
        return available
    by_name = dict(available)
    unknown = [o.name for o in body.outputs if o.name not in by_name]
    if unknown:
        raise InvalidInputError(f"unknown output {unknown[0]!r}; the model has {sorted(by_name)}")
    return [(o.name, by_name[o.name]) for o in body.outputs]


def _render(name: str, body: InferRequest, outputs: list[tuple[str, str, Any]]) -> bytes:
    rendered = {
        "model_name": name,
        "model_version": MODEL_VERSION,
        "outputs": [
            {
                "name": out,
                "datatype": v2_tensors.datatype_of(dtype),
                "shape": list(array.shape),
                "data": v2_tensors.encode(array),
            }
            for out, dtype, array in outputs
        ],
    }
    if body.id is not None:
        rendered["id"] = body.id
    return orjson.dumps(rendered)


def _by_name(body: InferRequest, expected: list[str]) -> dict[str, Any]:
    given = {}
    for tensor in body.inputs:
        if tensor.name in given:
            raise InvalidInputError(f"input {tensor.name!r} is given twice")
        given[tensor.name] = tensor
    unknown = sorted(set(given) - set(expected))
    if unknown:
        raise InvalidInputError(f"unknown input {unknown[0]!r}; the model takes {expected}")
    missing = [n for n in expected if n not in given]
    if missing:
        raise InvalidInputError(f"input {missing[0]!r} is missing; the model takes {expected}")
    return given


async def _infer_predictor(
    name: str, body: InferRequest, models: ModelClient, timeout_s: float, request: Request
) -> Response:
    manifest = _specs(models)[name].manifest
    given = _by_name(body, [t.name for t in manifest.inputs])
    max_rows = models.limits.max_inputs_per_request
    arrays = [
        v2_tensors.decode(
            t.name, given[t.name].datatype, given[t.name].shape, given[t.name].data, t, max_rows
        )
        for t in manifest.inputs
    ]
    rows = {t.name: len(a) for t, a in zip(manifest.inputs, arrays, strict=True)}
    if len(set(rows.values())) > 1:
        raise InvalidInputError(f"every input needs the same number of rows, got {rows}")
    selected = _selected(body, [(o.name, o.dtype) for o in manifest.outputs])

    def render(result: PredictResult) -> bytes:
        return _render(name, body, [(o, d, result.outputs[o]) for o, d in selected])

    return await answer(request, models.predict(name, arrays, timeout_s), render)


async def _infer_embedding(
    name: str, body: InferRequest, models: ModelClient, timeout_s: float, request: Request
) -> Response:
    info = await models.info(name)
    (text_input,) = info.contract.inputs
    given = _by_name(body, [text_input.name])[text_input.name]
    texts = v2_tensors.texts(
        given.name, given.datatype, given.shape, given.data, models.limits.max_inputs_per_request
    )
    check_texts(texts, models.limits, f"inputs.{given.name}")
    selected = _selected(body, [(o.name, o.datatype) for o in info.contract.outputs])

    def render(result: EmbedResult) -> bytes:
        return _render(name, body, [(o, d, result.vectors) for o, d in selected])

    return await answer(request, models.embed(name, texts, timeout_s), render)


@router.post(
    "/models/{name}/infer",
    response_model=InferResponse,
    summary="Run the model on JSON tensors.",
    responses=ERRORS,
)
async def infer(
    name: str,
    body: InferRequest,
    models: Models,
    caller: Caller,
    deadline: RequestDeadline,
    request: Request,
) -> Response:
    kind = _served_kind(models, caller, name)
    models.admit(caller, name, kind, context_of(request.scope))
    own_timeout_s = _check_parameters(body)
    timeout_s = deadline.remaining_s()
    if own_timeout_s is not None:
        timeout_s = min(timeout_s, own_timeout_s)
    if kind == "predictor":
        return await _infer_predictor(name, body, models, timeout_s, request)
    return await _infer_embedding(name, body, models, timeout_s, request)
