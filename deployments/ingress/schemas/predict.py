"""Request and response schemas of POST /v1/models/<name>/predict, generated per model
from its manifest, so /docs shows each model's exact contract and FastAPI rejects any
violation (dims, dtype, value limits, non-finite numbers, too many rows) with 422 before
the model sees it. No torch here.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, create_model, model_validator

from deployments.model_manifest import DTYPE_RANGE, InputSpec, ModelSpec, OutputSpec, _Tensor


class _Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _same_rows(self) -> _Inputs:
        rows = {
            field.alias or name: len(getattr(self, name))
            for name, field in type(self).model_fields.items()
        }
        if len(set(rows.values())) > 1:
            raise ValueError(f"every input needs the same number of rows, got {rows}")
        return self


def _element(tensor: _Tensor) -> Any:
    if tensor.dtype == "bool":
        return StrictBool
    low, high = DTYPE_RANGE[tensor.dtype]
    if isinstance(tensor, InputSpec):
        low = max(low, tensor.min) if tensor.min is not None else low
        high = min(high, tensor.max) if tensor.max is not None else high
    if tensor.dtype.startswith("int"):
        # Strict: "1" or 1.5 is a contract violation, not something to coerce.
        return Annotated[int, Field(strict=True, ge=math.ceil(low), le=math.floor(high))]
    # A strict float still takes JSON integers, as JSON Schema's "number" does.
    return Annotated[float, Field(strict=True, ge=low, le=high, allow_inf_nan=False)]


def _row(tensor: _Tensor) -> Any:
    """The JSON type of one row: nested lists of exactly the fixed dims."""
    row = _element(tensor)
    for dim in reversed(tensor.shape[1:]):
        row = Annotated[list[row], Field(min_length=dim, max_length=dim)]  # type: ignore[valid-type]
    return row


def _class_name(model: str, suffix: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", model)
    return "".join(w[:1].upper() + w[1:] for w in words if w) + suffix


def _describe(tensor: _Tensor) -> str:
    row = f"shape {tensor.shape[1:]}" if len(tensor.shape) > 1 else "a scalar"
    text = f"{tensor.dtype}; one row per example, each {row}. {tensor.description}".strip()
    if isinstance(tensor, InputSpec) and (tensor.min is not None or tensor.max is not None):
        text += f" Values within [{tensor.min}, {tensor.max}]."
    return text


def example_value(tensor: _Tensor) -> bool | int | float:
    """One element the contract accepts: the middle of its [min, max] where it has both,
    else its one bound, else 0."""
    if tensor.dtype == "bool":
        return False
    low = tensor.min if isinstance(tensor, InputSpec) else None
    high = tensor.max if isinstance(tensor, InputSpec) else None
    value = (low + high) / 2 if low is not None and high is not None else (low or high or 0.0)
    if tensor.dtype.startswith("int"):
        # The int nearest the middle that is still within both bounds.
        whole = round(value)
        if low is not None and whole < low:
            whole = math.ceil(low)
        if high is not None and whole > high:
            whole = math.floor(high)
        return whole
    return float(value)


def example_rows(tensor: _Tensor, rows: int = 1) -> list[Any]:
    """``rows`` rows of ``tensor``, each of its fixed dims, filled with example_value."""
    value: Any = example_value(tensor)
    for dim in reversed(tensor.shape[1:]):
        value = [value] * dim
    return [value] * rows


def example_request(spec: ModelSpec) -> dict[str, Any]:
    """A valid request body for the model, from its manifest (the schema's example, so
    /docs' "Try it out" starts from a body the model accepts)."""
    return {"inputs": {t.name: example_rows(t) for t in spec.manifest.inputs}}


def request_model(spec: ModelSpec, max_rows: int) -> type[BaseModel]:
    """``{"inputs": {<input>: [row, ...]}}`` with at most ``max_rows`` rows."""
    fields: dict[str, Any] = {
        f"i{i}": (
            Annotated[list[_row(t)], Field(min_length=1, max_length=max_rows)],  # type: ignore[misc]
            Field(alias=t.name, description=_describe(t)),
        )
        for i, t in enumerate(spec.manifest.inputs)
    }
    inputs = create_model(_class_name(spec.name, "Inputs"), __base__=_Inputs, **fields)
    return create_model(
        _class_name(spec.name, "PredictRequest"),
        __config__=ConfigDict(
            extra="forbid", json_schema_extra={"examples": [example_request(spec)]}
        ),
        __doc__=spec.manifest.description or f"Inputs of {spec.name}.",
        inputs=(inputs, Field(description="One list of rows per input tensor, same length.")),
    )


def _output_fields(outputs: list[OutputSpec]) -> dict[str, Any]:
    return {
        f"o{i}": (list[_row(t)], Field(alias=t.name, description=_describe(t)))  # type: ignore[misc]
        for i, t in enumerate(outputs)
    }


def response_model(spec: ModelSpec) -> type[BaseModel]:
    """``{"model", "outputs": {<output>: [row, ...]}, "labels": {<output>: [label, ...]}}``."""
    manifest = spec.manifest
    outputs = create_model(_class_name(spec.name, "Outputs"), **_output_fields(manifest.outputs))
    fields: dict[str, Any] = {
        "model": (Literal[spec.name], Field(description="The model that answered.")),
        "outputs": (outputs, Field(description="One list of rows per output, in input order.")),
    }
    labelled = [o for o in manifest.outputs if o.labels]
    if labelled:
        label_fields: dict[str, Any] = {
            f"l{i}": (
                list[Literal[tuple(o.labels or ())]],  # type: ignore[misc]
                Field(alias=o.name, description=f"Highest-scoring class of {o.name} per row."),
            )
            for i, o in enumerate(labelled)
        }
        labels = create_model(_class_name(spec.name, "Labels"), **label_fields)
        fields["labels"] = (labels, Field(description="Best label per row of labelled outputs."))
    return create_model(_class_name(spec.name, "PredictResponse"), **fields)
