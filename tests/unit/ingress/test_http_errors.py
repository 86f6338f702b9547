"""Every error class maps to its status code and an OpenAI-style body, in one place."""

from __future__ import annotations

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from deployments.errors import (
    AuthenticationError,
    DeadlineExceededError,
    InputTooLongError,
    InvalidInputError,
    MissingCredentialsError,
    ModelNotFoundError,
    ModelUnavailableError,
    OverloadedError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    UnsupportedMediaTypeError,
)
from deployments.ingress.middleware import errors as http_errors


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (MissingCredentialsError("who?"), 401, "missing_credentials"),
        (AuthenticationError("bad key"), 401, "invalid_credentials"),
        (PermissionDeniedError("no", required_scope="models:m"), 403, "insufficient_scope"),
        (ModelNotFoundError("m"), 404, "model_not_found"),
        (UnsupportedMediaTypeError("xml"), 415, "unsupported_media_type"),
        (RateLimitedError("slow down", retry_after_s=4), 429, "rate_limit_exceeded"),
        (DeadlineExceededError("late"), 504, "deadline_exceeded"),
        (InvalidInputError("bad"), 422, "invalid_input"),
        (InputTooLongError("long"), 422, "input_too_long"),
        (PayloadTooLargeError("big"), 413, "payload_too_large"),
        (OverloadedError("busy", retry_after_s=7), 503, "overloaded"),
        (ModelUnavailableError("down"), 503, "model_unavailable"),
        (RuntimeError("secret detail"), 500, "internal_error"),
    ],
)
def test_status_and_body(exc: Exception, status: int, code: str) -> None:
    response = http_errors.response_for(exc)
    body = orjson.loads(response.body)
    assert response.status_code == status
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    assert "secret detail" not in bytes(response.body).decode()


def test_overload_sets_retry_after() -> None:
    assert (
        http_errors.response_for(OverloadedError("x", retry_after_s=7)).headers["retry-after"]
        == "7"
    )


def test_challenges_and_retry_after_headers() -> None:
    missing = http_errors.response_for(MissingCredentialsError("x")).headers
    assert missing["www-authenticate"] == 'Bearer realm="inference"'
    invalid = http_errors.response_for(AuthenticationError("x")).headers
    assert invalid["www-authenticate"] == 'Bearer realm="inference", error="invalid_token"'
    denied = http_errors.response_for(PermissionDeniedError("x", required_scope="s")).headers
    assert 'error="insufficient_scope"' in denied["www-authenticate"]
    limited = http_errors.response_for(RateLimitedError("x", retry_after_s=4)).headers
    assert limited["retry-after"] == "4"


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("Traceback: password=hunter2")

    @app.post("/echo")
    async def echo(n: int) -> int:
        return n

    http_errors.install(app)
    return app


def test_unexpected_exception_is_500_without_stack_trace() -> None:
    response = TestClient(_app(), raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "hunter2" not in response.text and "Traceback" not in response.text


def test_framework_errors_use_the_same_body() -> None:
    client = TestClient(_app())
    not_found = client.get("/nope")
    wrong_method = client.get("/echo")
    invalid = client.post("/echo?n=abc")
    assert (not_found.status_code, wrong_method.status_code, invalid.status_code) == (
        404,
        405,
        422,
    )
    for response in (not_found, wrong_method, invalid):
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert invalid.json()["error"]["param"] == "query.n"
