"""Probes, model listing, OpenAPI and `serve status` on the real cluster."""

from __future__ import annotations

import httpx

from deployments.config import AppArgs
from tests.support.live_cluster import MODEL, LiveCluster


def main_args(cluster: LiveCluster) -> AppArgs:
    return AppArgs.model_validate(cluster.config["applications"][0]["args"])


def test_serve_status_shows_apps_running(cluster: LiveCluster) -> None:
    apps = cluster.serve_status()["applications"]
    assert {name: app["status"] for name, app in apps.items()} == {
        "embeddings": "RUNNING",
        "tight": "RUNNING",
    }
    deployments = apps["embeddings"]["deployments"]
    args = main_args(cluster)
    assert set(deployments) == {
        "Ingress",
        *(m.name for m in args.models),
        *(p.spec.name for p in args.predictors),
        *(g.name for g in args.multiplexed),
        *(g.name for g in args.generators),
    }
    assert all(d["status"] == "HEALTHY" for d in deployments.values())


def test_healthz_and_readyz(cluster: LiveCluster, client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    models = dict.fromkeys(main_args(cluster).model_kinds(), "ready")
    assert MODEL in models
    assert ready.json() == {"status": "ready", "models": models}


def test_models_list_declares_the_contract(cluster: LiveCluster, client: httpx.Client) -> None:
    body = client.get("/v1/models").json()
    assert [c["id"] for c in body["data"]] == list(main_args(cluster).model_kinds())
    card = next(c for c in body["data"] if c["id"] == MODEL)
    assert card["id"] == MODEL and card["object"] == "model" and card["ready"] is True
    assert card["dimensions"] == 384 and card["device"] == "cpu"
    assert card["contract"]["outputs"][0]["shape"] == [-1, 384]
    assert card["contract"]["max_tokens_per_input"] == 256
    assert card == client.get(f"/v1/models/{MODEL}").json()
    assert client.get("/v1/models/nope").status_code == 404


def test_openapi_documents_routes_errors_and_security(anonymous: httpx.Client) -> None:
    # serve_config.yaml makes the docs public: they load without a key.
    spec = anonymous.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"/v1/embeddings", "/v1/models", "/v1/models/{model}", "/healthz", "/readyz"} <= set(
        paths
    )
    responses = paths["/v1/embeddings"]["post"]["responses"]
    assert {"200", "401", "403", "404", "413", "415", "422", "429", "500", "503", "504"} <= set(
        responses
    )
    error_ref = responses["422"]["content"]["application/json"]["schema"]["$ref"]
    assert error_ref.endswith("/ErrorResponse")
    assert "EmbeddingRequest" in spec["components"]["schemas"]
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    for path, method in [("/v1/embeddings", "post"), ("/v1/models", "get")]:
        assert paths[path][method]["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "security" not in paths["/healthz"]["get"]
    docs = anonymous.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
