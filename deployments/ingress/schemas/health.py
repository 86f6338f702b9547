"""Bodies of the liveness and readiness probes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    models: dict[str, Literal["ready", "unavailable"]] = Field(
        description="Per model deployment: whether it answered within the timeout."
    )
