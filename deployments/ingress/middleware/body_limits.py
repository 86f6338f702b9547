"""Body checks enforced before the body is parsed: media type (415), size (413), UTF-8 (422)."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployments.config import RequestLimits
from deployments.errors import (
    InvalidInputError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from deployments.ingress.middleware.errors import speaks_v2
from deployments.ingress.request_context import context_of
from deployments.ingress.v2_tensors import BINARY_HEADER

METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
JSON = "application/json"


def is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == JSON


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _split_binary(scope: Scope, header_length: str, body: bytes) -> bytes:
    """The JSON header of a binary-tensor body; its tensors go to the request context,
    and the app sees a plain JSON request."""
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 <= length <= len(body):
        raise InvalidInputError(
            f"{BINARY_HEADER} must be the length of the JSON header (0 to {len(body)})"
        )
    context_of(scope).binary_tensors = body[length:]
    scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"content-type"] + [
        (b"content-type", JSON.encode())
    ]
    return body[:length]


class BodyLimitsMiddleware:
    """Rejects non-JSON bodies (415), bodies over the size limit (413) and JSON that is not
    UTF-8 (422, as any other malformed JSON).

    The size holds whether or not Content-Length is sent: the body is read (at most
    ``max_request_bytes``) before the app sees it, so a chunked upload cannot grow past the
    limit and the app never parses a partial body.
    """

    def __init__(self, app: ASGIApp, limits: RequestLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS_WITH_BODY:
            await self.app(scope, receive, send)
            return
        limits = self.limits
        headers = Headers(scope=scope)
        try:
            declared = int(headers.get("content-length", "0"))
        except ValueError:
            declared = 0
        has_body = declared > 0 or "chunked" in headers.get("transfer-encoding", "").lower()
        content_type = headers.get("content-type")
        # The Open Inference Protocol's body is JSON by definition, and Triton's clients
        # send no Content-Type: on /v2 a missing one means JSON (a wrong one is still 415).
        v2 = speaks_v2(scope)
        # Triton's binary tensor extension: a JSON header, then raw tensors (any type).
        binary = v2 and BINARY_HEADER in headers
        json_body = is_json(content_type) or ((content_type is None or binary) and v2)
        # Only a body has a media type: a bodiless request goes on to its 405 or 422.
        if has_body and limits.require_json and not json_body:
            raise UnsupportedMediaTypeError(f"the request body must be JSON (Content-Type: {JSON})")
        limit = limits.max_request_bytes
        too_large = PayloadTooLargeError(f"request body exceeds {limit} bytes")
        if declared > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                raise too_large
            chunks.append(body)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if binary:
            body = _split_binary(scope, headers[BINARY_HEADER], body)
        if has_body and json_body and not _is_utf8(body):
            # JSON is UTF-8 (RFC 8259); FastAPI would call anything else a 400 "error
            # parsing the body", unlike every other malformed JSON, which is a 422.
            raise InvalidInputError("request body is not valid JSON: it is not UTF-8 text")
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
