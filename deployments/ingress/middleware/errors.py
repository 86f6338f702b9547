"""The one place where errors become HTTP responses (OpenAI-style JSON bodies).

Every exception that reaches the HTTP layer is a domain error (``deployments.errors``;
Ray's are translated into those by ``ingress.model_client``) or FastAPI's own; each is
mapped here to a status code by one table. Anything unknown becomes a 500 without a
stack trace.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
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


def response_for(exc: BaseException, request_id: str = "") -> JSONResponse:
    if isinstance(exc, ServingError):
        status = next((s for cls, s in STATUS_BY_ERROR if isinstance(exc, cls)), 500)
        return error_response(status, exc.message, exc.code, exc.param, _headers_for(exc))
    logger.error("unhandled error (request %s)", request_id, exc_info=exc)
    return error_response(500, "internal server error", "internal_error")


def error_code_of(response: JSONResponse) -> str:
    code: str = orjson.loads(response.body)["error"]["code"]
    return code


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
    context_of(request.scope).error_code = "invalid_request"
    return error_response(422, message, "invalid_request", param)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = "error"
    message = exc.detail if isinstance(exc.detail, str) else phrase
    code = phrase.lower().replace(" ", "_")
    context_of(request.scope).error_code = code
    return error_response(exc.status_code, message, code, headers=dict(exc.headers or {}))


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
            response = response_for(exc, request_id)
            context_of(scope).error_code = error_code_of(response)
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_middleware(ErrorMiddleware)
