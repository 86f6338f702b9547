"""POST /v1/completions, compatible with OpenAI's completions API (stream or not)."""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response, StreamingResponse
from ray.serve.handle import DeploymentResponseGenerator

from deployments.access import Caller
from deployments.completion_schemas import CompletionRequest, CompletionResponse
from deployments.completion_stream import Completion, GenerationStream, sse_events
from deployments.config import GeneratorArgs
from deployments.contracts import is_encodable
from deployments.deadline import RequestDeadline
from deployments.errors import InvalidInputError, ModelUnavailableError
from deployments.generation_contract import GenerateRequest
from deployments.http_errors import documented
from deployments.state import ServingState, State

router = APIRouter(prefix="/v1/completions", tags=["completions"])

STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The completion; with `stream: true` a text/event-stream of "
        "`data: {chunk}` lines ending with `data: [DONE]`.",
        # Before OpenAPI 3.2 (FastAPI writes 3.1) `schema` describes one event of the stream.
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "data": {
                            "type": "string",
                            "description": "A completion chunk (CompletionResponse without "
                            'usage) as JSON; an error body {"error": ...} if the '
                            "generation failed mid-stream; `[DONE]` last.",
                        },
                        "event": {"type": "string"},
                        "id": {"type": "string"},
                        "retry": {"type": "integer"},
                    },
                }
            }
        },
    }
}


def _generator(state: ServingState, model: str) -> GeneratorArgs:
    return next(g for g in state.args.generators if g.name == model)


def _generate_request(
    body: CompletionRequest, gen: GeneratorArgs, state: ServingState
) -> GenerateRequest:
    prompt = body.prompt_text()
    if not prompt:
        raise InvalidInputError("prompt must not be empty", param="prompt")
    if len(prompt) > state.limits.max_input_chars:
        raise InvalidInputError(
            f"prompt has {len(prompt)} characters; at most "
            f"{state.limits.max_input_chars} are accepted",
            param="prompt",
        )
    if not all(map(is_encodable, [prompt, *body.stops()])):
        raise InvalidInputError("prompt and stop must be valid Unicode text", param="prompt")
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
    body: CompletionRequest, state: State, caller: Caller, deadline: RequestDeadline
) -> Response:
    # 403 before 404, so a key scoped to some models cannot probe which others exist.
    caller.require_model(body.model)
    handle = state.handle(body.model, "generator")
    request = _generate_request(body, _generator(state, body.model), state)
    stream = GenerationStream(
        body.model,
        cast(DeploymentResponseGenerator, handle.options(stream=True).generate.remote(request)),
        deadline,
        state.limits.retry_after_s,
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
