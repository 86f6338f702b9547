"""Request and response bodies of the Open Inference Protocol (KServe v2 REST), as
Triton, KServe and Seldon MLServer speak it: server and model metadata, readiness, and
inference requests/responses with JSON tensor data.

A tensor's ``data`` is checked against the model's contract by ``ingress.v2_tensors``
(datatype, shape, element types, limits), not here: the protocol declares them per
request, so only the body's shape is a schema matter.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Nested or flat JSON tensor data: numbers, booleans or strings, in lists.
TensorData = list[Any]


class V2Error(BaseModel):
    """Every error on /v2 routes (the protocol's own shape)."""

    error: str = Field(description="What went wrong.")


class ServerMetadata(BaseModel):
    name: str = Field(description="The server's name.")
    version: str = Field(description="The server's version.")
    extensions: list[str] = Field(description="Protocol extensions the server supports.")


class Liveness(BaseModel):
    live: bool


class ServerReadiness(BaseModel):
    ready: bool


class ModelReadiness(BaseModel):
    name: str
    ready: bool


class TensorMetadata(BaseModel):
    name: str
    datatype: str = Field(description="FP32, FP16, FP64, INT64, INT32, BOOL or BYTES.")
    shape: list[int] = Field(description="-1 is the batch axis (any number of rows).")


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str = Field(description='e.g. "pytorch_torchscript", "pytorch_torch_export".')
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ConfigTensor(BaseModel):
    name: str
    data_type: str = Field(description='Triton\'s name: "TYPE_FP32", "TYPE_STRING", ...')
    dims: list[int] = Field(description="The shape without the batch axis.")


class ModelConfig(BaseModel):
    """The part of Triton's model configuration its tools read (perf_analyzer)."""

    name: str
    platform: str
    max_batch_size: int = Field(description="Most rows per request.")
    input: list[ConfigTensor]
    output: list[ConfigTensor]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InferInput(_Strict):
    name: str = Field(description="Name of one of the model's inputs.")
    shape: list[int] = Field(max_length=8, description="The tensor's shape, rows first.")
    datatype: str = Field(description="Must be the model's datatype for this input.")
    parameters: dict[str, Any] | None = Field(None, description="Per-input parameters.")
    data: TensorData | None = Field(
        None,
        description="The elements, row-major: flat or nested lists; absent when they come "
        "as binary data (`parameters.binary_data_size`, Triton's binary tensor extension).",
    )


class RequestedOutput(_Strict):
    name: str = Field(description="Name of one of the model's outputs.")
    parameters: dict[str, Any] | None = Field(None, description="Per-output parameters.")


class InferRequest(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "42",
                    "inputs": [
                        {
                            "name": "features",
                            "shape": [1, 4],
                            "datatype": "FP32",
                            "data": [5.1, 3.5, 1.4, 0.2],
                        }
                    ],
                }
            ]
        },
    )

    id: str | None = Field(None, max_length=256, description="Echoed in the response.")
    parameters: dict[str, Any] | None = Field(
        None,
        description="`timeout`: microseconds, lowers the request's deadline (as Triton's); "
        "`binary_data_output`: every output as binary data (Triton's extension).",
    )
    inputs: list[InferInput] = Field(min_length=1, max_length=64)
    outputs: list[RequestedOutput] | None = Field(
        None, max_length=64, description="Outputs to return; all of them when absent."
    )


class InferOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: TensorData | None = Field(None, description="Flat, row-major (absent if binary).")


class InferResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[InferOutput]
