"""The one place where errors become HTTP responses (OpenAI-style JSON bodies).

Every exception that reaches the HTTP layer is a domain error (``deployments.errors``;
Ray's are translated into those by ``ingress.model_client``) or FastAPI's own; each is
mapped here to a status code by one table. Anything unknown becomes a 500 without a
stack trace.

The body is chosen by the request's path: OpenAI's ``{"error": {"message", "type",
"param", "code"}}`` everywhere but under /v2, where the Open Inference Protocol's routes
answer in its own ``{"error": "<message>"}``, and bad input (422 elsewhere) is its 400.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from deployments.errors import (
    AuthenticationError,
    DeadlineExceededError,
    InvalidInputError,
    MissingCredentialsError,
    ModelNotFoundError,
    ModelUnavailableError,
    OverloadedError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServingError,
    UnsupportedMediaTypeError,
)
from deployments.ingress.request_context import context_of
from deployments.ingress.route_path import route_path

logger = logging.getLogger("ray.serve")

# Most specific class first: the first isinstance match wins.
STATUS_BY_ERROR: list[tuple[type[ServingError], int]] = [
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (ModelNotFoundError, 404),
    (PayloadTooLargeError, 413),
    (UnsupportedMediaTypeError, 415),
    (InvalidInputError, 422),
    (RateLimitedError, 429),
    (OverloadedError, 503),
    (ModelUnavailableError, 503),
    (DeadlineExceededError, 504),
]

ERROR_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
    504: "timeout_error",
}

# RFC 6750 §3: the challenge that tells a client which scheme to use, and what went wrong.
REALM = 'Bearer realm="inference"'
WWW_AUTHENTICATE = "WWW-Authenticate"
RETRY_AFTER = "Retry-After"
# The Open Inference Protocol's routes (routers/v2.py): their own error body and 400.
V2_PREFIX = "/v2"
V2_STATUS = {422: 400}


def error_body(status: int, message: str, code: str, param: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": ERROR_TYPE_BY_STATUS.get(status, "server_error"),
            "param": param,
            "code": code,
        }
    }


def error_response(
    status: int,
    message: str,
    code: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(status, message, code, param), status, headers=headers)


def speaks_v2(scope: Scope | None) -> bool:
    if scope is None or scope.get("type") != "http":
        return False
    path = route_path(scope)
    return path == V2_PREFIX or path.startswith(V2_PREFIX + "/")


def render_error(
    scope: Scope | None,
    status: int,
    message: str,
    code: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The error in the body of the protocol ``scope``'s path speaks (OpenAI's without a
    scope), its ``code`` recorded for the request metrics."""
    if scope is not None:
        context_of(scope).error_code = code
    if speaks_v2(scope):
        return JSONResponse({"error": message}, V2_STATUS.get(status, status), headers=headers)
    return error_response(status, message, code, param, headers)


def _headers_for(exc: ServingError) -> dict[str, str] | None:
    if isinstance(exc, OverloadedError | RateLimitedError):
        return {RETRY_AFTER: str(exc.retry_after_s)}
    if isinstance(exc, MissingCredentialsError):
        return {WWW_AUTHENTICATE: REALM}
    if isinstance(exc, AuthenticationError):
        return {WWW_AUTHENTICATE: f'{REALM}, error="invalid_token"'}
    if isinstance(exc, PermissionDeniedError):
        return {WWW_AUTHENTICATE: f'{REALM}, error="insufficient_scope"'}
    return None


def response_for(
    exc: BaseException, request_id: str = "", scope: Scope | None = None
) -> JSONResponse:
    """``exc`` as the response of the request ``scope`` (OpenAI's body without one)."""
    if isinstance(exc, ServingError):
        status = next((s for cls, s in STATUS_BY_ERROR if isinstance(exc, cls)), 500)
        return render_error(scope, status, exc.message, exc.code, exc.param, _headers_for(exc))
    logger.error("unhandled error (request %s)", request_id, exc_info=exc)
    return render_error(scope, 500, "internal server error", "internal_error")


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    first = exc.errors()[0] if exc.errors() else {}
    if first.get("type") == "json_invalid":
        return (
            f"request body is not valid JSON ({first.get('ctx', {}).get('error', 'parse error')})",
            None,
        )
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    where = f"{param}: " if param else ""
    return f"{where}{first.get('msg', 'invalid request')}", param


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message, param = _validation_message(exc)
    return render_error(request.scope, 422, message, "invalid_request", param)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "error"
    message = exc.detail if isinstance(exc.detail, str) else phrase
    code = phrase.lower().replace(" ", "_")
    return render_error(
        request.scope, exc.status_code, message, code, headers=dict(exc.headers or {})
    )


class ErrorMiddleware:
    """Turns any exception that escapes a route into a mapped JSON error response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            headers = dict(scope.get("headers") or [])
            request_id = headers.get(b"x-request-id", b"").decode("latin-1")
            response = response_for(exc, request_id, scope)
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_middleware(ErrorMiddleware)
