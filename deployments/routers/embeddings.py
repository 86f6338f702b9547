"""POST /v1/embeddings, compatible with the OpenAI embeddings API."""

from __future__ import annotations

import base64

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from deployments.access import Caller
from deployments.contracts import EmbedResult
from deployments.deadline import RequestDeadline
from deployments.errors import InvalidInputError
from deployments.http_errors import documented
from deployments.model_answer import answer
from deployments.request_metrics import note_model
from deployments.schemas import EmbeddingRequest, EmbeddingResponse
from deployments.state import State

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
    summary="Embed one text or a list of texts.",
    responses=documented(403, 404, 422, 500, 503, 504),
)
async def create_embeddings(
    body: EmbeddingRequest,
    state: State,
    caller: Caller,
    deadline: RequestDeadline,
    request: Request,
) -> Response:
    # 403 before 404, so a key scoped to some models cannot probe which others exist.
    caller.require_model(body.model)
    state.handle(body.model, "embedding")
    note_model(request.scope.setdefault("state", {}), body.model)
    texts = [body.input] if isinstance(body.input, str) else body.input
    state.check_inputs(texts)
    if body.dimensions is not None:
        dims = await state.dimensions(body.model)
        if body.dimensions != dims:
            raise InvalidInputError(
                f"model {body.model} produces {dims} dimensions, not {body.dimensions}",
                param="dimensions",
            )
    return await answer(
        request,
        state.embed(body.model, texts, deadline.remaining_s()),
        lambda result: _render(body, result),
    )
