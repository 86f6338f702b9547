"""Tensors of the Open Inference Protocol (KServe v2 REST) to and from numpy, checked
against a model's contract.

Datatypes are mapped both ways between the protocol's names and the manifests' dtypes
(``DATATYPE_BY_DTYPE``); the protocol's other datatypes (UINT8, INT8, BF16, ...) are
refused, since no served model takes them. An input's ``data`` may be flat (row-major,
as the protocol writes it) or nested; either way it must hold exactly the elements its
``shape`` says, of its datatype's JSON type (no coercion: ``"1"``, ``1.5`` for an INT or
``true`` for an FP is a contract violation), finite, within the dtype's range and the
manifest's min/max. Every violation is an ``InvalidInputError`` naming the input, which
the one error table answers on /v2 routes as the protocol's 400 ``{"error": "..."}``.

No framework here: plain numpy, so the unit tests check every rule without a server.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from deployments.errors import InvalidInputError
from deployments.model_manifest import DTYPE_RANGE, InputSpec

# The manifests' dtypes (and the text models' "string") by the protocol's names.
DATATYPE_BY_DTYPE = {
    "float32": "FP32",
    "float16": "FP16",
    "float64": "FP64",
    "int64": "INT64",
    "int32": "INT32",
    "bool": "BOOL",
    "string": "BYTES",
}
DTYPE_BY_DATATYPE = {v: k for k, v in DATATYPE_BY_DTYPE.items()}
# The protocol's datatypes that no model here takes (refused with a clear 400).
UNSUPPORTED_DATATYPES = frozenset({"UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "BF16"})


# Triton's binary tensor extension: the JSON header's length, binary tensors after it,
# each input's byte count in its parameters, little-endian, row-major; BOOL one byte per
# element, BYTES each element as a 4-byte little-endian length, then its bytes.
BINARY_HEADER = "Inference-Header-Content-Length"
BINARY_SIZE = "binary_data_size"


def datatype_of(dtype: str) -> str:
    return DATATYPE_BY_DTYPE[dtype]


def check_datatype(datatype: str, expected_dtype: str, where: str) -> None:
    """``datatype`` (the client's) is the protocol's name of ``expected_dtype``."""
    if datatype in UNSUPPORTED_DATATYPES:
        raise InvalidInputError(
            f"{where}: datatype {datatype} is not supported here "
            f"(supported: {', '.join(DTYPE_BY_DATATYPE)})"
        )
    if datatype not in DTYPE_BY_DATATYPE:
        raise InvalidInputError(f"{where}: {datatype!r} is not a datatype of the protocol")
    expected = DATATYPE_BY_DTYPE[expected_dtype]
    if datatype != expected:
        raise InvalidInputError(f"{where}: datatype is {datatype}; the model takes {expected}")


def _flatten(data: Any, out: list[Any], depth: int = 0) -> None:
    if isinstance(data, list):
        if depth > 8:
            raise ValueError("data is nested deeper than any tensor here")
        for item in data:
            _flatten(item, out, depth + 1)
    else:
        out.append(data)


def flat_data(data: Any, where: str) -> list[Any]:
    """``data`` flat, in row-major order (nested lists are read the way numpy would)."""
    if not isinstance(data, list):
        data = [data]
    flat: list[Any] = []
    try:
        _flatten(data, flat)
    except ValueError as e:
        raise InvalidInputError(f"{where}: {e}") from None
    return flat


def _element_ok(value: Any, dtype: str) -> bool:
    if dtype == "bool":
        return isinstance(value, bool)
    if dtype == "string":
        return isinstance(value, str)
    if isinstance(value, bool):
        return False  # JSON true is no number
    if dtype.startswith("int"):
        return isinstance(value, int)
    return isinstance(value, int | float)


def check_shape(shape: Sequence[int], expected: Sequence[int], max_rows: int, where: str) -> int:
    """The declared ``shape`` against the contract's (-1 first: the batch axis; trailing
    fixed dims); returns its row count."""
    if len(shape) != len(expected):
        raise InvalidInputError(
            f"{where}: shape {list(shape)} has {len(shape)} dimensions; the model takes "
            f"{len(expected)} ({list(expected)}, -1 is the batch axis)"
        )
    if any(d < 0 for d in shape):
        raise InvalidInputError(f"{where}: shape {list(shape)} has a negative dimension")
    if list(shape[1:]) != list(expected[1:]):
        raise InvalidInputError(
            f"{where}: shape {list(shape)} does not match the model's {list(expected)}"
        )
    rows = shape[0]
    if not 1 <= rows <= max_rows:
        raise InvalidInputError(f"{where}: {rows} rows; 1 to {max_rows} are accepted per request")
    return rows


def decode(
    name: str,
    datatype: str,
    shape: Sequence[int],
    data: Any,
    spec: InputSpec,
    max_rows: int,
) -> np.ndarray:
    """The input named ``name`` as an array of the manifest input ``spec``'s dtype and
    shape, or an InvalidInputError saying what is wrong with it."""
    where = f"input {name!r}"
    check_datatype(datatype, spec.dtype, where)
    check_shape(shape, spec.shape, max_rows, where)
    flat = flat_data(data, where)
    expected = math.prod(shape)
    if len(flat) != expected:
        raise InvalidInputError(
            f"{where}: shape {list(shape)} needs {expected} elements; data has {len(flat)}"
        )
    if not all(_element_ok(v, spec.dtype) for v in flat):
        raise InvalidInputError(f"{where}: every element must be a JSON {_json_type(spec.dtype)}")
    if spec.dtype != "bool":
        low, high = DTYPE_RANGE[spec.dtype]
        low = max(low, spec.min) if spec.min is not None else low
        high = min(high, spec.max) if spec.max is not None else high
        # Checked on the Python values: a cast would turn 1e39 into inf, 2**64 into an error.
        bad = next(
            (
                v
                for v in flat
                if not (isinstance(v, int) or math.isfinite(v)) or not low <= v <= high
            ),
            None,
        )
        if bad is not None:
            raise InvalidInputError(f"{where}: element {bad} is outside [{low}, {high}]")
    return np.asarray(flat, dtype=spec.dtype).reshape(shape)


def texts(name: str, datatype: str, shape: Sequence[int], data: Any, max_rows: int) -> list[str]:
    """A BYTES input of a text model: one string per row, shape [n] or [n, 1]."""
    where = f"input {name!r}"
    check_datatype(datatype, "string", where)
    if len(shape) == 2 and shape[1] == 1:
        shape = shape[:1]
    check_shape(shape, [-1], max_rows, where)
    flat = flat_data(data, where)
    if len(flat) != shape[0]:
        raise InvalidInputError(
            f"{where}: shape {list(shape)} needs {shape[0]} elements; data has {len(flat)}"
        )
    if not all(isinstance(v, str) for v in flat):
        raise InvalidInputError(f"{where}: every element must be a JSON string")
    return flat


def _little_endian(dtype: str) -> np.dtype:
    return np.dtype(np.uint8 if dtype == "bool" else dtype).newbyteorder("<")


def decode_binary(
    name: str, datatype: str, shape: Sequence[int], raw: bytes, spec: InputSpec, max_rows: int
) -> np.ndarray:
    """A binary input (the extension's), checked as ``decode`` checks JSON data."""
    where = f"input {name!r}"
    check_datatype(datatype, spec.dtype, where)
    check_shape(shape, spec.shape, max_rows, where)
    wire = _little_endian(spec.dtype)
    expected = math.prod(shape) * wire.itemsize
    if len(raw) != expected:
        raise InvalidInputError(
            f"{where}: shape {list(shape)} needs {expected} bytes, got {len(raw)}"
        )
    flat = np.frombuffer(raw, dtype=wire)
    if spec.dtype == "bool":
        if flat.max(initial=0) > 1:
            raise InvalidInputError(f"{where}: BOOL elements must be 0 or 1")
        return flat.astype(bool).reshape(shape)
    array = flat.astype(spec.dtype)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InvalidInputError(f"{where}: every element must be finite")
    low = spec.min if spec.min is not None else -math.inf
    high = spec.max if spec.max is not None else math.inf
    if array.size and (array.min() < low or array.max() > high):
        raise InvalidInputError(f"{where}: an element is outside [{spec.min}, {spec.max}]")
    return array.reshape(shape)


def texts_binary(
    name: str, datatype: str, shape: Sequence[int], raw: bytes, max_rows: int
) -> list[str]:
    """A binary BYTES input of a text model: length-prefixed UTF-8 strings."""
    where = f"input {name!r}"
    check_datatype(datatype, "string", where)
    if len(shape) == 2 and shape[1] == 1:
        shape = shape[:1]
    check_shape(shape, [-1], max_rows, where)
    found: list[str] = []
    at = 0
    while at < len(raw):
        size = int.from_bytes(raw[at : at + 4], "little")
        if at + 4 + size > len(raw):
            raise InvalidInputError(f"{where}: element {len(found)} runs past the data")
        try:
            found.append(raw[at + 4 : at + 4 + size].decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidInputError(f"{where}: element {len(found)} is not UTF-8") from None
        at += 4 + size
    if len(found) != shape[0]:
        raise InvalidInputError(
            f"{where}: shape {list(shape)} needs {shape[0]} elements; data has {len(found)}"
        )
    return found


def encode_binary(array: np.ndarray, dtype: str) -> bytes:
    """An output as the extension's raw bytes (little-endian, row-major)."""
    return np.ascontiguousarray(array, dtype=_little_endian(dtype)).tobytes()


def _json_type(dtype: str) -> str:
    if dtype == "bool":
        return "boolean"
    if dtype == "string":
        return "string"
    return "integer" if dtype.startswith("int") else "number"


def encode(array: np.ndarray) -> list[Any]:
    """An output's ``data``: flat, row-major, as the protocol writes tensors."""
    flat: list[Any] = array.reshape(-1).tolist()
    return flat
