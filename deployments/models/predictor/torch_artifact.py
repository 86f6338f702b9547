"""Loading a model directory's artifact (TorchScript or torch.export) and running it.

The manifest is the contract: a forward pass whose outputs do not match it is a broken
model (or manifest), found by a warm-up pass at load time rather than by a client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from deployments.model_manifest import InputSpec, ModelSpec

TORCH_DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "float64": torch.float64,
    "int64": torch.int64,
    "int32": torch.int32,
    "bool": torch.bool,
}


class ContractViolation(RuntimeError):
    """The artifact's outputs do not match its manifest."""


def _load_module(spec: ModelSpec, device: torch.device) -> Any:
    path = str(spec.artifact_path)
    if spec.manifest.format == "torchscript":
        module = torch.jit.load(path, map_location=device)
        module.eval()
        return module
    # An ExportedProgram's module is already traced for inference; it has no eval().
    exported = torch.export.load(path).module()
    return exported.to(device)


def example_inputs(inputs: Sequence[InputSpec], rows: int = 1) -> list[np.ndarray]:
    """In-range inputs of ``rows`` rows: zeros, moved into [min, max] when that excludes 0."""
    arrays = []
    for spec in inputs:
        value = 0.0
        if spec.min is not None:
            value = max(value, spec.min)
        if spec.max is not None:
            value = min(value, spec.max)
        arrays.append(np.full((rows, *spec.shape[1:]), value, dtype=np.dtype(spec.dtype)))
    return arrays


class LoadedModel:
    """A model directory's artifact on a device, run on numpy arrays."""

    def __init__(self, spec: ModelSpec, device: str = "cpu") -> None:
        self.spec = spec
        self.device = torch.device(device)
        self._module = _load_module(spec, self.device)
        self.run(example_inputs(spec.manifest.inputs, rows=2))

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Outputs in manifest order for inputs in manifest order (same number of rows)."""
        manifest = self.spec.manifest
        rows = len(arrays[0])
        with torch.inference_mode():
            tensors = [
                torch.from_numpy(np.ascontiguousarray(a)).to(self.device, TORCH_DTYPES[s.dtype])
                for a, s in zip(arrays, manifest.inputs, strict=True)
            ]
            out = self._module(*tensors)
            outs = tuple(out) if isinstance(out, tuple | list) else (out,)
            if len(outs) != len(manifest.outputs):
                raise ContractViolation(
                    f"{self.spec.name}: forward returned {len(outs)} tensors, the manifest "
                    f"declares {len(manifest.outputs)}"
                )
            results = []
            for tensor, o in zip(outs, manifest.outputs, strict=True):
                expected = (rows, *o.shape[1:])
                if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != expected:
                    got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor)
                    raise ContractViolation(
                        f"{self.spec.name}: output {o.name} has shape {got}, the manifest "
                        f"declares {expected}"
                    )
                results.append(tensor.to(TORCH_DTYPES[o.dtype]).cpu().numpy())
        return results
