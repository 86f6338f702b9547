"""Per-request deadlines: the client's X-Request-Timeout-Ms, capped by limits.max_deadline_s."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header

from deployments.ingress.model_client import Models

DEADLINE_HEADER = "X-Request-Timeout-Ms"


@dataclass(frozen=True)
class Deadline:
    budget_s: float
    expires_at: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "expires_at", time.monotonic() + self.budget_s)

    def remaining_s(self) -> float:
        return self.expires_at - time.monotonic()


async def request_deadline(  # async: see middleware.access.caller
    models: Models,
    timeout_ms: Annotated[
        int | None,
        Header(
            alias=DEADLINE_HEADER,
            ge=1,
            description="Give up after this many milliseconds (counted from when the "
            "ingress starts on the request): the model's work is cancelled and the answer "
            "is 504. Values above limits.max_deadline_s are lowered to it; without the "
            "header that limit is the deadline.",
        ),
    ] = None,
) -> Deadline:
    cap_ms = round(models.limits.max_deadline_s * 1000)
    # Capped as integers first: a client's 10**400 must not overflow a float.
    return Deadline(min(timeout_ms or cap_ms, cap_ms) / 1000)


RequestDeadline = Annotated[Deadline, Depends(request_deadline)]
