"""The Open Inference Protocol's tensors on the wire, and nothing else: no HTTP, no model, no session.

An inference request is a JSON header, optionally followed by the binary tensor data extension's raw
buffers (``Inference-Header-Content-Length`` says where the JSON ends). :func:`parse_infer_request`
turns it into numpy arrays and checks everything the protocol itself fixes: datatype names, that a
shape and its ``data`` (or its ``binary_data_size``) hold the same number of elements, that the
binary sizes add up to the body exactly, that ``data`` values are of the datatype. The tensors'
values travel as JSON ``data`` (:mod:`omlsvc.oip.json_data`) or as raw buffers of the binary
extension (:mod:`omlsvc.oip.binary_data`); the decoded values are :mod:`omlsvc.oip.tensors`'.

:func:`encode_infer_response` builds the answer: JSON ``data`` for outputs asked that way, raw
buffers after the JSON for the others, and the classification extension's ``"score:index:label"``
strings (:func:`classify`). Every refusal is :class:`InvalidInput` (a 400), naming the tensor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from omlsvc.core.errors import InvalidInput, PayloadTooLarge, ResponseTooLarge
from omlsvc.oip.binary_data import decode_binary_data, encode_bytes_elements
from omlsvc.oip.json_data import decode_json_data, encode_json_data
from omlsvc.oip.tensors import (
    DATATYPES,
    MAX_CLASS_COUNT,
    MAX_ID,
    MAX_RANK,
    MAX_TENSORS,
    NUMPY_OF,
    InferRequest,
    InputTensor,
    OutputRequest,
    OutputTensor,
    Where,
)


def parse_infer_request(body: bytes, header_length: int | None, *, max_elements: int) -> InferRequest:
    """Decode a request body (JSON header + binary buffers when ``header_length`` is given).

    ``max_elements`` bounds the elements of each tensor (a shape of ``[10**9]`` is refused before
    anything is allocated)."""
    view = memoryview(body)
    split = len(body) if header_length is None else header_length
    try:
        header = orjson.loads(view[:split])
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"The inference request is not valid JSON: {exc}.") from None
    if not isinstance(header, dict):
        raise InvalidInput("The inference request must be a JSON object.")
    binary = view[split:]
    raw_inputs = header.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInput("'inputs' must be a non-empty array of tensors.")
    if len(raw_inputs) > MAX_TENSORS:
        raise PayloadTooLarge(f"A request may hold at most {MAX_TENSORS} input tensors.")
    parameters = _parameters(header.get("parameters"), "the request")
    offset = 0
    inputs: list[InputTensor] = []
    for index, raw in enumerate(raw_inputs):
        tensor, used = _input(raw, index, binary, offset, max_elements)
        offset += used
        inputs.append(tensor)
    if offset != len(binary):
        raise InvalidInput(
            f"The binary tensor data is {len(binary)} bytes but the inputs' binary_data_size add up "
            f"to {offset}."
        )
    names = [tensor.name for tensor in inputs]
    if len(set(names)) != len(names):
        raise InvalidInput("Each input may be sent once.")
    request_id = header.get("id")
    if request_id is not None and (not isinstance(request_id, str) or len(request_id) > MAX_ID):
        raise InvalidInput(f"'id' must be a string of at most {MAX_ID} characters.")
    binary_output = _flag(parameters, "binary_data_output", "the request")
    outputs = _outputs(header.get("outputs"), binary_output)
    return InferRequest(tuple(inputs), outputs, request_id, binary_output, parameters)


_NO_PARAMETERS: Mapping[str, Any] = {}


def _parameters(value: object, where: str | Where) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"'parameters' of {where} must be an object.")
    return value


def _flag(parameters: Mapping[str, Any], name: str, where: str | Where) -> bool:
    value = parameters.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"Parameter {name!r} of {where} must be true or false.")
    return value


def _shape(value: object, where: Where) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_RANK:
        raise InvalidInput(f"The shape of {where} must be an array of at most {MAX_RANK} dimensions.")
    if not all(type(d) is int and d >= 0 for d in value):
        raise InvalidInput(f"The shape of {where} must hold non-negative integers.")
    return tuple(value)


def _input(
    raw: object, index: int, binary: memoryview, offset: int, max_elements: int
) -> tuple[InputTensor, int]:
    """One input tensor and the bytes of the binary section it took."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"Input {index} must be an object with name, shape, datatype and data.")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"Input {index} needs a 'name'.")
    where = Where("input", name)  # spelt out only in an error message
    datatype = raw.get("datatype")
    if datatype not in NUMPY_OF:
        raise InvalidInput(f"The datatype of {where} must be one of {', '.join(DATATYPES)}.")
    shape = _shape(raw.get("shape"), where)
    count = math.prod(shape)
    if count > max_elements:
        raise PayloadTooLarge(f"{where.capitalize()} has {count} elements; at most {max_elements} are taken.")
    raw_parameters = raw.get("parameters")
    parameters = _NO_PARAMETERS if raw_parameters is None else _parameters(raw_parameters, where)
    size = parameters.get("binary_data_size")
    if size is not None:
        if type(size) is not int or size < 0:
            raise InvalidInput(f"binary_data_size of {where} must be a non-negative integer.")
        if "data" in raw:
            raise InvalidInput(f"{where.capitalize()} has both 'data' and binary_data_size.")
        if offset + size > len(binary):
            raise InvalidInput(
                f"binary_data_size of {where} ({size}) runs past the end of the binary data "
                f"({len(binary) - offset} bytes left)."
            )
        array = decode_binary_data(binary[offset : offset + size], datatype, shape, count, where)
        return InputTensor(name, datatype, shape, array), size
    if "data" not in raw:
        raise InvalidInput(f"{where.capitalize()} needs 'data' or binary_data_size.")
    array = decode_json_data(raw["data"], datatype, shape, count, where)
    return InputTensor(name, datatype, shape, array), 0


def _outputs(value: object, binary_output: bool) -> tuple[OutputRequest, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_TENSORS:
        raise InvalidInput(f"'outputs' must be an array of at most {MAX_TENSORS} objects.")
    requests: list[OutputRequest] = []
    for index, raw in enumerate(value):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise InvalidInput(f"Output {index} must be an object with a 'name'.")
        name = raw["name"]
        raw_parameters = raw.get("parameters")
        if raw_parameters is None:  # the common case: nothing to check
            requests.append(OutputRequest(name, binary_output, 0))
            continue
        where = Where("output", name)
        parameters = _parameters(raw_parameters, where)
        binary = _flag(parameters, "binary_data", where) if "binary_data" in parameters else binary_output
        classes = parameters.get("classification", 0)
        if type(classes) is not int or not 0 <= classes <= MAX_CLASS_COUNT:
            raise InvalidInput(f"classification of {where} must be an integer from 0 to {MAX_CLASS_COUNT}.")
        requests.append(OutputRequest(name, binary, classes))
    names = [r.name for r in requests]
    if len(names) > 1 and len(set(names)) != len(names):
        raise InvalidInput("Each output may be asked for once.")
    return tuple(requests)


# -- answers ----------------------------------------------------------------------------------------


#: numpy dtype -> protocol datatype, for outputs (native byte order is little-endian here).
_DATATYPE_OF_DTYPE = {dtype: name for name, dtype in NUMPY_OF.items() if name != "BYTES"}


def datatype_of(array: np.ndarray) -> str:
    """The protocol datatype of an output array (object and string arrays are ``BYTES``)."""
    if array.dtype.kind in "OSU":
        return "BYTES"
    name = _DATATYPE_OF_DTYPE.get(array.dtype)
    if name is None:
        raise InvalidInput(f"An output of numpy type {array.dtype} has no protocol datatype.")
    return name


def classify(values: np.ndarray, count: int, labels: Sequence[str] | None) -> np.ndarray:
    """The classification extension: per row (the last axis holds the classes) the ``count`` best
    classes, best first, as ``"score:index:label"`` (``"score:index"`` without a label), an object
    array of shape ``[..., min(count, classes)]``. A 1-D output is one row."""
    if values.dtype.kind not in "biuf":
        raise InvalidInput("Only numeric outputs can be classified.")
    rows = values.reshape(1, -1) if values.ndim <= 1 else values.reshape(-1, values.shape[-1])
    k = min(count, rows.shape[1])
    order = np.argsort(-rows.astype(np.float64), axis=1, kind="stable")[:, :k]
    texts = np.empty(order.shape, dtype=np.object_)
    for r in range(rows.shape[0]):
        for c in range(k):
            index = int(order[r, c])
            score = f"{float(rows[r, index]):f}"
            if labels is not None and index < len(labels):
                texts[r, c] = f"{score}:{index}:{labels[index]}".encode()
            else:
                texts[r, c] = f"{score}:{index}".encode()
    shape = (k,) if values.ndim <= 1 else (*values.shape[:-1], k)
    return texts.reshape(shape)


def encode_infer_response(
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: Sequence[OutputTensor],
    *,
    limit: int,
) -> tuple[bytes, int | None]:
    """The answer body and, when any output travels as binary, the length of its JSON part."""
    entries: list[dict[str, Any]] = []
    buffers: list[bytes] = []
    size = 0
    for output in outputs:
        array = output.array
        entry: dict[str, Any] = {
            "name": output.name,
            "datatype": datatype_of(array),
            "shape": list(array.shape),
        }
        if output.binary:
            if array.dtype.kind in "OSU":
                data = encode_bytes_elements(array)
            else:
                data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
            entry["parameters"] = {"binary_data_size": len(data)}
            buffers.append(data)
            size += len(data)
        else:
            entry["data"] = encode_json_data(array)
        if size > limit:
            raise _too_large(limit)
        entries.append(entry)
    answer: dict[str, Any] = {"model_name": model_name, "model_version": model_version, "outputs": entries}
    if request_id is not None:
        answer["id"] = request_id
    header = orjson.dumps(answer)
    total = len(header) + size
    if total > limit:
        raise _too_large(limit)
    if not buffers:
        return header, None
    return b"".join([header, *buffers]), len(header)


def _too_large(limit: int) -> ResponseTooLarge:
    return ResponseTooLarge(
        f"The answer is over the response limit of {limit} bytes (OMLSVC_MAX_RESPONSE_BYTES); "
        "send fewer rows or ask for fewer outputs."
    )
