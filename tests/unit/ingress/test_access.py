"""The ingress's HTTP access control, on the real FastAPI app without a Ray cluster.

No model deployment is bound, so these requests stop at access control, body limits,
validation and the model lookup; the live-cluster tests cover the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from deployments.config import AppArgs
from deployments.ingress.deployment import create_app
from deployments.ingress.model_client import ModelClient
from deployments.security.access_control import AccessControl
from deployments.security.authenticator import Authenticator
from deployments.security.settings import Settings
from tests.support.credentials import AUDIENCE, ISSUER, JwtIssuer, issue_keys

MODEL = "m"
JSON = {"content-type": "application/json"}


def app_args(**overrides: Any) -> AppArgs:
    return AppArgs.model_validate(
        {"models": [{"name": MODEL, "source": "/unused"}], "limits": {"max_request_bytes": 1024}}
        | overrides
    )


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    return issue_keys(
        tmp_path / "keys.json",
        {"all": ["models:*"], "other": ["models:other"], "slow": ["slow"]},
    )


def client_for(args: AppArgs, tmp_path: Path, **settings: Any) -> TestClient:
    settings.setdefault("api_keys_file", tmp_path / "keys.json")
    client = ModelClient(args, {}, AccessControl.build(args, Settings(**settings)))
    return TestClient(create_app(client), raise_server_exceptions=False)


@pytest.fixture
def api(tmp_path: Path, keys: dict[str, str]) -> Iterator[TestClient]:
    args = app_args(
        rate_limits={"by_scope": {"slow": {"requests_per_s": 0.01, "burst": 2}}},
    )
    with client_for(args, tmp_path) as c:
        yield c


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    return body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/models"),
        ("GET", f"/v1/models/{MODEL}"),
        ("POST", "/v1/embeddings"),
        ("GET", "/v1/no-such-route"),  # deny by default: unknown paths are not probed
        ("GET", "/docs"),
        ("GET", "/openapi.json"),
    ],
)
def test_everything_but_probes_needs_credentials(api: TestClient, method: str, path: str) -> None:
    response = api.request(method, path, content=b"{not json", headers=JSON)
    assert error(response, 401)["code"] == "missing_credentials"
    assert response.headers["www-authenticate"] == 'Bearer realm="inference"'


def test_probes_are_public(api: TestClient) -> None:
    assert api.get("/healthz").status_code == 200


def test_docs_public_only_when_configured(tmp_path: Path, keys: dict[str, str]) -> None:
    with client_for(app_args(auth={"public_docs": True}), tmp_path) as c:
        assert c.get("/openapi.json").status_code == 200
        assert c.get("/docs").status_code == 200
        assert c.get("/v1/models").status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer rsk_not-a-key"},
        {"X-API-Key": "rsk_not-a-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer a.b.c"},
    ],
)
def test_bad_credentials_are_401_invalid_token(api: TestClient, headers: dict[str, str]) -> None:
    response = api.get("/v1/models", headers=headers)
    assert error(response, 401)["type"] == "authentication_error"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_either_header_carries_a_key(api: TestClient, keys: dict[str, str]) -> None:
    assert api.get("/v1/models", headers=bearer(keys["all"])).status_code == 200
    assert api.get("/v1/models", headers={"X-API-Key": keys["all"]}).status_code == 200
    # Swagger UI may send both; Authorization wins.
    both = {"X-API-Key": "rsk_wrong"} | bearer(keys["all"])
    assert api.get("/v1/models", headers=both).status_code == 200


def test_scopes_403_before_404(api: TestClient, keys: dict[str, str]) -> None:
    other = bearer(keys["other"])
    for response in (
        api.get(f"/v1/models/{MODEL}", headers=other),
        api.get("/v1/models/does-not-exist", headers=other),
        api.post("/v1/embeddings", json={"input": "x", "model": MODEL}, headers=other),
    ):
        assert error(response, 403)["code"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert api.get("/v1/models", headers=other).json() == {"object": "list", "data": []}
    everything = bearer(keys["all"])
    assert error(api.get("/v1/models/does-not-exist", headers=everything), 404)


def test_rate_limit_429_before_the_body_is_read(api: TestClient, keys: dict[str, str]) -> None:
    slow = bearer(keys["slow"])
    statuses = [api.get("/v1/models", headers=slow).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    response = api.post("/v1/embeddings", content=b"x" * 5000, headers=slow | JSON)
    assert error(response, 429)["code"] == "rate_limit_exceeded"
    assert int(response.headers["retry-after"]) == 100  # 1 token at 0.01/s


def test_body_checks_415_then_413(api: TestClient, keys: dict[str, str]) -> None:
    key = bearer(keys["all"])
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx"):
        response = api.post(
            "/v1/embeddings",
            content=b'{"input": "x"}',
            headers=key | {"content-type": content_type},
        )
        assert error(response, 415)["code"] == "unsupported_media_type"
    no_type = api.post("/v1/embeddings", content=b'{"input": "x"}', headers=key)
    assert error(no_type, 415)
    charset = {"content-type": "Application/JSON; charset=utf-8"}
    big = api.post("/v1/embeddings", content=b"x" * 2000, headers=key | charset)
    assert error(big, 413)["code"] == "payload_too_large"
    # No body: no media type to object to, so the request goes on to its 405.
    assert error(api.post("/v1/models", headers=key), 405)


def test_json_that_is_not_utf8_is_422_like_any_malformed_json(
    api: TestClient, keys: dict[str, str]
) -> None:
    body = b'{"input": "\xff\xfe", "model": "m"}'
    response = api.post("/v1/embeddings", content=body, headers=bearer(keys["all"]) | JSON)
    assert "not UTF-8" in error(response, 422)["message"]


def test_deadline_header_is_validated(api: TestClient, keys: dict[str, str]) -> None:
    body = {"input": "x", "model": MODEL}
    for value in ("0", "-5", "soon"):
        headers = bearer(keys["all"]) | {"X-Request-Timeout-Ms": value}
        response = api.post("/v1/embeddings", json=body, headers=headers)
        assert error(response, 422)["param"] == "header.X-Request-Timeout-Ms"


def test_jwt_bearer_tokens(tmp_path: Path, keys: dict[str, str]) -> None:
    issuer = JwtIssuer()
    env = issuer.write(tmp_path)
    settings = {
        "jwt_jwks_file": env["RSIC_JWT_JWKS_FILE"],
        "jwt_audience": AUDIENCE,
        "jwt_issuer": ISSUER,
    }
    with client_for(app_args(), tmp_path, **settings) as c:
        assert c.get("/v1/models", headers=bearer(issuer.token("RS256"))).status_code == 200
        narrow = bearer(issuer.token("ES256", scope="models:other"))
        assert error(c.get(f"/v1/models/{MODEL}", headers=narrow), 403)
        expired = c.get("/v1/models", headers=bearer(issuer.token(expires_in=-3600)))
        assert "expired" in error(expired, 401)["message"]
        assert c.get("/v1/models", headers=bearer(keys["all"])).status_code == 200


def test_without_jwt_settings_tokens_are_refused(api: TestClient) -> None:
    token = JwtIssuer().token("ES256")
    message = error(api.get("/v1/models", headers=bearer(token)), 401)["message"]
    assert "does not accept JWT" in message


def test_auth_off_only_when_configured(tmp_path: Path) -> None:
    with client_for(app_args(auth={"enabled": False}), tmp_path) as c:
        assert c.get(f"/v1/models/{MODEL}").status_code != 401
        assert c.get("/openapi.json").status_code == 200
    with pytest.raises(ValueError, match="no credentials are configured"):
        Authenticator.from_settings(Settings())


def test_openapi_declares_security_and_every_error(tmp_path: Path, keys: dict[str, str]) -> None:
    with client_for(app_args(), tmp_path) as c:
        spec = c.get("/openapi.json", headers=bearer(keys["all"])).json()
    assert spec["components"]["securitySchemes"] == {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key (`rsk_…`) or an OAuth2 JWT access token.",
        },
        "apiKey": {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "An API key (`rsk_…`).",
        },
    }
    embeddings = spec["paths"]["/v1/embeddings"]["post"]
    assert embeddings["security"] == [{"bearer": []}, {"apiKey": []}]
    assert set(embeddings["responses"]) == {
        "200", "401", "403", "404", "413", "415", "422", "429", "500", "503", "504"
    }  # fmt: skip
    assert "Retry-After" in embeddings["responses"]["429"]["headers"]
    assert "WWW-Authenticate" in embeddings["responses"]["401"]["headers"]
    for path in ("/healthz", "/readyz"):
        operation = spec["paths"][path]["get"]
        assert "security" not in operation and "401" not in operation["responses"]
