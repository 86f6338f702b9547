"""POST /v1/embeddings, compatible with the OpenAI embeddings API."""

from __future__ import annotations

import base64

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from deployments.contracts import EmbedResult
from deployments.errors import InvalidInputError
from deployments.ingress.deadline import RequestDeadline
from deployments.ingress.input_checks import check_texts
from deployments.ingress.middleware.access import Caller
from deployments.ingress.model_client import Models
from deployments.ingress.openapi import documented
from deployments.ingress.request_context import context_of
from deployments.ingress.responses import answer
from deployments.ingress.schemas.embeddings import EmbeddingRequest, EmbeddingResponse

router = APIRouter(prefix="/v1/embeddings", tags=["embeddings"])


def _render(body: EmbeddingRequest, result: EmbedResult) -> bytes:
    vectors = result.vectors
    if body.encoding_format == "base64":
        rows: list = [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in vectors]
    else:
        rows = list(vectors)  # numpy rows; orjson writes them without a Python float list
    tokens = sum(result.token_counts)
    return orjson.dumps(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)
            ],
            "model": body.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


@router.post(
    "",
    response_model=EmbeddingResponse,
    summary="Embed one text or a list of texts (or token ids).",
    responses=documented(403, 404, 422, 500, 503, 504),
)
async def create_embeddings(
    body: EmbeddingRequest,
    models: Models,
    caller: Caller,
    deadline: RequestDeadline,
    request: Request,
) -> Response:
    models.admit(caller, body.model, "embedding", context_of(request.scope))
    texts = body.inputs()
    check_texts(texts, models.limits, "input")
    if body.dimensions is not None:
        dims = await models.dimensions(body.model)
        if body.dimensions != dims:
            raise InvalidInputError(
                f"model {body.model} produces {dims} dimensions, not {body.dimensions}",
                param="dimensions",
            )
    return await answer(
        request,
        models.embed(body.model, texts, deadline.remaining_s()),
        lambda result: _render(body, result),
    )
