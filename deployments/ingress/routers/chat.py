"""POST /v1/chat/completions, compatible with OpenAI's chat completions API (stream or not).

The same generator deployments as /v1/completions, the same deadlines, cancellation and
mid-stream error events (deployments/ingress/completion_stream.py); only the shapes
differ. The messages travel as text: the replica renders them with its model's chat
template, since the ingress has no tokenizer.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deployments.contracts import ChatMessage, GenerateRequest, GenerationChunk, TokenLogprob
from deployments.errors import InvalidInputError
from deployments.ingress.completion_stream import (
    STREAM_DOC,
    StreamedAnswer,
    max_tokens_for,
    serve_generation,
)
from deployments.ingress.deadline import RequestDeadline
from deployments.ingress.input_checks import check_text
from deployments.ingress.middleware.access import Caller
from deployments.ingress.model_client import Models
from deployments.ingress.openapi import documented
from deployments.ingress.request_context import context_of
from deployments.ingress.schemas.chat import (
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatDelta,
    ChatMessageOut,
    ChatTokenLogprob,
    ChoiceLogprobs,
    TopLogprob,
)

router = APIRouter(prefix="/v1/chat/completions", tags=["completions"])


class ChatCompletion(StreamedAnswer):
    """OpenAI's chat shapes: a first chunk with the role, then content deltas."""

    id_prefix = "chatcmpl"

    def __init__(self, model: str, prompt_tokens: int, logprobs: bool) -> None:
        super().__init__(model, prompt_tokens)
        self.with_logprobs = logprobs

    def opening(self) -> list[ChatCompletionChunk]:
        return [self._chunk(ChatChunkChoice(delta=ChatDelta(role="assistant", content="")))]

    def response(self) -> ChatCompletionResponse:
        choice = ChatChoice(
            message=ChatMessageOut(content="".join(self.parts)),
            logprobs=self._logprobs(self.logprobs),
            finish_reason=self.finish_reason,
        )
        return ChatCompletionResponse(
            id=self.id,
            created=self.created,
            model=self.model,
            choices=[choice],
            usage=self.usage(),
        )

    def chunk(self, chunk: GenerationChunk) -> ChatCompletionChunk:
        return self._chunk(
            ChatChunkChoice(
                delta=ChatDelta(content=chunk.text),
                logprobs=self._logprobs(chunk.logprobs),
                finish_reason=chunk.finish_reason,
            )
        )

    def usage_chunk(self) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self.id, created=self.created, model=self.model, choices=[], usage=self.usage()
        )

    def _chunk(self, choice: ChatChunkChoice) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self.id, created=self.created, model=self.model, choices=[choice]
        )

    def _logprobs(self, tokens: list[TokenLogprob]) -> ChoiceLogprobs | None:
        if not self.with_logprobs:
            return None
        return ChoiceLogprobs(
            content=[
                ChatTokenLogprob(
                    token=t.token,
                    logprob=t.logprob,
                    bytes=list(t.token.encode()),
                    top_logprobs=[
                        TopLogprob(token=text, logprob=lp, bytes=list(text.encode()))
                        for text, lp in t.top
                    ],
                )
                for t in tokens
            ]
        )


def _messages(body: ChatCompletionRequest, models: Models) -> list[ChatMessage]:
    limits = models.limits
    if len(body.messages) > limits.max_inputs_per_request:
        raise InvalidInputError(
            f"messages has {len(body.messages)} items; at most "
            f"{limits.max_inputs_per_request} are accepted per request",
            param="messages",
        )
    messages = [ChatMessage(role=m.chat_role(), content=m.text()) for m in body.messages]
    for i, message in enumerate(messages):
        check_text(message.content, f"messages[{i}].content", limits, "messages")
    return messages


@router.post(
    "",
    response_model=ChatCompletionResponse,
    summary="Answer a conversation; `stream: true` streams the answer as Server-Sent Events.",
    responses={**documented(403, 404, 422, 500, 503, 504), **STREAM_DOC},
)
async def create_chat_completion(
    body: ChatCompletionRequest,
    models: Models,
    caller: Caller,
    deadline: RequestDeadline,
    request: Request,
) -> Response:
    handle = models.admit(caller, body.model, "generator", context_of(request.scope))
    gen = models.generators[body.model]
    if not gen.chat:
        raise InvalidInputError(
            f"model {body.model} serves /v1/completions only (configured with chat: false)",
            param="model",
        )
    messages = _messages(body, models)
    for i, stop in enumerate(body.stops()):
        check_text(stop, f"stop[{i}]", models.limits, "stop")
    param = "max_completion_tokens" if body.max_completion_tokens else "max_tokens"
    generate = GenerateRequest(
        messages=messages,
        max_tokens=max_tokens_for(body.requested_max_tokens(), gen, param),
        temperature=body.temperature,
        top_p=body.top_p,
        stop=body.stops(),
        seed=body.seed,
        logprobs=body.logprobs_asked(),
    )
    return await serve_generation(
        handle,
        generate,
        lambda prompt_tokens: ChatCompletion(body.model, prompt_tokens, body.logprobs),
        body.model,
        models.limits.retry_after_s,
        deadline,
        body.stream,
        body.stream_options,
    )
