"""HTTP answers of the routes that make one batched model call.

Its body, plus what every such call reports: the largest batch its inputs ran in
(``x-batch-size``) and where its time went (``Server-Timing``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request
from fastapi.responses import Response

from deployments.contracts import BatchedAnswer
from deployments.ingress import server_timing
from deployments.ingress.request_context import context_of

BATCH_SIZE_HEADER = "x-batch-size"

Answer = TypeVar("Answer", bound=BatchedAnswer)


async def answer(
    request: Request, call: Awaitable[Answer], render: Callable[[Answer], bytes]
) -> Response:
    """Await the model ``call`` (timing it) and answer with ``render`` of its result."""
    sent = time.perf_counter()
    result = await call
    call_s = time.perf_counter() - sent
    content = render(result)
    # After rendering, so the ingress's own span covers it.
    timing = server_timing.for_model_call(context_of(request.scope).received_at, call_s, result)
    return Response(
        content,
        media_type="application/json",
        headers={BATCH_SIZE_HEADER: str(result.batch_size), server_timing.HEADER: timing},
    )
