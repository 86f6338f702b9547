"""Request-size limit enforced before the body is parsed."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deployments.errors import PayloadTooLargeError


class BodySizeLimitMiddleware:
    """Rejects bodies over ``max_bytes`` with 413, whether or not Content-Length is sent.

    The body is read (at most ``max_bytes``) before the app sees it, so a chunked upload
    cannot grow past the limit and the app never parses a partial body.
    """

    def __init__(self, app: ASGIApp, max_bytes_getter: Any) -> None:
        self.app = app
        self.max_bytes_getter = max_bytes_getter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit: int = self.max_bytes_getter()
        too_large = PayloadTooLargeError(f"request body exceeds {limit} bytes", param=None)
        for name, value in scope.get("headers") or []:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
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
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
