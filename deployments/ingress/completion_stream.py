"""Reading a generator deployment's stream within a request's deadline, and answering it
as one JSON body or as OpenAI-style Server-Sent Events: what /v1/completions and
/v1/chat/completions share (they differ only in their request and answer shapes).

Ingress side: no torch. Every way the read can end early cancels the replica's
generator, so no token is computed for a caller that is gone.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, cast

import orjson
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from deployments.config import GeneratorArgs
from deployments.contracts import FinishReason, GenerateRequest, GenerationChunk, TokenLogprob
from deployments.errors import (
    DeadlineExceededError,
    InvalidInputError,
    ModelUnavailableError,
    ServingError,
)
from deployments.ingress.deadline import Deadline
from deployments.ingress.middleware.errors import response_for
from deployments.ingress.model_client import ray_errors_as_domain
from deployments.ingress.openapi import event_stream
from deployments.ingress.schemas.completions import (
    CompletionChoice,
    CompletionLogprobs,
    CompletionResponse,
    CompletionUsage,
    StreamOptions,
)

logger = logging.getLogger("ray.serve")

DONE = b"data: [DONE]\n\n"

STREAM_DOC = event_stream(
    "The completion; with `stream: true` a text/event-stream of `data: {chunk}` lines "
    "ending with `data: [DONE]`.",
    "A chunk of the answer as JSON; an error body "
    '{"error": ...} if the generation failed mid-stream; `[DONE]` last.',
)


def max_tokens_for(requested: int | None, gen: GeneratorArgs, param: str) -> int:
    """The request's token budget: its own (at most the model's limit) or the default."""
    max_tokens = requested or gen.default_max_tokens
    if max_tokens > gen.max_new_tokens_limit:
        raise InvalidInputError(
            f"{param} is {max_tokens}; model {gen.name} generates at most "
            f"{gen.max_new_tokens_limit} tokens per request",
            param=param,
        )
    return max_tokens


async def serve_generation(
    handle: DeploymentHandle,
    generate: GenerateRequest,
    answer: Callable[[int], StreamedAnswer],
    model: str,
    retry_after_s: int,
    deadline: Deadline,
    streamed: bool,
    stream_options: StreamOptions | None,
) -> Response:
    """Run ``generate`` on the generator: one JSON answer, or when ``streamed`` a
    text/event-stream. ``answer`` renders the generation in the route's shapes, given
    its prompt's token count."""
    stream = GenerationStream(
        model,
        cast(DeploymentResponseGenerator, handle.options(stream=True).generate.remote(generate)),
        deadline,
        retry_after_s,
    )
    try:
        # The first chunk says the replica accepted the prompt: until then every error
        # (overload, prompt too long, deadline) is still a plain JSON error response.
        first = await stream.next()
        if first is None or first.prompt_tokens is None:
            raise ModelUnavailableError(f"model {model} ended its stream without output")
        completion = answer(first.prompt_tokens)
        if streamed:
            include_usage = bool(stream_options and stream_options.include_usage)
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


class GenerationStream:
    def __init__(
        self,
        model: str,
        chunks: DeploymentResponseGenerator,
        deadline: Deadline,
        retry_after_s: int,
    ) -> None:
        self._model = model
        self._chunks = chunks
        self._deadline = deadline
        self._retry_after_s = retry_after_s
        self._finished = False

    async def next(self) -> GenerationChunk | None:
        """The next chunk, or None at the end; errors are domain errors."""
        try:
            # A lost replica is not retried: part of the text may be with the client.
            with ray_errors_as_domain(
                self._model,
                self._retry_after_s,
                f"model {self._model} lost its replica mid-generation; retry",
            ):
                async with asyncio.timeout(self._deadline.remaining_s()):
                    chunk: GenerationChunk = await anext(self._chunks)
                    return chunk
        except StopAsyncIteration:
            self._finished = True
            return None
        except TimeoutError:
            self.cancel()
            raise DeadlineExceededError(
                f"model {self._model} did not finish before the request's deadline; "
                "its generation was cancelled"
            ) from None
        except ServingError:
            self._finished = True  # the replica's generator has ended
            raise

    def cancel(self) -> None:
        if not self._finished:
            self._finished = True
            self._chunks.cancel()


class StreamedAnswer(ABC):
    """Accumulates one generation (text, token count, log-probabilities) and renders it,
    whole or chunk by chunk, in one API's shapes (completions here, chat in
    routers/chat.py)."""

    id_prefix = "cmpl"

    def __init__(self, model: str, prompt_tokens: int) -> None:
        self.id = f"{self.id_prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = 0
        self.parts: list[str] = []
        self.logprobs: list[TokenLogprob] = []
        self.finish_reason: FinishReason | None = None

    def add(self, chunk: GenerationChunk) -> None:
        self.parts.append(chunk.text)
        self.logprobs += chunk.logprobs
        self.completion_tokens = max(self.completion_tokens, chunk.completion_tokens)
        self.finish_reason = chunk.finish_reason or self.finish_reason

    def usage(self) -> CompletionUsage:
        return CompletionUsage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=self.prompt_tokens + self.completion_tokens,
        )

    def opening(self) -> Sequence[BaseModel]:
        """Chunks sent before any text."""
        return []

    @abstractmethod
    def response(self) -> BaseModel:
        """The whole answer (stream false)."""

    @abstractmethod
    def chunk(self, chunk: GenerationChunk) -> BaseModel:
        """The stream event of one generation chunk (already added)."""

    @abstractmethod
    def usage_chunk(self) -> BaseModel:
        """The last event before [DONE] when stream_options.include_usage."""


class Completion(StreamedAnswer):
    """POST /v1/completions' shapes."""

    def __init__(self, model: str, prompt_tokens: int, logprobs: bool = False) -> None:
        super().__init__(model, prompt_tokens)
        self.with_logprobs = logprobs
        self._offset = 0  # text_offset of the next streamed token

    def response(self) -> CompletionResponse:
        self._offset = 0
        return self._render(
            [
                CompletionChoice(
                    text="".join(self.parts),
                    logprobs=self._logprobs(self.logprobs),
                    finish_reason=self.finish_reason,
                )
            ],
            self.usage(),
        )

    def chunk(self, chunk: GenerationChunk) -> CompletionResponse:
        choice = CompletionChoice(
            text=chunk.text,
            logprobs=self._logprobs(chunk.logprobs),
            finish_reason=chunk.finish_reason,
        )
        return self._render([choice], None)

    def usage_chunk(self) -> CompletionResponse:
        return self._render([], self.usage())

    def _logprobs(self, tokens: list[TokenLogprob]) -> CompletionLogprobs | None:
        if not self.with_logprobs:
            return None
        offsets = []
        for t in tokens:
            offsets.append(self._offset)
            self._offset += len(t.token)
        return CompletionLogprobs(
            tokens=[t.token for t in tokens],
            token_logprobs=[t.logprob for t in tokens],
            top_logprobs=[dict(t.top) for t in tokens],
            text_offset=offsets,
        )

    def _render(
        self, choices: list[CompletionChoice], usage: CompletionUsage | None
    ) -> CompletionResponse:
        return CompletionResponse(
            id=self.id, created=self.created, model=self.model, choices=choices, usage=usage
        )


def sse(data: Any) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def _chunk_event(chunk: BaseModel) -> bytes:
    data = chunk.model_dump()
    # OpenAI's chunks carry no usage key unless stream_options asked for it.
    if data.get("usage") is None:
        data.pop("usage", None)
    return sse(data)


async def sse_events(
    stream: GenerationStream, completion: StreamedAnswer, include_usage: bool
) -> AsyncIterator[bytes]:
    """`data: {chunk}` per text delta, then `data: [DONE]`. An error after the stream has
    started cannot change the status any more: it becomes one `data: {"error": ...}`
    event (the body of the JSON error it would have been), then `data: [DONE]`."""
    try:
        for opening in completion.opening():
            yield _chunk_event(opening)
        while (chunk := await stream.next()) is not None:
            completion.add(chunk)
            if chunk.text or chunk.finish_reason or chunk.logprobs:
                yield _chunk_event(completion.chunk(chunk))
        if include_usage:
            yield _chunk_event(completion.usage_chunk())
    except Exception as exc:
        yield b"data: " + response_for(exc).body + b"\n\n"
    finally:
        # Also on disconnect: Serve cancels this task, or the server closes the generator.
        stream.cancel()
    yield DONE
