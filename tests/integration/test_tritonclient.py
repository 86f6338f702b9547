"""Triton's own Python client (``tritonclient[http]``), unchanged, against the live
cluster's Open Inference Protocol routes: server and model readiness, metadata, and
inference with numpy arrays whose results equal the typed predict route's.

Both JSON tensors (``binary_data=False``) and the client's default, Triton's binary
tensor extension, are tested; so is Triton's ``perf_analyzer``, where its binary runs.
Skips, saying why, without the package (the dev extra installs it) or the binary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.live_cluster import MODEL, ROOT, LiveCluster

triton = pytest.importorskip(
    "tritonclient.http", reason="tritonclient[http] is not installed (dev extra)"
)
triton_utils = pytest.importorskip("tritonclient.utils")

IRIS = "iris-classifier"
ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]], np.float32)


@pytest.fixture
def triton_client(cluster: LiveCluster) -> Any:
    client = triton.InferenceServerClient(url=cluster.base_url.removeprefix("http://"))
    try:
        yield client
    finally:
        client.close()


def test_server_and_models_are_ready(triton_client: Any, cluster: LiveCluster) -> None:
    auth = cluster.auth_headers()
    assert triton_client.is_server_live()  # the probes need no key
    assert triton_client.is_server_ready()
    assert triton_client.is_model_ready(IRIS, headers=auth)
    assert triton_client.is_model_ready(MODEL, headers=auth)
    assert triton_client.get_server_metadata(headers=auth)["name"]


def test_model_metadata(triton_client: Any, cluster: LiveCluster) -> None:
    meta = triton_client.get_model_metadata(IRIS, headers=cluster.auth_headers())
    assert meta["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}]
    assert meta["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]


def test_infer_with_numpy_equals_the_typed_route(
    triton_client: Any, cluster: LiveCluster, client: httpx.Client
) -> None:
    tensor = triton.InferInput("features", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS, binary_data=False)
    wanted = triton.InferRequestedOutput("probabilities", binary_data=False)
    result = triton_client.infer(
        IRIS, [tensor], outputs=[wanted], request_id="t-1", headers=cluster.auth_headers()
    )
    probabilities = result.as_numpy("probabilities")
    assert probabilities.dtype == np.float32 and probabilities.shape == (3, 3)
    assert result.get_response()["id"] == "t-1"
    typed = client.post(
        f"/v1/models/{IRIS}/predict", json={"inputs": {"features": ROWS.tolist()}}
    ).json()
    np.testing.assert_allclose(probabilities, typed["outputs"]["probabilities"], rtol=1e-6)


def test_embeddings_as_bytes(triton_client: Any, cluster: LiveCluster) -> None:
    texts = np.array(["hello world", "Grüße aus Köln"], dtype=np.object_)
    tensor = triton.InferInput("input", [2], "BYTES")
    tensor.set_data_from_numpy(texts, binary_data=False)
    result = triton_client.infer(
        MODEL,
        [tensor],
        outputs=[triton.InferRequestedOutput("embedding", binary_data=False)],
        headers=cluster.auth_headers(),
    )
    vectors = result.as_numpy("embedding")
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_binary_tensors_both_ways(triton_client: Any, cluster: LiveCluster) -> None:
    """The client's default: Triton's binary tensor extension, in and out."""
    tensor = triton.InferInput("features", list(ROWS.shape), "FP32")
    tensor.set_data_from_numpy(ROWS)  # binary_data=True
    result = triton_client.infer(
        IRIS,
        [tensor],
        outputs=[triton.InferRequestedOutput("probabilities")],  # binary_data=True
        headers=cluster.auth_headers(),
    )
    binary = result.as_numpy("probabilities")
    tensor.set_data_from_numpy(ROWS, binary_data=False)
    plain = triton_client.infer(IRIS, [tensor], headers=cluster.auth_headers())
    np.testing.assert_array_equal(binary, plain.as_numpy("probabilities"))


def perf_analyzer() -> str:
    """Triton's perf_analyzer: the binary older tritonclient wheels ship (2.34 to 2.42 do;
    the locked 2.73 does not), at $RSIC_PERF_ANALYZER or on PATH. It needs libb64
    (Debian's libb64-0d) and CUDA's libcudart.so.12 (nvidia-cuda-runtime-cu12's wheel, on
    LD_LIBRARY_PATH) even for HTTP on a CPU box: benchmarks/perf_analyzer.sh sets that up."""
    set_up = ROOT / ".run" / "perf_analyzer" / "perf_analyzer"  # benchmarks/perf_analyzer.sh
    default = str(set_up) if set_up.is_file() else "perf_analyzer"
    found = shutil.which(os.environ.get("RSIC_PERF_ANALYZER", default))
    if found is None:
        pytest.skip(
            "no perf_analyzer: `benchmarks/perf_analyzer.sh install` (the bootstrap runs it) "
            "sets up the tritonclient 2.41.0 wheel's binary, or set RSIC_PERF_ANALYZER"
        )
    probe = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30)
    if "error while loading shared libraries" in probe.stderr:
        pytest.skip(f"perf_analyzer does not start: {probe.stderr.strip()}")
    return found


def test_perf_analyzer_against_iris(cluster: LiveCluster, tmp_path: Path) -> None:
    binary = perf_analyzer()
    report = tmp_path / "perf.csv"
    key = cluster.keys["admin"]
    run = subprocess.run(
        [
            binary,
            *("-m", IRIS, "-i", "http", "-u", cluster.base_url.removeprefix("http://")),
            *("-H", f"Authorization:Bearer {key}"),
            # Random data would break the manifest's [0, 10]: zeros are within it.
            *("--shape", "features:4", "--input-data", "zero", "-b", "4"),
            *("--concurrency-range", "2", "--measurement-mode", "count_windows"),
            *("--measurement-request-count", "100", "-s", "50", "-f", str(report)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(run.stdout[-2000:])
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "Throughput" in run.stdout and report.is_file()


def test_readme_example_runs(cluster: LiveCluster, capsys: pytest.CaptureFixture[str]) -> None:
    """README's tritonclient example, as written, against the test cluster."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Open Inference Protocol", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block, "README's Open Inference Protocol section has no python block"
    code = block.group(1).replace("127.0.0.1:8000", cluster.base_url.removeprefix("http://"))
    exec(compile(code, "README.md", "exec"), {"API_KEY": cluster.keys["admin"]})
    printed = capsys.readouterr().out
    assert printed.startswith("True ") and "probabilities" in printed
