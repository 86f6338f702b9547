"""The Open Inference Protocol (KServe v2 REST), so Triton's, KServe's and MLServer's
clients and tools (tritonclient, perf_analyzer) talk to every predictor, multiplexed
model and embedding model here.

The same path as the typed routes: the caller's scope (``caller.require_model``), rate
limits and deadlines, and ``ModelClient.predict`` / ``embed`` (so batching, coalescing,
request metrics and Server-Timing are theirs). Metadata comes from each model's manifest
(predictors) or its own contract (embeddings: a BYTES input, one text per row, and an
FP32 output). Errors leave through the one error table, which renders them in the
protocol's ``{"error": "..."}`` on /v2 paths (middleware/errors.py). Triton's binary
tensor extension (what tritonclient and perf_analyzer send by default) works both ways:
middleware/body_limits.py splits the binary tail off the JSON header, and outputs asked
for as binary come back after the response's JSON header. ``/config`` answers the part
of Triton's model configuration that perf_analyzer reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
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
from deployments.ingress.responses import Answer, answer
from deployments.ingress.schemas.v2 import (
    ConfigTensor,
    InferRequest,
    InferResponse,
    Liveness,
    ModelConfig,
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


def _config_type(datatype: str) -> str:
    """Triton's model configuration names BYTES tensors TYPE_STRING."""
    return "TYPE_STRING" if datatype == "BYTES" else f"TYPE_{datatype}"


@router.get(
    "/models/{name}/config",
    response_model=ModelConfig,
    summary="Triton's model configuration extension (what perf_analyzer reads first).",
    responses=ERRORS,
)
async def model_config(name: str, models: Models, caller: Caller) -> ModelConfig:
    metadata = await model_metadata(name, models, caller)

    def tensors(specs: list[TensorMetadata]) -> list[ConfigTensor]:
        # With max_batch_size > 0, Triton's dims leave out the batch axis.
        return [
            ConfigTensor(name=t.name, data_type=_config_type(t.datatype), dims=t.shape[1:] or [1])
            for t in specs
        ]

    return ModelConfig(
        name=name,
        platform=metadata.platform,
        max_batch_size=models.limits.max_inputs_per_request,
        input=tensors(metadata.inputs),
        output=tensors(metadata.outputs),
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


def _own_timeout_s(body: InferRequest) -> float | None:
    """The request's own deadline (Triton's ``timeout`` parameter, µs)."""
    timeout = (body.parameters or {}).get("timeout")
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


def _wants_binary(body: InferRequest, output: str) -> bool:
    if (body.parameters or {}).get("binary_data_output") is True:
        return True
    requested = {o.name: o.parameters or {} for o in body.outputs or []}
    return requested.get(output, {}).get("binary_data") is True


def _render(
    name: str, body: InferRequest, outputs: list[tuple[str, str, Any]]
) -> tuple[bytes, int | None]:
    """The response body, and the length of its JSON header when binary outputs follow."""
    tail: list[bytes] = []
    rendered_outputs = []
    for out, dtype, array in outputs:
        entry: dict[str, Any] = {
            "name": out,
            "datatype": v2_tensors.datatype_of(dtype),
            "shape": list(array.shape),
        }
        if _wants_binary(body, out):
            raw = v2_tensors.encode_binary(array, dtype)
            entry["parameters"] = {v2_tensors.BINARY_SIZE: len(raw)}
            tail.append(raw)
        else:
            entry["data"] = v2_tensors.encode(array)
        rendered_outputs.append(entry)
    rendered: dict[str, Any] = {
        "model_name": name,
        "model_version": MODEL_VERSION,
        "outputs": rendered_outputs,
    }
    if body.id is not None:
        rendered["id"] = body.id
    header = orjson.dumps(rendered)
    if not tail:
        return header, None
    return header + b"".join(tail), len(header)


async def _answer(
    request: Request,
    call: Awaitable[Answer],
    name: str,
    body: InferRequest,
    outputs_of: Callable[[Answer], list[tuple[str, str, Any]]],
) -> Response:
    """``answer`` (x-batch-size, Server-Timing), as JSON or JSON header + binary outputs."""
    json_length: int | None = None

    def render(result: Answer) -> bytes:
        nonlocal json_length
        content, json_length = _render(name, body, outputs_of(result))
        return content

    response = await answer(request, call, render)
    if json_length is not None:
        response.headers[v2_tensors.BINARY_HEADER] = str(json_length)
        response.headers["content-type"] = "application/octet-stream"
    return response


def _binary_parts(body: InferRequest, tail: bytes) -> dict[str, bytes]:
    """Each binary input's bytes, cut from the body's binary tail in input order."""
    parts: dict[str, bytes] = {}
    at = 0
    for tensor in body.inputs:
        size = (tensor.parameters or {}).get(v2_tensors.BINARY_SIZE)
        if size is None:
            if tensor.data is None:
                raise InvalidInputError(f"input {tensor.name!r} has no data")
            continue
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidInputError(f"input {tensor.name!r}: binary_data_size must be >= 0")
        if tensor.data is not None:
            raise InvalidInputError(f"input {tensor.name!r} has both data and binary data")
        if at + size > len(tail):
            raise InvalidInputError(f"input {tensor.name!r}: binary data ends before its size")
        parts[tensor.name] = tail[at : at + size]
        at += size
    if at != len(tail):
        raise InvalidInputError(f"{len(tail) - at} bytes of binary data belong to no input")
    return parts


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
    binary = _binary_parts(body, context_of(request.scope).binary_tensors)
    arrays = [
        v2_tensors.decode_binary(
            t.name, given[t.name].datatype, given[t.name].shape, binary[t.name], t, max_rows
        )
        if t.name in binary
        else v2_tensors.decode(
            t.name, given[t.name].datatype, given[t.name].shape, given[t.name].data, t, max_rows
        )
        for t in manifest.inputs
    ]
    rows = {t.name: len(a) for t, a in zip(manifest.inputs, arrays, strict=True)}
    if len(set(rows.values())) > 1:
        raise InvalidInputError(f"every input needs the same number of rows, got {rows}")
    selected = _selected(body, [(o.name, o.dtype) for o in manifest.outputs])

    def outputs(result: PredictResult) -> list[tuple[str, str, Any]]:
        return [(o, d, result.outputs[o]) for o, d in selected]

    return await _answer(request, models.predict(name, arrays, timeout_s), name, body, outputs)


async def _infer_embedding(
    name: str, body: InferRequest, models: ModelClient, timeout_s: float, request: Request
) -> Response:
    info = await models.info(name)
    (text_input,) = info.contract.inputs
    given = _by_name(body, [text_input.name])[text_input.name]
    binary = _binary_parts(body, context_of(request.scope).binary_tensors)
    max_rows = models.limits.max_inputs_per_request
    if given.name in binary:
        texts = v2_tensors.texts_binary(
            given.name, given.datatype, given.shape, binary[given.name], max_rows
        )
    else:
        texts = v2_tensors.texts(given.name, given.datatype, given.shape, given.data, max_rows)
    check_texts(texts, models.limits, f"inputs.{given.name}")
    selected = _selected(body, [(o.name, o.datatype) for o in info.contract.outputs])

    def outputs(result: EmbedResult) -> list[tuple[str, str, Any]]:
        return [(o, d, result.vectors) for o, d in selected]

    return await _answer(request, models.embed(name, texts, timeout_s), name, body, outputs)


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
    own_timeout_s = _own_timeout_s(body)
    timeout_s = deadline.remaining_s()
    if own_timeout_s is not None:
        timeout_s = min(timeout_s, own_timeout_s)
    if kind == "predictor":
        return await _infer_predictor(name, body, models, timeout_s, request)
    return await _infer_embedding(name, body, models, timeout_s, request)
