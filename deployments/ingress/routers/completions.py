"""POST /v1/completions, compatible with OpenAI's completions API (stream or not)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deployments.contracts import GenerateRequest
from deployments.ingress.completion_stream import (
    STREAM_DOC,
    Completion,
    max_tokens_for,
    serve_generation,
)
from deployments.ingress.deadline import RequestDeadline
from deployments.ingress.input_checks import check_text
from deployments.ingress.middleware.access import Caller
from deployments.ingress.model_client import Models
from deployments.ingress.openapi import documented
from deployments.ingress.request_context import context_of
from deployments.ingress.schemas.completions import CompletionRequest, CompletionResponse

router = APIRouter(prefix="/v1/completions", tags=["completions"])


@router.post(
    "",
    response_model=CompletionResponse,
    summary="Continue a prompt; `stream: true` streams the text as Server-Sent Events.",
    responses={**documented(403, 404, 422, 500, 503, 504), **STREAM_DOC},
)
async def create_completion(
    body: CompletionRequest,
    models: Models,
    caller: Caller,
    deadline: RequestDeadline,
    request: Request,
) -> Response:
    handle = models.admit(caller, body.model, "generator", context_of(request.scope))
    prompt = body.prompt_text()
    check_text(prompt, "prompt", models.limits, "prompt")
    for i, stop in enumerate(body.stops()):
        check_text(stop, f"stop[{i}]", models.limits, "stop")
    generate = GenerateRequest(
        prompt=prompt,
        max_tokens=max_tokens_for(body.max_tokens, models.generators[body.model], "max_tokens"),
        temperature=body.temperature,
        top_p=body.top_p,
        stop=body.stops(),
        seed=body.seed,
        logprobs=body.logprobs,
        ignore_eos=body.ignore_eos,
    )
    return await serve_generation(
        handle,
        generate,
        lambda prompt_tokens: Completion(body.model, prompt_tokens, body.logprobs is not None),
        body.model,
        models.limits.retry_after_s,
        deadline,
        body.stream,
        body.stream_options,
    )
