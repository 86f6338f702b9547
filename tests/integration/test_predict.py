"""POST /v1/models/<name>/predict on the real cluster: models from the model repository,
typed by their manifests, batched, guarded, and multiplexed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from functools import cache

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_iris

from deployments.model_manifest import load_model_dir
from deployments.models.predictor.torch_artifact import LoadedModel
from tests.support.live_cluster import MODEL, ROOT, LiveCluster
from tests.support.scrape import Samples, scrape, total, wait_until
from tests.support.timing import assert_consistent_server_timing

IRIS = "iris-classifier"
TENANTS = [f"tenant-{n}" for n in range(4)]
CLASSES = ["setosa", "versicolor", "virginica"]
REPOSITORY = ROOT / "model_repository"


def path(model: str) -> str:
    return f"/v1/models/{model}/predict"


@cache
def local(model_dir: str) -> LoadedModel:
    """The same artifact, run in this process: the reference answers."""
    return LoadedModel(load_model_dir(REPOSITORY / model_dir))


def flowers() -> np.ndarray:
    return load_iris().data.astype(np.float32)


def predict(client: httpx.Client, model: str, rows: list[list[float]]) -> httpx.Response:
    return client.post(path(model), json={"inputs": {"features": rows}})


def test_predictions_match_the_model_run_in_process(client: httpx.Client) -> None:
    x = flowers()
    r = predict(client, IRIS, x.tolist())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == IRIS
    ours = np.array(body["outputs"]["probabilities"], dtype=np.float32)
    (ref,) = local(IRIS).run([x])
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    assert body["labels"]["probabilities"] == [CLASSES[i] for i in ref.argmax(1)]
    # The example model is a real classifier, not noise.
    assert (ref.argmax(1) == load_iris().target).mean() > 0.95


@pytest.mark.parametrize("model", [IRIS, TENANTS[0]])
def test_server_timing_accounts_for_the_request(client: httpx.Client, model: str) -> None:
    r = predict(client, model, flowers()[:3].tolist())
    assert r.status_code == 200, r.text
    assert_consistent_server_timing(r.headers)


def test_torch_export_artifact_predicts_like_torchscript() -> None:
    x = flowers()
    (scripted,) = local(IRIS).run([x])
    (exported,) = local("iris-export").run([x])
    np.testing.assert_allclose(exported, scripted, rtol=1e-5, atol=1e-6)


def test_rows_are_batched_across_concurrent_requests(cluster: LiveCluster) -> None:
    x = flowers()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=cluster.base_url, headers=cluster.auth_headers(), timeout=60
        ) as c:
            return await asyncio.gather(
                *(
                    c.post(path(IRIS), json={"inputs": {"features": [x[i].tolist()]}})
                    for i in range(48)
                )
            )

    responses = asyncio.run(burst())
    assert all(r.status_code == 200 for r in responses), {r.status_code for r in responses}
    sizes = [int(r.headers["x-batch-size"]) for r in responses]
    print(f"batch sizes seen by 48 concurrent one-row requests: max {max(sizes)}")
    assert max(sizes) > 1
    (ref,) = local(IRIS).run([x[:48]])
    got = np.array([r.json()["outputs"]["probabilities"][0] for r in responses], np.float32)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"inputs": {"features": [[5.1, 3.5, 1.4]]}}, "inputs.features.0"),
        ({"inputs": {"features": [[*ROW, 1.0]]}}, "inputs.features.0"),
        ({"inputs": {"features": [5.1, 3.5, 1.4, 0.2]}}, "inputs.features.0"),
        ({"inputs": {"features": [[5.1, "3.5", 1.4, 0.2]]}}, "inputs.features.0.1"),
        ({"inputs": {"features": [[5.1, True, 1.4, 0.2]]}}, "inputs.features.0.1"),
        ({"inputs": {"features": [[5.1, 3.5, 11.0, 0.2]]}}, "inputs.features.0.2"),
        ({"inputs": {"features": [[5.1, 3.5, -1.0, 0.2]]}}, "inputs.features.0.2"),
        ({"inputs": {"features": [ROW] * 513}}, "inputs.features"),
        ({"inputs": {"features": []}}, "inputs.features"),
        ({"inputs": {}}, "inputs.features"),
        ({"inputs": {"features": [ROW], "extra": [ROW]}}, "inputs.extra"),
        ({"features": [ROW]}, "inputs"),
    ],
)
def test_contract_violations_get_422(client: httpx.Client, body: dict, param: str) -> None:
    r = client.post(path(IRIS), json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_request"
    assert error["param"] == param, error


def test_non_finite_numbers_get_422(client: httpx.Client) -> None:
    for token in ("NaN", "Infinity", "-Infinity", "1e999"):
        raw = '{"inputs": {"features": [[5.1, 3.5, 1.4, TOKEN]]}}'.replace("TOKEN", token)
        r = client.post(path(IRIS), content=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (token, r.text)


def test_unknown_or_wrong_kind_model_is_404(client: httpx.Client) -> None:
    for model in ("no-such-model", MODEL):
        r = predict(client, model, [ROW])
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "model_not_found"


def test_auth_401_and_403(cluster: LiveCluster, anonymous: httpx.Client) -> None:
    assert predict(anonymous, IRIS, [ROW]).status_code == 401
    other = cluster.auth_headers("other-model")
    for body in ({"inputs": {"features": [ROW]}}, {"inputs": {"features": "junk"}}):
        r = anonymous.post(path(IRIS), json=body, headers=other)
        assert r.status_code == 403, r.text  # scope first, whatever the body
        assert r.json()["error"]["code"] == "insufficient_scope"


def test_openapi_has_each_models_schema(client: httpx.Client) -> None:
    doc = client.get("/openapi.json").json()
    for model in (IRIS, *TENANTS):
        assert "post" in doc["paths"][path(model)], model
    op = doc["paths"][path(IRIS)]["post"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    request = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    inputs_ref = request["properties"]["inputs"]["$ref"].rsplit("/", 1)[1]
    features = doc["components"]["schemas"][inputs_ref]["properties"]["features"]
    assert features["maxItems"] == 512 and features["minItems"] == 1
    row = features["items"]
    assert row["minItems"] == row["maxItems"] == 4
    assert row["items"] == {"type": "number", "minimum": 0.0, "maximum": 10.0}
    assert {"403", "422"} <= set(op["responses"])
    resp_ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    response = doc["components"]["schemas"][resp_ref.rsplit("/", 1)[1]]
    assert {"model", "outputs", "labels"} <= set(response["properties"])


def test_models_list_shows_predictors_with_contracts(client: httpx.Client) -> None:
    cards = {c["id"]: c for c in client.get("/v1/models").json()["data"]}
    for model in (IRIS, *TENANTS):
        card = cards[model]
        assert card["kind"] == "predictor" and card["ready"], card
        contract = card["contract"]
        assert contract["inputs"][0] == {
            "name": "features",
            "datatype": "float32",
            "shape": [-1, 4],
            "description": "sepal length, sepal width, petal length, petal width (cm)",
        }
        assert contract["outputs"][0]["shape"] == [-1, 3]
    assert cards[IRIS]["batching"] == {"max_batch_size": 64, "batch_wait_timeout_s": 0.01}


# --- multiplexing ---------------------------------------------------------------------------

MUX_PREFIXES = ("ray_multiplexed_", "ray_serve_multiplexed_", "ray_serve_num_multiplexed")


def test_tenants_load_evict_and_reload_correctly(
    cluster: LiveCluster, client: httpx.Client
) -> None:
    x = flowers()[::10]
    before = scrape(cluster, MUX_PREFIXES)
    # Two fit in a replica (max_models_per_replica: 2), so each round evicts one.
    order = ["tenant-0", "tenant-1", "tenant-2", "tenant-0", "tenant-3", "tenant-1"]
    for model in order:
        r = predict(client, model, x.tolist())
        assert r.status_code == 200, (model, r.text)
        (ref,) = local(f"tenants/{model}").run([x])
        got = np.array(r.json()["outputs"]["probabilities"], np.float32)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6, err_msg=model)
    # Rotated labels: the tenants really are different models.
    firsts = {
        m: predict(client, m, x[:1].tolist()).json()["labels"]["probabilities"][0]
        for m in TENANTS[:3]
    }
    assert len(set(firsts.values())) == 3, firsts

    def delta(samples: Samples, name: str, **labels: str) -> float:
        return total(samples, name, **labels) - total(before, name, **labels)

    deadline = time.monotonic() + 60
    while True:
        after = scrape(cluster, MUX_PREFIXES)
        loads = {m: delta(after, "ray_multiplexed_model_loads_total", model=m) for m in TENANTS}
        unloads = delta(after, "ray_multiplexed_model_unloads_total")
        if (loads["tenant-0"] >= 2 and unloads >= 4) or time.monotonic() > deadline:
            break
        time.sleep(2)
    ray_unloads = delta(after, "ray_serve_multiplexed_models_unload_counter_total")
    load_obs = delta(after, "ray_multiplexed_model_load_seconds_count")
    print(f"multiplex: loads {loads}, unloads {unloads}, Ray's unload counter {ray_unloads}")
    # tenant-0 was evicted by tenant-2 and loaded again; every call after the first two
    # evicted the least recently used model.
    assert loads["tenant-0"] >= 2 and loads["tenant-3"] >= 1
    assert unloads >= 4 and ray_unloads >= 4
    assert load_obs >= sum(loads.values())


def test_readme_bring_your_own_model_example(cluster: LiveCluster) -> None:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Bring your own model", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "no bash block in README's Bring your own model section"
    command = block.group(1).replace("\\\n", " ").strip().splitlines()[0]
    command = command.replace("127.0.0.1:8000", f"127.0.0.1:{cluster.http_port}")
    env = os.environ | {"API_KEY": cluster.keys["admin"]}
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=True, env=env
    )
    body = json.loads(done.stdout)
    assert body["labels"] == {"probabilities": ["setosa", "virginica"]}
    assert len(body["outputs"]["probabilities"]) == 2


def test_deadline_cancels_with_504(client: httpx.Client) -> None:
    r = client.post(
        path(IRIS),
        json={"inputs": {"features": [ROW] * 512}},
        headers={"X-Request-Timeout-Ms": "1"},
    )
    assert r.status_code == 504, r.text
    assert r.json()["error"]["code"] == "deadline_exceeded"


def test_requests_and_batches_are_metered_by_model(
    cluster: LiveCluster, client: httpx.Client
) -> None:
    before = scrape(cluster, "ray_model_")
    for _ in range(3):
        assert predict(client, IRIS, [ROW]).status_code == 200
    assert predict(client, "no-such-model", [ROW]).status_code == 404
    want = {"model": IRIS, "application": "embeddings"}

    def delta(samples: Samples, name: str) -> float:
        return total(samples, name, **want) - total(before, name, **want)

    after = wait_until(
        lambda: scrape(cluster, "ray_model_"),
        lambda s: (
            delta(s, "ray_model_requests_total") >= 3 and delta(s, "ray_model_items_total") >= 3
        ),
        timeout=60,
    )
    ok, rows = (
        delta(after, "ray_model_requests_total"),
        delta(after, "ray_model_items_total"),
    )
    assert ok >= 3 and rows >= 3, (ok, rows)
    # A model id a client made up never becomes a label value.
    assert not any(("model", "no-such-model") in lbls for _, lbls in after)
