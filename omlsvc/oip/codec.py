"""The Open Inference Protocol's tensors on the wire, and nothing else: no HTTP, no model, no session.

An inference request is a JSON header, optionally followed by the binary tensor data extension's raw
buffers (``Inference-Header-Content-Length`` says where the JSON ends). :func:`parse_infer_request`
turns it into numpy arrays and checks everything the protocol itself fixes: datatype names, that a
shape and its ``data`` (or its ``binary_data_size``) hold the same number of elements, that the
binary sizes add up to the body exactly, that ``data`` values are of the datatype. A buffer is viewed
in place (``np.frombuffer``: no copy) whenever its datatype has a fixed width; ``BYTES`` is read
element by element (4-byte little-endian length, then the bytes).

:func:`encode_infer_response` builds the answer: JSON ``data`` for outputs asked that way, raw
buffers after the JSON for the others, and the classification extension's ``"score:index:label"``
strings (:func:`classify`). Every refusal is :class:`InvalidInput` (a 400), naming the tensor.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from omlsvc.core.errors import InvalidInput, PayloadTooLarge, ResponseTooLarge

#: Protocol datatype -> numpy dtype of the wire (little-endian, as the binary extension requires).
NUMPY_OF: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(np.object_),
}
DATATYPES = tuple(NUMPY_OF)

#: ONNX element type (as :mod:`omlsvc.core.signature` spells it) -> protocol datatype.
DATATYPE_OF_ELEMENT = {
    "FLOAT": "FP32",
    "DOUBLE": "FP64",
    "FLOAT16": "FP16",
    "INT8": "INT8",
    "INT16": "INT16",
    "INT32": "INT32",
    "INT64": "INT64",
    "UINT8": "UINT8",
    "UINT16": "UINT16",
    "UINT32": "UINT32",
    "UINT64": "UINT64",
    "BOOL": "BOOL",
    "STRING": "BYTES",
}

#: The header of the binary tensor data extension: the length of the JSON part of a body.
HEADER_LENGTH = "Inference-Header-Content-Length"
#: Tensors in one request and dimensions of one tensor: far beyond any model, small enough to check.
MAX_TENSORS = 64
MAX_RANK = 16
MAX_ID = 256
MAX_CLASS_COUNT = 10_000
_LENGTH = struct.Struct("<I")
#: Tensors of at most this many elements are checked in Python (numpy's per-call cost dominates).
SMALL = 64
_FLOAT_MAX = {name: float(np.finfo(NUMPY_OF[name]).max) for name in ("FP16", "FP32")}


@dataclass(frozen=True)
class InputTensor:
    """One input tensor of a request, decoded: ``array`` has ``shape`` and the datatype's dtype
    (``BYTES``: an object array of ``bytes``)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    array: np.ndarray


@dataclass(frozen=True)
class OutputRequest:
    """One output asked for: as raw bytes after the JSON (``binary``) or as JSON ``data``; with
    ``class_count`` > 0, its top classes as ``"score:index:label"`` strings instead of its values."""

    name: str
    binary: bool = False
    class_count: int = 0


@dataclass(frozen=True)
class InferRequest:
    """A parsed inference request. ``outputs`` is None when the request names none (all outputs,
    in the representation ``binary_output`` says)."""

    inputs: tuple[InputTensor, ...]
    outputs: tuple[OutputRequest, ...] | None
    id: str | None = None
    binary_output: bool = False
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """The batch: the first dimension of the first input (1 for a scalar)."""
        shape = self.inputs[0].shape
        return shape[0] if shape else 1


@dataclass(frozen=True)
class OutputTensor:
    """An output to send: its values (a numpy array, already classified when asked) and how."""

    name: str
    array: np.ndarray
    binary: bool


def parse_header_length(value: str | None, body_length: int) -> int | None:
    """``Inference-Header-Content-Length``: absent (all JSON) or an integer within the body."""
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit() or len(text) > 19:
        raise InvalidInput(f"{HEADER_LENGTH} must be a non-negative integer, not {value[:40]!r}.")
    length = int(text)
    if length > body_length:
        raise InvalidInput(f"{HEADER_LENGTH} is {length} but the request body has only {body_length} bytes.")
    return length


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


class _Where:
    """What an error message names (``input 'x'``, ``output 'y'``), formatted only when one is
    raised: a valid request pays for no message text."""

    __slots__ = ("kind", "name")

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r}"

    def capitalize(self) -> str:
        return str(self).capitalize()


_NO_PARAMETERS: Mapping[str, Any] = {}


def _parameters(value: object, where: str | _Where) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"'parameters' of {where} must be an object.")
    return value


def _flag(parameters: Mapping[str, Any], name: str, where: str | _Where) -> bool:
    value = parameters.get(name, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"Parameter {name!r} of {where} must be true or false.")
    return value


def _shape(value: object, where: _Where) -> tuple[int, ...]:
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
    where = _Where("input", name)  # spelt out only in an error message
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
        array = _from_buffer(binary[offset : offset + size], datatype, shape, count, where)
        return InputTensor(name, datatype, shape, array), size
    if "data" not in raw:
        raise InvalidInput(f"{where.capitalize()} needs 'data' or binary_data_size.")
    array = _from_json(raw["data"], datatype, shape, count, where)
    return InputTensor(name, datatype, shape, array), 0


def _from_buffer(
    buffer: memoryview, datatype: str, shape: tuple[int, ...], count: int, where: _Where
) -> np.ndarray:
    """A view of the request's bytes (no copy) for fixed-width datatypes."""
    if datatype == "BYTES":
        return _bytes_elements(buffer, shape, count, where)
    dtype = NUMPY_OF[datatype]
    expected = count * dtype.itemsize
    if len(buffer) != expected:
        raise InvalidInput(
            f"binary_data_size of {where} is {len(buffer)} bytes but shape {list(shape)} of {datatype} "
            f"needs {expected}."
        )
    array = np.frombuffer(buffer, dtype=dtype).reshape(shape)
    if datatype == "BOOL" and count and int(np.frombuffer(buffer, dtype=np.uint8).max()) > 1:
        raise InvalidInput(f"BOOL values of {where} must be bytes 0 or 1.")
    return array


def _bytes_elements(buffer: memoryview, shape: tuple[int, ...], count: int, where: _Where) -> np.ndarray:
    elements = np.empty(count, dtype=np.object_)
    position = 0
    end = len(buffer)
    for index in range(count):
        if position + 4 > end:
            raise InvalidInput(f"The BYTES data of {where} ends before element {index} of {count}.")
        (length,) = _LENGTH.unpack_from(buffer, position)
        position += 4
        if position + length > end:
            raise InvalidInput(f"Element {index} of {where} runs past its binary_data_size.")
        elements[index] = bytes(buffer[position : position + length])
        position += length
    if position != end:
        raise InvalidInput(
            f"The BYTES data of {where} holds {end - position} bytes beyond its {count} elements."
        )
    return elements.reshape(shape)


def _from_json(data: object, datatype: str, shape: tuple[int, ...], count: int, where: _Where) -> np.ndarray:
    """Row-major ``data``, flat or nested as the shape (the protocol allows both), in one
    ``np.array`` call: what numpy infers from the values decides whether they are of the datatype."""
    if not isinstance(data, list):
        raise InvalidInput(f"The data of {where} must be an array.")
    try:
        values = np.array(data)
    except (ValueError, OverflowError, RecursionError):
        raise InvalidInput(f"The data of {where} must be a flat or evenly nested array of values.") from None
    if values.size != count:
        raise InvalidInput(
            f"{where.capitalize()} has shape {list(shape)} ({count} elements) but its data holds {values.size}."
        )
    dtype = NUMPY_OF[datatype]
    if count == 0:
        return np.empty(shape, dtype=dtype)
    kind = values.dtype.kind
    if datatype == "BYTES":
        if kind != "U":
            raise InvalidInput(f"The data of BYTES {where} must be strings.")
        texts = np.empty(count, dtype=np.object_)
        texts[:] = [v.encode("utf-8") for v in values.reshape(-1).tolist()]
        return texts.reshape(shape)
    if datatype == "BOOL":
        if kind != "b":
            raise InvalidInput(f"The data of BOOL {where} must be true or false.")
        return values.reshape(shape)
    floating = dtype.kind == "f"
    if kind not in ("iuf" if floating else "iu"):
        raise InvalidInput(f"The data of {datatype} {where} must be {'numbers' if floating else 'integers'}.")
    if floating:
        if dtype.itemsize == 8:
            return values.astype(dtype).reshape(shape)
        # JSON numbers are finite: only a narrower type can overflow, to infinity.
        if count <= SMALL and values.ndim == 1:
            # a few numbers in a flat list (batch 1): Python's min and max beat numpy's calls
            top = _FLOAT_MAX[datatype]
            if max(data) > top or min(data) < -top:
                raise InvalidInput(f"The data of {where} holds values out of range for {datatype}.")
            return values.astype(dtype).reshape(shape)
        # one reduction finds an overflow: finite float16/32 values cannot sum to infinity in float64
        with np.errstate(over="ignore"):
            cast = values.astype(dtype).reshape(shape)
        if not math.isfinite(float(cast.sum(dtype=np.float64))):
            raise InvalidInput(f"The data of {where} holds values out of range for {datatype}.")
        return cast
    info = np.iinfo(dtype)
    if values.min() < info.min or values.max() > info.max:
        raise InvalidInput(f"The data of {where} holds values out of range for {datatype}.")
    return values.astype(dtype).reshape(shape)


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
        where = _Where("output", name)
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


def _bytes_buffer(array: np.ndarray) -> bytes:
    parts: list[bytes] = []
    for value in array.reshape(-1):
        data = value if isinstance(value, bytes) else str(value).encode("utf-8")
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def _json_data(array: np.ndarray) -> list[Any]:
    flat = array.reshape(-1)
    if array.dtype.kind in "OSU":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
    values = flat.tolist()
    if array.dtype.kind != "f":
        return values
    # JSON has no NaN or infinity: they travel as null (ask binary_data to keep them). A few values
    # are looked at in Python; more at once by a float64 sum (one reduction), finite only when all are.
    isfinite = math.isfinite
    if len(values) <= SMALL:
        if all(map(isfinite, values)):
            return values
    elif isfinite(float(flat.sum(dtype=np.float64))):
        return values
    return [v if isfinite(v) else None for v in values]


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
                data = _bytes_buffer(array)
            else:
                data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
            entry["parameters"] = {"binary_data_size": len(data)}
            buffers.append(data)
            size += len(data)
        else:
            entry["data"] = _json_data(array)
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
