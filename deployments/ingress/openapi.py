"""The one place the OpenAPI document is assembled, beyond what FastAPI derives per route.

Routes declare their error statuses with ``documented`` and a streamed 200 with
``EVENT_STREAM``. The security schemes (HTTPBearer and APIKeyHeader, which give /docs its
Authorize button) and the errors that every protected route, or every route with a body,
can answer are derived from the same AccessControl that enforces them, when the document
is first asked for, so the document cannot drift from what the replica does.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic.json_schema import models_json_schema

from deployments.config import RequestLimits
from deployments.ingress.middleware.errors import RETRY_AFTER, V2_STATUS, WWW_AUTHENTICATE
from deployments.ingress.schemas.errors import ErrorResponse
from deployments.ingress.schemas.v2 import V2Error
from deployments.security.access_control import API_KEY_HEADER, AccessControl

SCHEMES = {
    "bearer": HTTPBearer(description="An API key (`rsk_…`) or an OAuth2 JWT access token."),
    "apiKey": APIKeyHeader(name=API_KEY_HEADER, description="An API key (`rsk_…`)."),
}
REF_TEMPLATE = "#/components/schemas/{model}"
ERROR_BODY = {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model="ErrorResponse")}}}
V2_ERROR_BODY = {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model="V2Error")}}}


def _header(description: str, required: bool) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": {"type": "string"}}


# What each status carries besides the body.
DOCUMENTED_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {WWW_AUTHENTICATE: _header("The Bearer challenge (RFC 6750).", True)},
    403: {WWW_AUTHENTICATE: _header('Bearer challenge with error="insufficient_scope".', True)},
    429: {RETRY_AFTER: _header("Seconds until the client's rate limit admits a request.", True)},
    503: {RETRY_AFTER: _header("Seconds to wait, when the model is at capacity.", False)},
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=` entries for the given error statuses."""
    return {
        s: {"model": ErrorResponse, "description": HTTPStatus(s).phrase}
        | ({"headers": DOCUMENTED_HEADERS[s]} if s in DOCUMENTED_HEADERS else {})
        for s in statuses
    }


def event_stream(description: str, event: str) -> dict[int | str, dict[str, Any]]:
    """A streamed route's 200: a text/event-stream whose events carry ``event``."""
    return {
        200: {
            "description": description,
            # Before OpenAPI 3.2 (FastAPI writes 3.1) `schema` describes one event.
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "object",
                        "required": ["data"],
                        "properties": {
                            "data": {"type": "string", "description": event},
                            "event": {"type": "string"},
                            "id": {"type": "string"},
                            "retry": {"type": "integer"},
                        },
                    }
                }
            },
        }
    }


def _error_response(status: int, v2: bool = False) -> dict[str, Any]:
    entry = dict(documented(status)[status])
    entry.pop("model")
    return entry | {"content": V2_ERROR_BODY if v2 else ERROR_BODY}


def _add_error_schemas(schema: dict[str, Any]) -> None:
    _, top = models_json_schema(
        [(ErrorResponse, "serialization"), (V2Error, "serialization")], ref_template=REF_TEMPLATE
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in top.get("$defs", {}).items():
        components.setdefault(name, definition)


def secure(schema: dict[str, Any], access: AccessControl, limits: RequestLimits) -> None:
    _add_error_schemas(schema)
    if access.requires_credentials:
        schema["components"]["securitySchemes"] = {
            name: scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)
            for name, scheme in SCHEMES.items()
        }
    for path, operations in schema.get("paths", {}).items():
        v2 = path.startswith("/v2")  # the Open Inference Protocol's errors (errors.py)
        for operation in operations.values():
            extra: list[int] = []
            if not access.is_public(path):
                if access.requires_credentials:
                    # Either scheme will do (a list of alternatives, per OpenAPI).
                    operation["security"] = [{name: []} for name in SCHEMES]
                    extra.append(401)
                if access.limiter.may_throttle:
                    extra.append(429)
                extra.append(503)  # the replica is still starting
            if "requestBody" in operation:
                extra += [413, 415] if limits.require_json else [413]
            responses = operation.setdefault("responses", {})
            if v2:
                for old, new in V2_STATUS.items():
                    if responses.pop(str(old), None) is not None:
                        extra.append(new)
            for status in extra:
                responses.setdefault(str(status), _error_response(status, v2))
            operation["responses"] = dict(sorted(responses.items()))


def install(app: FastAPI, access: AccessControl, limits: RequestLimits) -> None:
    generate = app.openapi  # FastAPI's own; it caches its result in app.openapi_schema

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            secure(generate(), access, limits)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
