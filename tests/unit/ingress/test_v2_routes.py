"""The Open Inference Protocol's routes on the real FastAPI app without a Ray cluster:
who may call them, and that every error on /v2 has the protocol's body and status. No
model deployment is bound, so requests stop before a model call; the live-cluster tests
(tests/integration/test_v2.py, test_tritonclient.py) cover inference itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from deployments.config import AppArgs
from deployments.examples.iris_classifier import build
from deployments.ingress.deployment import create_app, model_routers
from deployments.ingress.model_client import ModelClient
from deployments.security.access_control import AccessControl
from deployments.security.settings import Settings
from tests.support.credentials import issue_keys

IRIS = "iris"


class NeverCalled:
    """Stands in for a model's DeploymentHandle where the request must stop before any
    model call (metadata from the manifest, input checks)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the model was called ({name})")


@pytest.fixture(scope="module")
def iris_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("repo") / IRIS, IRIS)


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    return issue_keys(tmp_path / "keys.json", {"all": ["models:*"], "other": ["models:other"]})


@pytest.fixture
def api(tmp_path: Path, keys: dict[str, str], iris_dir: Path) -> TestClient:
    args = AppArgs.model_validate(
        {
            "models": [{"name": "m", "source": "/unused"}],
            "predictors": [{"path": str(iris_dir)}],
            "limits": {"max_inputs_per_request": 3},
        }
    )
    access = AccessControl.build(args, Settings(api_keys_file=tmp_path / "keys.json"))
    handles: dict[str, Any] = {IRIS: NeverCalled()}
    app = create_app(ModelClient(args, handles, access), model_routers(args))
    return TestClient(app, raise_server_exceptions=False)


def v2_error(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str), body
    message: str = body["error"]
    return message


def test_probes_are_public(api: TestClient) -> None:
    assert api.get("/v2/health/live").json() == {"live": True}
    # No model deployment is bound here: not ready, but answered without credentials.
    assert api.get("/v2/health/ready").status_code in (200, 503)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2"),
        ("GET", "/v2/models/m"),
        ("GET", "/v2/models/m/ready"),
        ("POST", "/v2/models/m/infer"),
        ("GET", "/v2/no-such-route"),
    ],
)
def test_everything_else_needs_credentials_and_answers_the_protocols_error(
    api: TestClient, method: str, path: str
) -> None:
    message = v2_error(api.request(method, path), 401)
    assert "credentials" in message or "key" in message


def test_server_metadata(api: TestClient, keys: dict[str, str]) -> None:
    body = api.get("/v2", headers={"X-API-Key": keys["all"]}).json()
    assert body == {"name": "ray-serve-inference-cluster", "version": "0.1.0", "extensions": []}


def test_predictor_metadata_comes_from_the_manifest(api: TestClient, keys: dict[str, str]) -> None:
    response = api.get(f"/v2/models/{IRIS}", headers={"X-API-Key": keys["all"]})
    assert response.json() == {
        "name": IRIS,
        "versions": ["1"],
        "platform": "pytorch_torchscript",
        "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}],
    }


def features(**overrides: Any) -> dict[str, Any]:
    tensor = {"name": "features", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}
    return {"inputs": [tensor | overrides]}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (features(datatype="UINT8"), "UINT8 is not supported"),
        (features(datatype="FP64"), "the model takes FP32"),
        (features(datatype="NOPE"), "not a datatype"),
        (features(shape=[4]), "dimensions"),
        (features(shape=[1, 3]), "does not match"),
        (features(shape=[4, 4], data=[1] * 16), "1 to 3 are accepted"),
        (features(shape=[2, 4]), "needs 8 elements"),
        (features(data=[1, 2, 3, "4"]), "JSON number"),
        (features(data=[1, 2, 3, True]), "JSON number"),
        (features(data=[1, 2, 3, 11]), "outside"),  # the manifest's max is 10
        (features(data=[[1, 2], [3]]), "needs 4 elements"),  # nested is read flat
        (features(name="x"), "unknown input 'x'"),
        ({"inputs": features()["inputs"] * 2}, "given twice"),
        (features() | {"outputs": [{"name": "nope"}]}, "unknown output 'nope'"),
        (features(parameters={"binary_data_size": 16}), "both data and binary data"),
        (features(data=None), "has no data"),
        (features() | {"parameters": {"timeout": "soon"}}, "timeout"),
        (features() | {"extra": 1}, "extra"),
    ],
)
def test_bad_tensors_get_400_before_any_model_call(
    api: TestClient, keys: dict[str, str], body: dict[str, Any], says: str
) -> None:
    response = api.post(f"/v2/models/{IRIS}/infer", json=body, headers={"X-API-Key": keys["all"]})
    assert says in v2_error(response, 400)


def test_generators_and_unknown_models_are_404(api: TestClient, keys: dict[str, str]) -> None:
    headers = {"X-API-Key": keys["all"]}
    assert "not served" in v2_error(api.get("/v2/models/nope", headers=headers), 404)
    assert "not served" in v2_error(api.get("/v2/models/nope/ready", headers=headers), 404)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{", 400, "not valid JSON"),
        (b'{"inputs": []}', 400, "inputs"),
        (b'{"inputs": [{"name": "x", "datatype": "FP32", "data": [1]}]}', 400, "shape"),
        (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}', 404, "m"),
    ],
)
def test_bad_requests_get_the_protocols_400(
    api: TestClient, keys: dict[str, str], body: bytes, status: int, says: str
) -> None:
    headers = {"X-API-Key": keys["all"], "content-type": "application/json"}
    response = api.post("/v2/models/unknown-model/infer", content=body, headers=headers)
    if status == 404:
        assert "unknown-model" in v2_error(response, 404)
    else:
        assert says in v2_error(response, status)


def test_scope_is_checked_before_the_model_exists(api: TestClient, keys: dict[str, str]) -> None:
    headers = {"X-API-Key": keys["other"]}
    body = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [0, 1]}]}
    assert "m" in v2_error(api.post("/v2/models/m/infer", json=body, headers=headers), 403)
    assert v2_error(api.get("/v2/models/nope", headers=headers), 403)


def test_errors_elsewhere_keep_openais_body(api: TestClient, keys: dict[str, str]) -> None:
    response = api.post("/v1/embeddings", content=b"{", headers={"X-API-Key": keys["all"]})
    assert response.status_code in (415, 422)
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_the_document_promises_the_protocols_errors(api: TestClient, keys: dict[str, str]) -> None:
    document = api.get("/openapi.json", headers={"X-API-Key": keys["all"]}).json()
    infer = document["paths"]["/v2/models/{name}/infer"]["post"]
    assert "422" not in infer["responses"]
    for status in ("400", "401", "404", "413", "503"):
        ref = infer["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert ref.endswith("/V2Error"), (status, ref)
    assert "V2Error" in document["components"]["schemas"]
    live = document["paths"]["/v2/health/live"]["get"]
    assert "security" not in live


def test_a_body_without_content_type_is_json_on_v2_only(
    api: TestClient, keys: dict[str, str]
) -> None:
    """Triton's clients send no Content-Type; elsewhere a body without one is still 415."""
    headers = {"X-API-Key": keys["all"]}
    response = api.post(f"/v2/models/{IRIS}/infer", content=b'{"inputs": []}', headers=headers)
    assert "inputs" in v2_error(response, 400)
    text = headers | {"content-type": "text/plain"}
    assert v2_error(api.post(f"/v2/models/{IRIS}/infer", content=b"{}", headers=text), 415)
    response = api.post("/v1/embeddings", content=b"{}", headers=headers)
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("tail", "size", "says"),
    [
        (np.array([1, 2, 3, 11], "<f4").tobytes(), 16, "outside"),  # decoded: max is 10
        (np.array([1, 2, 3], "<f4").tobytes(), 12, "needs 16 bytes"),
        (np.array([1, 2, 3, 4], "<f4").tobytes(), 8, "belong to no input"),
        (np.array([1, 2], "<f4").tobytes(), 16, "ends before its size"),
    ],
)
def test_binary_tensors_are_split_off_and_checked(
    api: TestClient, keys: dict[str, str], tail: bytes, size: int, says: str
) -> None:
    """Triton's binary extension: JSON header, then raw little-endian tensors."""
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "features",
                    "shape": [1, 4],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": size},
                }
            ]
        }
    ).encode()
    headers = {
        "X-API-Key": keys["all"],
        "Inference-Header-Content-Length": str(len(header)),
        "content-type": "application/octet-stream",
    }
    response = api.post(f"/v2/models/{IRIS}/infer", content=header + tail, headers=headers)
    assert says in v2_error(response, 400)


def test_a_bad_binary_header_length_is_400(api: TestClient, keys: dict[str, str]) -> None:
    headers = {"X-API-Key": keys["all"], "Inference-Header-Content-Length": "999"}
    response = api.post(f"/v2/models/{IRIS}/infer", content=b"{}", headers=headers)
    assert "Inference-Header-Content-Length" in v2_error(response, 400)
