"""The Open Inference Protocol (KServe v2 REST) on the live cluster, spoken with plain
httpx: metadata from the manifests, inference equal to the typed routes' for a
predictor, a multiplexed model and an embedding model, the same scopes and metrics, and
errors in the protocol's own body. tests/integration/test_tritonclient.py speaks it with
Triton's own client."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.live_cluster import MODEL, LiveCluster
from tests.support.scrape import Samples, scrape, total, wait_until

IRIS = "iris-classifier"
TENANT = "tenant-2"
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def features(rows: list[list[float]], **extra: Any) -> dict[str, Any]:
    flat = [v for row in rows for v in row]
    tensor = {"name": "features", "shape": [len(rows), 4], "datatype": "FP32", "data": flat}
    return {"inputs": [tensor]} | extra


def typed(client: httpx.Client, model: str, rows: list[list[float]]) -> np.ndarray:
    r = client.post(f"/v1/models/{model}/predict", json={"inputs": {"features": rows}})
    assert r.status_code == 200, r.text
    return np.asarray(r.json()["outputs"]["probabilities"], dtype=np.float32)


def test_server_metadata_and_probes(client: httpx.Client, anonymous: httpx.Client) -> None:
    assert client.get("/v2").json()["name"] == "ray-serve-inference-cluster"
    assert anonymous.get("/v2/health/live").json() == {"live": True}
    assert anonymous.get("/v2/health/ready").json() == {"ready": True}
    assert anonymous.get("/v2").status_code == 401
    assert set(anonymous.get("/v2").json()) == {"error"}


@pytest.mark.parametrize("model", [IRIS, TENANT])
def test_predictor_metadata_and_readiness(client: httpx.Client, model: str) -> None:
    meta = client.get(f"/v2/models/{model}").json()
    assert meta == {
        "name": model,
        "versions": ["1"],
        "platform": meta["platform"],
        "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}],
    }
    assert meta["platform"] in ("pytorch_torchscript", "pytorch_torch_export")
    assert client.get(f"/v2/models/{model}/ready").json() == {"name": model, "ready": True}


@pytest.mark.parametrize("model", [IRIS, TENANT])
@pytest.mark.parametrize("nested", [False, True])
def test_infer_equals_the_typed_route(client: httpx.Client, model: str, nested: bool) -> None:
    body = features(ROWS, id="req-7")
    if nested:
        body["inputs"][0]["data"] = ROWS
    r = client.post(f"/v2/models/{model}/infer", json=body)
    assert r.status_code == 200, r.text
    assert int(r.headers["x-batch-size"]) >= 2 and "Server-Timing" in r.headers
    answer = r.json()
    assert answer["model_name"] == model and answer["id"] == "req-7"
    (out,) = answer["outputs"]
    assert (out["name"], out["datatype"], out["shape"]) == ("probabilities", "FP32", [2, 3])
    ours = np.asarray(out["data"], dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(ours, typed(client, model, ROWS), rtol=1e-6, atol=1e-7)


def test_outputs_selection(client: httpx.Client) -> None:
    r = client.post(
        f"/v2/models/{IRIS}/infer", json=features(ROWS, outputs=[{"name": "probabilities"}])
    )
    assert [o["name"] for o in r.json()["outputs"]] == ["probabilities"]
    r = client.post(f"/v2/models/{IRIS}/infer", json=features(ROWS, outputs=[{"name": "x"}]))
    assert r.status_code == 400 and "unknown output 'x'" in r.json()["error"]


def test_embedding_model_takes_bytes_and_answers_fp32(client: httpx.Client) -> None:
    meta = client.get(f"/v2/models/{MODEL}").json()
    assert meta["inputs"] == [{"name": "input", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"] == [{"name": "embedding", "datatype": "FP32", "shape": [-1, 384]}]
    texts = ["hello world", "Grüße aus Köln"]
    body = {"inputs": [{"name": "input", "shape": [2], "datatype": "BYTES", "data": texts}]}
    r = client.post(f"/v2/models/{MODEL}/infer", json=body)
    assert r.status_code == 200, r.text
    (out,) = r.json()["outputs"]
    assert out["shape"] == [2, 384] and out["datatype"] == "FP32"
    ours = np.asarray(out["data"], dtype=np.float32).reshape(2, 384)
    reference = client.post("/v1/embeddings", json={"input": texts, "model": MODEL}).json()
    theirs = np.asarray([d["embedding"] for d in reference["data"]], dtype=np.float32)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            features(ROWS) | {"inputs": [{**features(ROWS)["inputs"][0], "datatype": "UINT8"}]},
            "UINT8 is not supported",
        ),
        (features([[5.1, 3.5, 1.4]]), "needs 4 elements"),
        (
            features(ROWS) | {"inputs": [{**features(ROWS)["inputs"][0], "shape": [2, 3]}]},
            "does not match",
        ),
        ({"inputs": []}, "inputs"),
    ],
)
def test_bad_input_gets_the_protocols_400(client: httpx.Client, body: Any, says: str) -> None:
    r = client.post(f"/v2/models/{IRIS}/infer", json=body)
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"error"} and says in r.json()["error"]


def test_config_for_perf_analyzer(client: httpx.Client) -> None:
    config = client.get(f"/v2/models/{IRIS}/config").json()
    assert config["input"] == [{"name": "features", "data_type": "TYPE_FP32", "dims": [4]}]
    assert config["max_batch_size"] >= 1


def test_scopes_and_unknown_models(cluster: LiveCluster, client: httpx.Client) -> None:
    other = httpx.Client(base_url=cluster.base_url, headers=cluster.auth_headers("other-model"))
    with other:
        r = other.post(f"/v2/models/{IRIS}/infer", json=features(ROWS))
        assert r.status_code == 403 and set(r.json()) == {"error"}
    r = client.post("/v2/models/no-such-model/infer", json=features(ROWS))
    assert r.status_code == 404 and "not served" in r.json()["error"]
    r = client.get("/v2/models/tiny-gpt2")
    assert r.status_code == 404 and "generator" in r.json()["error"]


def test_infer_is_metered_by_model(cluster: LiveCluster, client: httpx.Client) -> None:
    want = {"model": IRIS, "application": "embeddings", "status": "200"}
    before = scrape(cluster, "ray_model_requests_total")
    for _ in range(3):
        assert client.post(f"/v2/models/{IRIS}/infer", json=features(ROWS)).status_code == 200

    def delta(samples: Samples) -> float:
        return total(samples, "ray_model_requests_total", **want) - total(
            before, "ray_model_requests_total", **want
        )

    after = wait_until(
        lambda: scrape(cluster, "ray_model_requests_total"), lambda s: delta(s) >= 3, 60
    )
    assert delta(after) >= 3
