"""Reading a generator deployment's stream within a request's deadline, and writing it
out as OpenAI-style Server-Sent Events.

Ingress side: no torch. Every way the read can end early cancels the replica's
generator, so no token is computed for a caller that is gone.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from ray.serve.handle import DeploymentResponseGenerator

from deployments.contracts import FinishReason, GenerationChunk
from deployments.errors import DeadlineExceededError, ServingError
from deployments.ingress.deadline import Deadline
from deployments.ingress.middleware.errors import response_for
from deployments.ingress.model_client import ray_errors_as_domain
from deployments.ingress.schemas.completions import (
    CompletionChoice,
    CompletionResponse,
    CompletionUsage,
)

logger = logging.getLogger("ray.serve")

DONE = b"data: [DONE]\n\n"


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


class Completion:
    """Accumulates one completion and renders it whole or as stream chunks."""

    def __init__(self, model: str, prompt_tokens: int) -> None:
        self.id = f"cmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = 0
        self.parts: list[str] = []
        self.finish_reason: FinishReason | None = None

    def add(self, chunk: GenerationChunk) -> None:
        self.parts.append(chunk.text)
        self.completion_tokens = max(self.completion_tokens, chunk.completion_tokens)
        self.finish_reason = chunk.finish_reason or self.finish_reason

    def usage(self) -> CompletionUsage:
        return CompletionUsage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=self.prompt_tokens + self.completion_tokens,
        )

    def response(self) -> CompletionResponse:
        return self._render(
            [CompletionChoice(text="".join(self.parts), finish_reason=self.finish_reason)],
            self.usage(),
        )

    def chunk(self, text: str, finish_reason: FinishReason | None) -> CompletionResponse:
        return self._render([CompletionChoice(text=text, finish_reason=finish_reason)], None)

    def usage_chunk(self) -> CompletionResponse:
        return self._render([], self.usage())

    def _render(
        self, choices: list[CompletionChoice], usage: CompletionUsage | None
    ) -> CompletionResponse:
        return CompletionResponse(
            id=self.id, created=self.created, model=self.model, choices=choices, usage=usage
        )


def sse(data: Any) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def _chunk_event(chunk: CompletionResponse) -> bytes:
    # OpenAI's chunks carry no usage key unless stream_options asked for it.
    return sse(
        chunk.model_dump(exclude_none=chunk.usage is None, exclude={"choices"})
        | {"choices": [c.model_dump() for c in chunk.choices]}
    )


async def sse_events(
    stream: GenerationStream, completion: Completion, include_usage: bool
) -> AsyncIterator[bytes]:
    """`data: {chunk}` per text delta, then `data: [DONE]`. An error after the stream has
    started cannot change the status any more: it becomes one `data: {"error": ...}`
    event (the body of the JSON error it would have been), then `data: [DONE]`."""
    try:
        while (chunk := await stream.next()) is not None:
            completion.add(chunk)
            if chunk.text or chunk.finish_reason:
                yield _chunk_event(completion.chunk(chunk.text, chunk.finish_reason))
        if include_usage:
            yield _chunk_event(completion.usage_chunk())
    except Exception as exc:
        yield b"data: " + response_for(exc).body + b"\n\n"
    finally:
        # Also on disconnect: Serve cancels this task, or the server closes the generator.
        stream.cancel()
    yield DONE
