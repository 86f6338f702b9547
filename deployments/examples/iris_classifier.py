"""Builds the example model repository: a small MLP trained on Iris, plus tenant models.

    python -m deployments.examples.iris_classifier --root model_repository

writes (in a few seconds, deterministically, no download: Iris ships with scikit-learn)

    model_repository/iris-classifier/     TorchScript (model.pt) + manifest.yaml
    model_repository/iris-export/         the same network as a torch.export .pt2
    model_repository/tenants/tenant-N/    four small classifiers for multiplexing; tenant N
                                          names the classes rotated by N, so each tenant
                                          answers differently for the same flower

``build`` makes one model directory; the tests use it to build models of their own.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Literal

import torch
import yaml
from sklearn.datasets import load_iris
from torch import nn

from deployments.model_manifest import MANIFEST_FILE, ModelManifest, load_model_dir

CLASSES = ["setosa", "versicolor", "virginica"]
FEATURES = 4
TENANTS = 4
Format = Literal["torchscript", "torch_export"]
ARTIFACT = {"torchscript": "model.pt", "torch_export": "model.pt2"}


class IrisMLP(nn.Module):
    """Standardises the four measurements, then a 4-16-3 MLP; returns class probabilities."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.net = nn.Sequential(nn.Linear(FEATURES, 16), nn.Tanh(), nn.Linear(16, len(CLASSES)))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # mypy sees registered buffers as Tensor | Module; TorchScript rejects a cast here.
        scaled = (features - self.mean) / self.std  # type: ignore[operator]
        return torch.softmax(self.net(scaled), dim=-1)


def train(seed: int = 0, rotate: int = 0, steps: int = 300) -> IrisMLP:
    """Deterministic full-batch training; ``rotate`` shifts every label by that much."""
    torch.manual_seed(seed)
    data = load_iris()
    x = torch.tensor(data.data, dtype=torch.float32)
    y = (torch.tensor(data.target) + rotate) % len(CLASSES)
    model = IrisMLP(x.mean(0), x.std(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.nll_loss(torch.log(model(x) + 1e-9), y)
        loss.backward()
        optimizer.step()
    return model.eval()


def manifest(name: str, fmt: Format, description: str) -> ModelManifest:
    return ModelManifest.model_validate(
        {
            "name": name,
            "description": description,
            "format": fmt,
            "artifact": ARTIFACT[fmt],
            "inputs": [
                {
                    "name": "features",
                    "dtype": "float32",
                    "shape": [-1, FEATURES],
                    "min": 0.0,
                    "max": 10.0,
                    "description": "sepal length, sepal width, petal length, petal width (cm)",
                }
            ],
            "outputs": [
                {
                    "name": "probabilities",
                    "dtype": "float32",
                    "shape": [-1, len(CLASSES)],
                    "labels": CLASSES,
                    "description": "probability of each species",
                }
            ],
            "batching": {"max_batch_size": 64, "batch_wait_timeout_s": 0.01},
            "resources": {
                "num_cpus": 0.1,
                "max_ongoing_requests": 32,
                "autoscaling": {"min_replicas": 1, "max_replicas": 1},
            },
        }
    )


def save(model: nn.Module, path: Path, fmt: Format) -> None:
    if fmt == "torchscript":
        torch.jit.save(torch.jit.script(model), str(path))
        return
    batch = torch.export.Dim("batch", min=1, max=65536)
    example = (torch.rand(2, FEATURES),)
    exported = torch.export.export(model, example, dynamic_shapes={"features": {0: batch}})
    torch.export.save(exported, str(path))


def build(
    out: Path,
    name: str,
    fmt: Format = "torchscript",
    seed: int = 0,
    rotate: int = 0,
    description: str = "Iris species from flower measurements (a 4-16-3 MLP).",
) -> Path:
    """One model directory at ``out``, replaced whole, so a reader never sees half of it."""
    spec = manifest(name, fmt, description)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; replicas may run as another user
    try:
        save(train(seed, rotate), tmp / spec.artifact, fmt)
        (tmp / MANIFEST_FILE).write_text(
            yaml.safe_dump(spec.model_dump(mode="json", exclude_defaults=False), sort_keys=False)
        )
        load_model_dir(tmp)  # the manifest we wrote must pass our own validation
        old = out.with_name(f".{out.name}.old")
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def build_repository(root: Path, only_missing: bool = False) -> list[Path]:
    """Every example model under ``root``; with ``only_missing``, keep those already there."""
    plan: list[tuple[Path, dict[str, object]]] = [
        (root / "iris-classifier", {"name": "iris-classifier"}),
        (
            root / "iris-export",
            {
                "name": "iris-export",
                "fmt": "torch_export",
                "description": "The Iris MLP as a torch.export program.",
            },
        ),
    ]
    for n in range(TENANTS):
        plan.append(
            (
                root / "tenants" / f"tenant-{n}",
                {
                    "name": f"tenant-{n}",
                    "seed": n,
                    "rotate": n % len(CLASSES),
                    "description": f"Tenant {n}'s Iris classifier (classes rotated by {n}).",
                },
            )
        )
    built = []
    for out, kwargs in plan:
        if only_missing and (out / MANIFEST_FILE).is_file():
            continue
        built.append(build(out, **kwargs))  # type: ignore[arg-type]
    return built


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=Path("model_repository"))
    parser.add_argument("--only-missing", action="store_true", help="keep models already built")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # deterministic, and polite on a shared box
    for path in build_repository(args.root, args.only_missing):
        print(f"built {path}")


if __name__ == "__main__":
    main()
