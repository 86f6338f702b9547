"""Request/response schemas generated from manifests: exact dims, dtypes and limits."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import BaseModel, ValidationError

from deployments.examples.iris_classifier import build
from deployments.ingress.schemas.predict import example_request, request_model, response_model
from deployments.model_manifest import ModelManifest, ModelSpec, load_model_dir
from deployments.models.predictor.torch_artifact import LoadedModel


def spec(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]] | None = None) -> ModelSpec:
    m = ModelManifest.model_validate(
        {
            "name": "demo-model",
            "format": "torchscript",
            "artifact": "model.pt",
            "inputs": inputs,
            "outputs": outputs or [{"name": "y", "dtype": "float32", "shape": [-1]}],
        }
    )
    return ModelSpec(name="demo-model", directory="/nowhere", manifest=m)


def accepts(model: type[BaseModel], inputs: dict[str, Any]) -> bool:
    try:
        model.model_validate({"inputs": inputs})
    except ValidationError:
        return False
    return True


def test_float_rows_have_exact_dims_limits_and_finite_values() -> None:
    req = request_model(
        spec([{"name": "x", "dtype": "float32", "shape": [-1, 2, 3], "min": -1, "max": 1}]), 3
    )
    row = [[0.5, 0, -1], [1, 0.25, 0]]
    assert accepts(req, {"x": [row]})
    assert accepts(req, {"x": [row] * 3})
    assert not accepts(req, {"x": [row] * 4})  # max rows
    assert not accepts(req, {"x": []})
    assert not accepts(req, {"x": [row[:1]]})  # inner dim
    assert not accepts(req, {"x": [[[0, 0], [0, 0, 0]]]})
    assert not accepts(req, {"x": [[[0, 0, 1.5], [0, 0, 0]]]})  # above max
    assert not accepts(req, {"x": [[[0, 0, math.nan], [0, 0, 0]]]})
    assert not accepts(req, {"x": [[[0, 0, math.inf], [0, 0, 0]]]})
    assert not accepts(req, {"x": [[[0, 0, "0"], [0, 0, 0]]]})  # no coercion
    assert not accepts(req, {"x": [[[0, 0, True], [0, 0, 0]]]})
    assert not accepts(req, {"x": [row], "z": [row]})
    schema = req.model_json_schema()
    x = schema["$defs"]["DemoModelInputs"]["properties"]["x"]
    assert x["maxItems"] == 3 and x["items"]["minItems"] == x["items"]["maxItems"] == 2
    assert x["items"]["items"]["items"] == {"type": "number", "minimum": -1.0, "maximum": 1.0}


def test_float16_values_must_fit_the_dtype() -> None:
    req = request_model(spec([{"name": "x", "dtype": "float16", "shape": [-1]}]), 8)
    assert accepts(req, {"x": [65504.0, -1]})
    assert not accepts(req, {"x": [70000.0]})


def test_ints_and_bools_are_strict() -> None:
    req = request_model(
        spec(
            [
                {"name": "ids", "dtype": "int32", "shape": [-1, 2]},
                {"name": "mask", "dtype": "bool", "shape": [-1, 2]},
            ]
        ),
        8,
    )
    assert accepts(req, {"ids": [[1, -2]], "mask": [[True, False]]})
    assert not accepts(req, {"ids": [[1, 2**31]], "mask": [[True, False]]})
    assert not accepts(req, {"ids": [[1, 1.5]], "mask": [[True, False]]})
    assert not accepts(req, {"ids": [[1, "2"]], "mask": [[True, False]]})
    assert not accepts(req, {"ids": [[1, 2]], "mask": [[1, 0]]})
    # Every input needs one row per example.
    assert not accepts(req, {"ids": [[1, 2], [3, 4]], "mask": [[True, False]]})


def test_response_names_outputs_and_labels() -> None:
    resp = response_model(
        spec(
            [{"name": "x", "dtype": "float32", "shape": [-1]}],
            [{"name": "scores", "dtype": "float32", "shape": [-1, 2], "labels": ["no", "yes"]}],
        )
    )
    ok = resp.model_validate(
        {"model": "demo-model", "outputs": {"scores": [[0.1, 0.9]]}, "labels": {"scores": ["yes"]}}
    )
    assert ok.model_dump(by_alias=True)["labels"] == {"scores": ["yes"]}
    with pytest.raises(ValidationError):
        resp.model_validate(
            {
                "model": "demo-model",
                "outputs": {"scores": [[0.1, 0.9]]},
                "labels": {"scores": ["maybe"]},
            }
        )


def test_torch_export_and_torchscript_artifacts_load_and_agree(tmp_path: Path) -> None:
    from deployments.model_manifest import load_model_dir

    scripted = LoadedModel(load_model_dir(build(tmp_path / "ts", "ts", "torchscript", seed=3)))
    exported = LoadedModel(load_model_dir(build(tmp_path / "ex", "ex", "torch_export", seed=3)))
    rng = np.random.default_rng(0)
    for rows in (1, 2, 7, 64):
        x = rng.uniform(0, 8, size=(rows, 4)).astype(np.float32)
        (a,) = scripted.run([x])
        (b,) = exported.run([x])
        assert a.shape == (rows, 3)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a.sum(1), 1.0, atol=1e-5)


def test_a_gpu_model_without_a_gpu_fails_clearly(tmp_path: Path) -> None:
    from deployments.model_manifest import load_model_dir
    from deployments.models.predictor.deployment import _device

    spec = load_model_dir(build(tmp_path / "m", "m"))
    gpu = spec.model_copy(
        update={
            "manifest": spec.manifest.model_copy(
                update={"resources": spec.manifest.resources.model_copy(update={"num_gpus": 1})}
            )
        }
    )
    if torch.cuda.is_available():
        assert _device(gpu) == "cuda"
    else:
        with pytest.raises(RuntimeError, match="asks for a GPU"):
            _device(gpu)
    assert _device(spec) == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_model_runs_on_cuda_like_on_cpu(tmp_path: Path) -> None:
    from deployments.model_manifest import load_model_dir

    for fmt in ("torchscript", "torch_export"):
        spec = load_model_dir(build(tmp_path / fmt, fmt.replace("_", "-"), fmt))
        x = np.random.default_rng(1).uniform(0, 8, size=(16, 4)).astype(np.float32)
        (cpu,) = LoadedModel(spec, "cpu").run([x])
        (gpu,) = LoadedModel(spec, "cuda").run([x])
        np.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "tensor",
    [
        {"name": "x", "dtype": "float32", "shape": [-1, 2, 3], "min": -1, "max": 1},
        {"name": "x", "dtype": "float16", "shape": [-1, 4], "min": 2.5},
        {"name": "x", "dtype": "float64", "shape": [-1], "max": -7},
        {"name": "x", "dtype": "int64", "shape": [-1, 2], "min": 0.5, "max": 1.9},
        {"name": "x", "dtype": "int32", "shape": [-1, 3], "min": 3, "max": 4},
        {"name": "x", "dtype": "int32", "shape": [-1, 3]},
        {"name": "x", "dtype": "bool", "shape": [-1, 2]},
    ],
)
def test_the_schema_example_is_a_request_the_contract_accepts(tensor: dict[str, Any]) -> None:
    """/docs' "Try it out" starts from the schema's example: it must validate."""
    model_spec = spec([tensor, {"name": "other", "dtype": "float32", "shape": [-1, 1]}])
    req = request_model(model_spec, 2)
    (example,) = req.model_json_schema()["examples"]
    assert example == example_request(model_spec)
    assert accepts(req, example["inputs"]), example
    rows = example["inputs"]["x"]
    assert np.asarray(rows).shape[1:] == tuple(tensor["shape"][1:])


def test_the_iris_example_is_within_its_manifest(tmp_path: Path) -> None:
    model_spec = load_model_dir(build(tmp_path / "iris", "iris"))
    example = example_request(model_spec)
    assert example == {"inputs": {"features": [[5.0, 5.0, 5.0, 5.0]]}}
    assert accepts(request_model(model_spec, 4), example["inputs"])
