"""The Open Inference Protocol's tensors as values: the datatypes and their numpy dtypes, the limits
a request is checked against, and the decoded request and the outputs to send.

Shared by the codec (:mod:`omlsvc.oip.codec`) and the two ways tensor data travel, JSON ``data``
(:mod:`omlsvc.oip.json_data`) and the binary tensor data extension (:mod:`omlsvc.oip.binary_data`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

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

#: Tensors in one request and dimensions of one tensor: far beyond any model, small enough to check.
MAX_TENSORS = 64
MAX_RANK = 16
MAX_ID = 256
MAX_CLASS_COUNT = 10_000
#: Tensors of at most this many elements are checked in Python (numpy's per-call cost dominates).
SMALL = 64


class Where:
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
