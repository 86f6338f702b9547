"""OpenAPI additions that follow from the middleware, not from any one route.

The security schemes (HTTPBearer and APIKeyHeader, which give /docs its Authorize button)
and the errors that every protected route, or every route with a body, can answer are
derived from the same AccessControl that enforces them, when the document is first asked
for, so the document cannot drift from what the replica does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic.json_schema import models_json_schema

from deployments.access import API_KEY_HEADER, AccessControl
from deployments.config import RequestLimits
from deployments.http_errors import documented
from deployments.schemas import ErrorResponse

SCHEMES = {
    "bearer": HTTPBearer(description="An API key (`rsk_…`) or an OAuth2 JWT access token."),
    "apiKey": APIKeyHeader(name=API_KEY_HEADER, description="An API key (`rsk_…`)."),
}
REF_TEMPLATE = "#/components/schemas/{model}"
ERROR_BODY = {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model="ErrorResponse")}}}


def _error_response(status: int) -> dict[str, Any]:
    entry = dict(documented(status)[status])
    entry.pop("model")
    return entry | {"content": ERROR_BODY}


def _add_error_schemas(schema: dict[str, Any]) -> None:
    _, top = models_json_schema([(ErrorResponse, "serialization")], ref_template=REF_TEMPLATE)
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
            for status in extra:
                responses.setdefault(str(status), _error_response(status))
            operation["responses"] = dict(sorted(responses.items()))


def install(
    app: FastAPI, access: Callable[[], AccessControl], limits: Callable[[], RequestLimits]
) -> None:
    generate = app.openapi  # FastAPI's own; it caches its result in app.openapi_schema

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            secure(generate(), access(), limits())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
