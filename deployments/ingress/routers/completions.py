"""POST /v1/completions, compatible with OpenAI's completions API (stream or not)."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from ray.serve.handle import DeploymentResponseGenerator

from deployments.config import GeneratorArgs, RequestLimits
from deployments.contracts import GenerateRequest
from deployments.errors import InvalidInputError, ModelUnavailableError
from deployments.ingress.completion_stream import Completion, GenerationStream, sse_events
from deployments.ingress.deadline import RequestDeadline
from deployments.ingress.input_checks import check_text
from deployments.ingress.middleware.access import Caller
from deployments.ingress.model_client import Models
from deployments.ingress.openapi import documented, event_stream
from deployments.ingress.request_context import context_of
from deployments.ingress.schemas.completions import CompletionRequest, CompletionResponse

router = APIRouter(prefix="/v1/completions", tags=["completions"])

STREAM_DOC = event_stream(
    "The completion; with `stream: true` a text/event-stream of `data: {chunk}` lines "
    "ending with `data: [DONE]`.",
    "A completion chunk (CompletionResponse without usage) as JSON; an error body "
    '{"error": ...} if the generation failed mid-stream; `[DONE]` last.',
)


def _generate_request(
    body: CompletionRequest, gen: GeneratorArgs, limits: RequestLimits
) -> GenerateRequest:
    prompt = body.prompt_text()
    check_text(prompt, "prompt", limits, "prompt")
    for i, stop in enumerate(body.stops()):
        check_text(stop, f"stop[{i}]", limits, "stop")
    max_tokens = body.max_tokens or gen.default_max_tokens
    if max_tokens > gen.max_new_tokens_limit:
        raise InvalidInputError(
            f"max_tokens is {max_tokens}; model {gen.name} generates at most "
            f"{gen.max_new_tokens_limit} tokens per request",
            param="max_tokens",
        )
    return GenerateRequest(
        prompt=prompt,
        max_tokens=max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        stop=body.stops(),
        seed=body.seed,
    )


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
    generate = _generate_request(body, models.generators[body.model], models.limits)
    stream = GenerationStream(
        body.model,
        cast(DeploymentResponseGenerator, handle.options(stream=True).generate.remote(generate)),
        deadline,
        models.limits.retry_after_s,
    )
    try:
        # The first chunk says the replica accepted the prompt: until then every error
        # (overload, prompt too long, deadline) is still a plain JSON error response.
        first = await stream.next()
        if first is None or first.prompt_tokens is None:
            raise ModelUnavailableError(f"model {body.model} ended its stream without output")
        completion = Completion(body.model, first.prompt_tokens)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(
                sse_events(stream, completion, include_usage),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        while (chunk := await stream.next()) is not None:
            completion.add(chunk)
    except BaseException:
        stream.cancel()
        raise
    return JSONResponse(completion.response().model_dump())
