"""Authentication, scopes and rate limits on the real cluster (main app, auth on)."""

from __future__ import annotations

import time

import httpx
import pytest

from deployments.security import api_keys
from tests.support.live_cluster import MODEL, TRICKLE_BURST, TRICKLE_RATE, LiveCluster
from tests.support.model_metrics import read, wait_for
from tests.support.scrape import Samples, total

EMBED = {"input": "secure by default", "model": MODEL}


def error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    code: str = response.json()["error"]["code"]
    return code


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/embeddings"),
        ("GET", "/v1/models"),
        ("GET", f"/v1/models/{MODEL}"),
        ("GET", "/v1/no-such-route"),
    ],
)
def test_without_credentials_everything_but_probes_is_401(
    anonymous: httpx.Client, method: str, path: str
) -> None:
    response = anonymous.request(method, path, json=EMBED if method == "POST" else None)
    assert error_code(response, 401) == "missing_credentials"
    assert response.headers["www-authenticate"].startswith("Bearer realm=")


def test_probes_and_public_docs_need_no_credentials(anonymous: httpx.Client) -> None:
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/readyz").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer rsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {"X-API-Key": "rsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
    ],
)
def test_invalid_credentials_are_401(anonymous: httpx.Client, headers: dict[str, str]) -> None:
    response = anonymous.post("/v1/embeddings", json=EMBED, headers=headers)
    assert error_code(response, 401) == "invalid_credentials"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_api_key_in_either_header(cluster: LiveCluster, anonymous: httpx.Client) -> None:
    key = cluster.keys["admin"]
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        response = anonymous.post("/v1/embeddings", json=EMBED, headers=headers)
        assert response.status_code == 200, response.text


def test_scope_without_the_model_is_403(cluster: LiveCluster, anonymous: httpx.Client) -> None:
    narrow = cluster.auth_headers("other-model")
    response = anonymous.post("/v1/embeddings", json=EMBED, headers=narrow)
    assert error_code(response, 403) == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert error_code(anonymous.get(f"/v1/models/{MODEL}", headers=narrow), 403)
    assert anonymous.get("/v1/models", headers=narrow).json()["data"] == []


@pytest.mark.parametrize("alg", ["ES256", "RS256", "HS256"])
def test_jwt_access_tokens(cluster: LiveCluster, anonymous: httpx.Client, alg: str) -> None:
    def call(token: str) -> httpx.Response:
        return anonymous.post(
            "/v1/embeddings", json=EMBED, headers={"Authorization": f"Bearer {token}"}
        )

    issuer = cluster.issuer
    assert call(issuer.token(alg, scope=f"models:{MODEL}")).status_code == 200
    assert error_code(call(issuer.token(alg, scope="models:another")), 403)
    for bad in (
        issuer.token(alg, expires_in=-3600),
        issuer.token(alg, aud="some-other-api"),
        issuer.token(alg, iss="https://attacker.invalid/"),
        issuer.token(alg, nbf=int(time.time()) + 3600),
    ):
        assert error_code(call(bad), 401) == "invalid_credentials"


def test_key_rotation_needs_no_restart(cluster: LiveCluster, anonymous: httpx.Client) -> None:
    path = cluster.keys_file
    key = api_keys.add_key(path, "rotated-in", ["models:*"])
    try:
        response = anonymous.get(f"/v1/models/{MODEL}", headers={"X-API-Key": key})
        assert response.status_code == 200, response.text
    finally:
        assert api_keys.revoke_key(path, "rotated-in")
    revoked = anonymous.get(f"/v1/models/{MODEL}", headers={"X-API-Key": key})
    assert error_code(revoked, 401) == "invalid_credentials"


def test_rate_limit_is_429_with_retry_after(cluster: LiveCluster, anonymous: httpx.Client) -> None:
    trickle = cluster.auth_headers("trickle")
    # A route that never reaches the model: the limiter runs before routing anyway.
    responses = [anonymous.get("/v1/models/unknown", headers=trickle) for _ in range(12)]
    statuses = [r.status_code for r in responses]
    print(f"12 requests at {TRICKLE_RATE}/s, burst {TRICKLE_BURST}: {statuses}")
    assert set(statuses) == {404, 429}
    # Each ingress replica has its own bucket: at most burst (+1 refill) per replica pass.
    replicas = 2  # serve_config.yaml: Ingress max_replicas
    assert statuses.count(404) <= replicas * (TRICKLE_BURST + 1)
    assert statuses[:TRICKLE_BURST].count(404) == TRICKLE_BURST
    limited = [r for r in responses if r.status_code == 429]
    for r in limited:
        assert error_code(r, 429) == "rate_limit_exceeded"
        assert 1 <= int(r.headers["retry-after"]) <= 1 / TRICKLE_RATE
    # Other clients are not affected.
    assert anonymous.get("/v1/models", headers=cluster.auth_headers()).status_code == 200


def test_rejections_are_counted_by_the_outermost_metrics(
    cluster: LiveCluster, anonymous: httpx.Client
) -> None:
    app = {"application": "embeddings"}
    before = read(cluster)
    assert anonymous.post("/v1/embeddings", json=EMBED).status_code == 401
    narrow = cluster.auth_headers("other-model")
    assert anonymous.post("/v1/embeddings", json=EMBED, headers=narrow).status_code == 403

    def delta(samples: Samples, status: str) -> float:
        name = "ray_model_requests_total"
        return total(samples, name, status=status, **app) - total(
            before, name, status=status, **app
        )

    after = wait_for(cluster, lambda s: delta(s, "401") >= 1 and delta(s, "403") >= 1)
    assert delta(after, "401") >= 1 and delta(after, "403") >= 1
