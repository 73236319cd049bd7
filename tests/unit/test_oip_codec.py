"""The Open Inference Protocol's tensors on the wire (:mod:`omlsvc.oip.codec`), without HTTP or models."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest

from omlsvc.core.errors import InvalidInput, PayloadTooLarge, ResponseTooLarge
from omlsvc.oip.binary_data import parse_header_length
from omlsvc.oip.codec import classify, encode_infer_response, parse_infer_request
from omlsvc.oip.tensors import OutputTensor

LIMIT = 1_000_000


def body(header: dict[str, Any], binary: bytes = b"") -> tuple[bytes, int | None]:
    data = json.dumps(header).encode()
    return data + binary, (len(data) if binary else None)


def parse(header: dict[str, Any], binary: bytes = b"") -> Any:
    data, length = body(header, binary)
    return parse_infer_request(data, length, max_elements=LIMIT)


def test_json_data_flat_or_nested_become_arrays_of_the_datatype() -> None:
    request = parse(
        {
            "id": "a",
            "inputs": [
                {"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2.5], [3, 4]]},
                {"name": "n", "shape": [2], "datatype": "INT64", "data": [1, -2]},
                {"name": "s", "shape": [1], "datatype": "BYTES", "data": ["héllo"]},
                {"name": "b", "shape": [2], "datatype": "BOOL", "data": [True, False]},
            ],
        }
    )
    x, n, s, b = (t.array for t in request.inputs)
    assert x.dtype == np.float32 and x.tolist() == [[1, 2.5], [3, 4]]
    assert n.dtype == np.int64 and n.tolist() == [1, -2]
    assert s.tolist() == ["héllo".encode()]
    assert b.tolist() == [True, False]
    assert request.id == "a" and request.outputs is None and request.rows == 2


def test_binary_tensors_are_views_of_the_body_without_a_copy() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    request = parse(
        {
            "inputs": [
                {"name": "x", "shape": [2, 3], "datatype": "FP32", "parameters": {"binary_data_size": 24}}
            ]
        },
        x.tobytes(),
    )
    array = request.inputs[0].array
    np.testing.assert_array_equal(array, x)
    assert not array.flags.owndata  # a view of the request body


def test_binary_bytes_elements_carry_their_lengths() -> None:
    elements = [b"a", b"", b"xyz"]
    data = b"".join(struct.pack("<I", len(e)) + e for e in elements)
    request = parse(
        {
            "inputs": [
                {
                    "name": "s",
                    "shape": [3, 1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(data)},
                }
            ]
        },
        data,
    )
    assert request.inputs[0].array.reshape(-1).tolist() == elements


@pytest.mark.parametrize(
    ("header", "binary", "needle"),
    [
        ({"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2]}]}, b"", "holds 2"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP33", "data": [1]}]}, b"", "datatype"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "INT32", "data": [1.5]}]}, b"", "integers"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "INT8", "data": [300]}]}, b"", "out of range"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP16", "data": [1e6]}]}, b"", "out of range"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [True]}]}, b"", "numbers"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "BOOL", "data": [1]}]}, b"", "true or false"),
        ({"inputs": [{"name": "x", "shape": [-1], "datatype": "FP32", "data": [1]}]}, b"", "non-negative"),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}, b"", "needs 'data'"),
        (
            {
                "inputs": [
                    {"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 4}}
                ]
            },
            b"\0" * 4,
            "needs 8",
        ),
        (
            {
                "inputs": [
                    {"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 8}}
                ]
            },
            b"\0" * 4,
            "past the end",
        ),
        (
            {
                "inputs": [
                    {"name": "x", "shape": [1], "datatype": "FP32", "parameters": {"binary_data_size": 4}}
                ]
            },
            b"\0" * 8,
            "add up",
        ),
        (
            {
                "inputs": [
                    {"name": "x", "shape": [1], "datatype": "BOOL", "parameters": {"binary_data_size": 1}}
                ]
            },
            b"\x07",
            "0 or 1",
        ),
        (
            {
                "inputs": [
                    {"name": "s", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 9}}
                ]
            },
            struct.pack("<I", 1) + b"a" + struct.pack("<I", 9),
            "runs past",
        ),
        ({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}] * 2}, b"", "once"),
        (
            {
                "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
                "outputs": [{"name": 3}],
            },
            b"",
            "name",
        ),
        (
            {
                "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
                "outputs": [{"name": "y", "parameters": {"classification": -1}}],
            },
            b"",
            "classification",
        ),
        ({"inputs": []}, b"", "non-empty"),
    ],
)
def test_malformed_requests_are_refused_naming_the_problem(
    header: dict[str, Any], binary: bytes, needle: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse(header, binary)
    assert needle in refused.value.message


def test_a_huge_shape_is_refused_before_anything_is_allocated() -> None:
    with pytest.raises(PayloadTooLarge):
        parse({"inputs": [{"name": "x", "shape": [10**6, 10**6], "datatype": "FP32", "data": []}]})


def test_the_header_length_must_lie_within_the_body() -> None:
    assert parse_header_length(None, 10) is None
    assert parse_header_length("4", 10) == 4
    for bad in ("11", "-1", "x", "1e3", "9" * 40):
        with pytest.raises(InvalidInput):
            parse_header_length(bad, 10)


def test_bad_json_and_deep_nesting_are_400_not_500() -> None:
    for data in (b"{", b"[" * 5000 + b"]" * 5000, b'{"inputs": NaN}', b"[1]"):
        with pytest.raises(InvalidInput):
            parse_infer_request(data, None, max_elements=LIMIT)


def test_classification_gives_the_best_classes_as_score_index_label() -> None:
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]], np.float32)
    classes = classify(scores, 2, ["a", "b", "c"])
    assert classes.tolist() == [
        [b"0.700000:1:b", b"0.200000:2:c"],
        [b"0.500000:0:a", b"0.400000:2:c"],
    ]
    assert classify(scores[0], 5, None).tolist() == [b"0.700000:1", b"0.200000:2", b"0.100000:0"]


def test_responses_put_binary_outputs_after_the_json() -> None:
    values = np.array([[1.5, 2.5]], np.float32)
    labels = np.array([b"yes"], dtype=object)
    data, length = encode_infer_response(
        "m", "1", "id-1", [OutputTensor("v", values, True), OutputTensor("l", labels, False)], limit=LIMIT
    )
    assert length is not None
    header = json.loads(data[:length])
    assert header["id"] == "id-1"
    v, lab = header["outputs"]
    assert v["parameters"]["binary_data_size"] == 8 and v["datatype"] == "FP32" and v["shape"] == [1, 2]
    assert lab == {"name": "l", "datatype": "BYTES", "shape": [1], "data": ["yes"]}
    np.testing.assert_array_equal(np.frombuffer(data[length:], np.float32), values.reshape(-1))
    only_json, none = encode_infer_response("m", "1", None, [OutputTensor("v", values, False)], limit=LIMIT)
    assert none is None and json.loads(only_json)["outputs"][0]["data"] == [1.5, 2.5]
    with pytest.raises(ResponseTooLarge):
        encode_infer_response("m", "1", None, [OutputTensor("v", values, True)], limit=10)


@pytest.mark.parametrize("count", [1, 64, 65, 1000])
@pytest.mark.parametrize("nested", [False, True])
def test_json_floats_out_of_range_are_refused_however_many_and_however_nested(
    count: int, nested: bool
) -> None:
    """A few values are range-checked in Python, more by one numpy reduction: both refuse a value
    past FP32's range at any position, either sign, and take the largest finite one."""
    top = float(np.finfo(np.float32).max)
    for position, bad in ((0, 1e39), (count - 1, -1e39)):
        values = [0.5] * count
        values[position] = bad
        data: list[Any] = [[v] for v in values] if nested else values
        shape = [count, 1] if nested else [count]
        with pytest.raises(InvalidInput, match="out of range for FP32"):
            parse({"inputs": [{"name": "x", "shape": shape, "datatype": "FP32", "data": data}]})
    fine = [top, -top] + [1.0] * (count - 2) if count >= 2 else [top]
    request = parse({"inputs": [{"name": "x", "shape": [count], "datatype": "FP32", "data": fine}]})
    assert request.inputs[0].array.dtype == np.float32
    assert request.inputs[0].array.tolist() == np.array(fine, np.float32).tolist()


@pytest.mark.parametrize("count", [3, 65, 500])
def test_non_finite_json_outputs_travel_as_null_however_many(count: int) -> None:
    values = np.ones(count, np.float32)
    values[1], values[-1] = np.nan, -np.inf
    data, _ = encode_infer_response("m", "1", None, [OutputTensor("v", values, False)], limit=LIMIT)
    sent = json.loads(data)["outputs"][0]["data"]
    assert sent[1] is None and sent[-1] is None and sent.count(None) == 2 and sent[0] == 1.0
    finite = encode_infer_response("m", "1", None, [OutputTensor("v", np.ones(count), False)], limit=LIMIT)[0]
    assert json.loads(finite)["outputs"][0]["data"] == [1.0] * count
