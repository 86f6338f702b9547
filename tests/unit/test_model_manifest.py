"""Manifests of the model repository: what is accepted, what is refused and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from deployments.config import AppArgs
from deployments.model_manifest import ModelManifest, load_model_dir, load_model_root


def manifest(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "m",
        "format": "torchscript",
        "artifact": "model.pt",
        "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 4], "min": 0, "max": 1}],
        "outputs": [{"name": "y", "dtype": "float32", "shape": [-1, 2], "labels": ["a", "b"]}],
    }
    return base | overrides


def write(directory: Path, body: dict[str, Any], artifact: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.yaml").write_text(yaml.safe_dump(body))
    if artifact:
        (directory / body["artifact"]).write_bytes(b"")
    return directory


def test_defaults_and_contract() -> None:
    m = ModelManifest.model_validate(manifest())
    assert m.batching.max_batch_size == 32 and m.resources.num_gpus == 0
    contract = m.contract()
    assert contract.inputs[0].shape == [-1, 4] and contract.outputs[0].datatype == "float32"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"inputs": [{"name": "x", "dtype": "float32", "shape": [4]}]}, "batch axis"),
        ({"inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 0]}]}, "fixed"),
        ({"inputs": [{"name": "x", "dtype": "float32", "shape": [-1, -1]}]}, "fixed"),
        ({"inputs": [{"name": "x", "dtype": "float32", "shape": [-1], "min": 2, "max": 1}]}, "min"),
        ({"inputs": [{"name": "x", "dtype": "bool", "shape": [-1], "min": 0}]}, "bool"),
        ({"inputs": [{"name": "x", "dtype": "string", "shape": [-1]}]}, "dtype"),
        ({"inputs": [{"name": "bad-name", "dtype": "int64", "shape": [-1]}]}, "pattern"),
        ({"inputs": []}, "at least 1"),
        (
            {"inputs": [{"name": "x", "dtype": "int64", "shape": [-1]}] * 2},
            "unique",
        ),
        (
            {
                "outputs": [
                    {"name": "y", "dtype": "float32", "shape": [-1, 3], "labels": ["a", "b"]}
                ]
            },
            "labels",
        ),
        ({"artifact": "../elsewhere.pt"}, "inside"),
        ({"artifact": "/abs/model.pt"}, "inside"),
        ({"format": "onnx"}, "format"),
        ({"name": "has space"}, "pattern"),
        ({"surprise": 1}, "extra"),
        ({"resources": {"autoscaling": {"min_replicas": 3, "max_replicas": 2}}}, "min_replicas"),
    ],
)
def test_bad_manifests_are_refused(change: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        ModelManifest.model_validate(manifest(**change))


def test_model_dir_needs_manifest_and_artifact(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"no manifest\.yaml"):
        load_model_dir(tmp_path)
    write(tmp_path, manifest(), artifact=False)
    with pytest.raises(ValueError, match="not found"):
        load_model_dir(tmp_path)
    (tmp_path / "model.pt").write_bytes(b"")
    spec = load_model_dir(tmp_path, name="renamed")
    assert spec.name == "renamed" and spec.artifact_path == tmp_path.resolve() / "model.pt"


def test_app_args_resolve_predictors_and_multiplexed_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RSIC_MODEL_REPOSITORY", str(tmp_path))
    write(tmp_path / "single", manifest(name="single"))
    for n in range(3):
        write(tmp_path / "group" / f"t{n}", manifest(name=f"t{n}"))
    (tmp_path / "group" / "not-a-model").mkdir()
    args = AppArgs.model_validate(
        {
            "predictors": [{"path": "single"}, {"path": "single", "name": "other"}],
            "multiplexed": [{"name": "group", "root": "group", "max_models_per_replica": 2}],
        }
    )
    assert args.model_kinds() == {n: "predictor" for n in ("single", "other", "t0", "t1", "t2")}
    assert [s.name for s in args.multiplexed[0].specs] == ["t0", "t1", "t2"]
    with pytest.raises(ValidationError, match="unique"):
        AppArgs.model_validate({"predictors": [{"path": "single"}, {"path": "single"}]})
    with pytest.raises(ValidationError, match="unique"):
        AppArgs.model_validate(
            {
                "models": [{"name": "t0", "source": "/x"}],
                "multiplexed": [{"name": "g", "root": "group"}],
            }
        )
    with pytest.raises(ValidationError, match="clash"):
        AppArgs.model_validate({"multiplexed": [{"name": "t1", "root": "group"}]})
    with pytest.raises(ValidationError, match="make models"):
        AppArgs.model_validate({"predictors": [{"path": "missing"}]})
    with pytest.raises(ValueError, match="no model directories"):
        load_model_root(tmp_path / "group" / "not-a-model")


def test_predict_routes_are_metered_with_bounded_paths() -> None:
    from deployments.ingress.middleware.request_metrics import is_metered

    assert is_metered("/v1/embeddings")
    assert is_metered("/v1/models/iris-classifier/predict")
    assert not is_metered("/v1/models/iris-classifier")
    assert not is_metered("/v1/models/a/b/predict")
    assert not is_metered("/healthz")
