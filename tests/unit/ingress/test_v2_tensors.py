"""Open Inference Protocol tensors to numpy and back, checked against manifest inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from deployments.errors import InvalidInputError
from deployments.ingress import v2_tensors
from deployments.model_manifest import InputSpec


def spec(dtype: str, shape: list[int], **limits: Any) -> InputSpec:
    return InputSpec(name="x", dtype=dtype, shape=shape, **limits)


def test_datatypes_map_both_ways() -> None:
    for dtype, datatype in v2_tensors.DATATYPE_BY_DTYPE.items():
        assert v2_tensors.DTYPE_BY_DATATYPE[datatype] == dtype
    assert set(v2_tensors.DATATYPE_BY_DTYPE.values()) == {
        "FP32", "FP16", "FP64", "INT64", "INT32", "BOOL", "BYTES"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("dtype", "datatype", "data", "expected"),
    [
        ("float32", "FP32", [1, 2.5, 3, 4], np.array([[1, 2.5], [3, 4]], np.float32)),
        ("float32", "FP32", [[1, 2.5], [3, 4]], np.array([[1, 2.5], [3, 4]], np.float32)),
        ("float16", "FP16", [0.5, 1, 2, 3], np.array([[0.5, 1], [2, 3]], np.float16)),
        ("float64", "FP64", [1e300, 0, 0, 0], np.array([[1e300, 0], [0, 0]], np.float64)),
        ("int64", "INT64", [2**62, -1, 0, 1], np.array([[2**62, -1], [0, 1]], np.int64)),
        ("int32", "INT32", [1, 2, 3, 4], np.array([[1, 2], [3, 4]], np.int32)),
        ("bool", "BOOL", [True, False, False, True], np.array([[1, 0], [0, 1]], bool)),
    ],
)
def test_decode_reads_flat_or_nested_data(
    dtype: str, datatype: str, data: list[Any], expected: np.ndarray
) -> None:
    array = v2_tensors.decode("x", datatype, [2, 2], data, spec(dtype, [-1, 2]), 8)
    assert array.dtype == expected.dtype
    np.testing.assert_array_equal(array, expected)
    assert v2_tensors.encode(array) == expected.reshape(-1).tolist()


@pytest.mark.parametrize(
    ("dtype", "data", "says"),
    [
        ("float16", [70000.0], "outside"),
        ("float32", [1e39], "outside"),
        ("float32", [float("nan")], "outside"),
        ("float32", [float("inf")], "outside"),
        ("int32", [2**31], "outside"),
        ("int64", [2**63], "outside"),
        ("int64", [1.0], "JSON integer"),
        ("bool", [1], "JSON boolean"),
        ("float32", [None], "JSON number"),
    ],
)
def test_decode_refuses_what_the_dtype_cannot_hold(dtype: str, data: list[Any], says: str) -> None:
    datatype = v2_tensors.DATATYPE_BY_DTYPE[dtype]
    with pytest.raises(InvalidInputError, match=says):
        v2_tensors.decode("x", datatype, [1], data, spec(dtype, [-1]), 8)


def test_decode_keeps_the_manifests_limits() -> None:
    limited = spec("float32", [-1], min=0, max=1)
    with pytest.raises(InvalidInputError, match=r"outside \[0"):
        v2_tensors.decode("x", "FP32", [2], [0.5, 1.5], limited, 8)


def test_deep_nesting_is_refused_not_recursed() -> None:
    deep: Any = 1
    for _ in range(50):
        deep = [deep]
    with pytest.raises(InvalidInputError, match="nested deeper"):
        v2_tensors.decode("x", "FP32", [1], deep, spec("float32", [-1]), 8)


@pytest.mark.parametrize("shape", [[2], [2, 1]])
def test_texts_take_n_or_n_by_1(shape: list[int]) -> None:
    assert v2_tensors.texts("t", "BYTES", shape, ["a", "b"], 8) == ["a", "b"]


def test_texts_must_be_strings() -> None:
    with pytest.raises(InvalidInputError, match="JSON string"):
        v2_tensors.texts("t", "BYTES", [2], ["a", 1], 8)
    with pytest.raises(InvalidInputError, match="the model takes BYTES"):
        v2_tensors.texts("t", "FP32", [1], [1.0], 8)


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "int64", "int32", "bool"])
def test_binary_tensors_round_trip(dtype: str) -> None:
    array = np.array([[1, 0], [0, 1]], dtype=dtype)
    raw = v2_tensors.encode_binary(array, dtype)
    assert len(raw) == array.size * (1 if dtype == "bool" else array.itemsize)
    datatype = v2_tensors.DATATYPE_BY_DTYPE[dtype]
    back = v2_tensors.decode_binary("x", datatype, [2, 2], raw, spec(dtype, [-1, 2]), 8)
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_binary_floats_must_be_finite_and_bools_0_or_1() -> None:
    nan = np.array([np.nan], "<f4").tobytes()
    with pytest.raises(InvalidInputError, match="finite"):
        v2_tensors.decode_binary("x", "FP32", [1], nan, spec("float32", [-1]), 8)
    with pytest.raises(InvalidInputError, match="0 or 1"):
        v2_tensors.decode_binary("x", "BOOL", [1], b"\x02", spec("bool", [-1]), 8)


def test_binary_texts_are_length_prefixed_utf8() -> None:
    raw = b"".join(len(t).to_bytes(4, "little") + t for t in ("hé".encode(), b"ok"))
    assert v2_tensors.texts_binary("t", "BYTES", [2], raw, 8) == ["hé", "ok"]
    with pytest.raises(InvalidInputError, match="runs past"):
        v2_tensors.texts_binary("t", "BYTES", [2], raw[:-1], 8)
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        v2_tensors.texts_binary("t", "BYTES", [1], b"\x01\x00\x00\x00\xff", 8)
