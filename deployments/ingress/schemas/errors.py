"""The one error body of every route: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong, for humans.")
    type: str = Field(description="Error class, as in the OpenAI API.")
    param: str | None = Field(None, description="The request field at fault, if any.")
    code: str = Field(description="Stable machine-readable code.")


class ErrorResponse(BaseModel):
    error: ErrorDetail
