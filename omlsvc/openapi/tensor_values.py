"""A tensor's values in JSON, by ONNX element type: the schema of one element, the nested arrays of a
tensor, and an example of each; shared by the request schemas and the examples of a deployment's
document (:mod:`omlsvc.openapi.deployment_schemas`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Strings the scoring service coerces into floating-point tensors: decimal and exponent notation,
#: NaN and infinities (any case, optional sign and surrounding blanks), as Oracle's examples send
#: ``"5"`` and ``"NaN"`` for numeric columns.
NUMERIC_STRING_PATTERN = (
    "^\\s*[+-]?(\\d+\\.?\\d*([eE][+-]?\\d+)?|\\.\\d+([eE][+-]?\\d+)?"
    "|[Nn][Aa][Nn]|[Ii][Nn][Ff]([Ii][Nn][Ii][Tt][Yy])?)\\s*$"
)

_FLOAT_FORMATS: dict[str, str | None] = {
    "FLOAT": "float",
    "DOUBLE": "double",
    "FLOAT16": None,
    "BFLOAT16": None,
}
_INT_RANGES: dict[str, tuple[int, int]] = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
_INT_FORMATS = {"INT32": "int32", "INT64": "int64"}


def nested_array(shape: Sequence[int], leaf: dict[str, Any]) -> dict[str, Any]:
    """Nested arrays for a tensor: the outer level holds rows (at least one, however many the
    model's batch dimension allows); inner levels are fixed in length where the graph fixes them."""
    schema = leaf
    for dim in reversed(shape[1:]):
        schema = {"type": "array", "items": schema}
        if dim > 0:
            schema["minItems"] = dim
            schema["maxItems"] = dim
    return {"type": "array", "minItems": 1, "items": schema}


def element_schema(element_type: str, *, numeric_strings: bool) -> dict[str, Any]:
    """The JSON value for one tensor element. Floating-point inputs also take the numeric strings the
    service coerces (``"5"``, ``"NaN"``) when ``numeric_strings``; other types take their JSON type."""
    if element_type in _FLOAT_FORMATS:
        number: dict[str, Any] = {"type": "number"}
        if fmt := _FLOAT_FORMATS[element_type]:
            number["format"] = fmt
        if not numeric_strings:
            return number
        text = {
            "type": "string",
            "pattern": NUMERIC_STRING_PATTERN,
            "description": "A number or NaN, as text.",
        }
        return {"oneOf": [number, text]}
    if element_type in _INT_RANGES:
        low, high = _INT_RANGES[element_type]
        integer: dict[str, Any] = {"type": "integer", "minimum": low, "maximum": high}
        if element_type in _INT_FORMATS:
            integer["format"] = _INT_FORMATS[element_type]
        return integer
    if element_type == "BOOL":
        return {"type": "boolean"}
    if element_type == "STRING":
        return {"type": "string"}
    return {"description": f"Element type {element_type}: any JSON value the model runtime accepts."}


def example_array(shape: Sequence[int], element_type: str) -> Any:
    """Nested lists of one example element: one row, every other dimension its fixed size or 1."""
    if not shape:
        return example_element(element_type)
    size = shape[0] if shape[0] > 0 else 1
    return [example_array(shape[1:], element_type) for _ in range(size)]


def example_element(element_type: str) -> Any:
    if element_type in _FLOAT_FORMATS:
        return 0.5
    if element_type in _INT_RANGES:
        return 1
    if element_type == "BOOL":
        return True
    if element_type == "STRING":
        return "a"
    return 0
