"""The binary tensor data extension of the Open Inference Protocol: the header that says where a
body's JSON ends, and tensors as raw little-endian buffers after it.

A fixed-width buffer is viewed in place (``np.frombuffer``: no copy); ``BYTES`` is read and written
element by element (4-byte little-endian length, then the bytes). Every refusal is
:class:`InvalidInput` (a 400), naming the tensor.
"""

from __future__ import annotations

import struct

import numpy as np

from omlsvc.core.errors import InvalidInput
from omlsvc.oip.tensors import NUMPY_OF, Where

#: The header of the binary tensor data extension: the length of the JSON part of a body.
HEADER_LENGTH = "Inference-Header-Content-Length"
_LENGTH = struct.Struct("<I")


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


def decode_binary_data(
    buffer: memoryview, datatype: str, shape: tuple[int, ...], count: int, where: Where
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


def _bytes_elements(buffer: memoryview, shape: tuple[int, ...], count: int, where: Where) -> np.ndarray:
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


def encode_bytes_elements(array: np.ndarray) -> bytes:
    """A ``BYTES`` output as the extension sends it: each element's 4-byte length, then its bytes."""
    parts: list[bytes] = []
    for value in array.reshape(-1):
        data = value if isinstance(value, bytes) else str(value).encode("utf-8")
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)
