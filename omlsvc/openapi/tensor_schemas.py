"""Service-document schemas of tensors by name (issue 16): ``outputTensors`` on score, the answer's
``tensors``, ``GET .../deployment/{uri}/tensors`` and a deployment's ``outputTensor``.

The per-deployment document narrows these to the deployed graph's names
(:func:`omlsvc.openapi.deployment_schemas.add_output_tensors`).
"""

from __future__ import annotations

from typing import Any

from omlsvc.core.limits import MAX_OUTPUT_TENSORS, MAX_TENSOR_NAME
from omlsvc.openapi.builders import schema_ref

TENSOR_NAME: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_TENSOR_NAME}

OUTPUT_TENSORS_PARAM: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_OUTPUT_TENSORS,
    "uniqueItems": True,
    "items": TENSOR_NAME,
    "description": (
        "omlsvc extension: answer these values of the graph (outputs or intermediate values; GET "
        '.../tensors lists them) for the whole batch instead of scoringResults: {"tensors": [...]}. '
        "A name the graph does not compute is a 400."
    ),
}

OUTPUT_TENSOR_PARAM: dict[str, Any] = {
    **TENSOR_NAME,
    "description": (
        "omlsvc extension: cut the model at this graph value (keep the graph up to it); the deployment "
        "then scores as feature extraction on it, flattened per row. A value the graph does not compute, "
        "or a graph input, is a 400."
    ),
}

_SHAPE = {"type": "array", "items": {"type": "integer"}}

TENSOR_SCHEMAS: dict[str, dict[str, Any]] = {
    "NamedTensor": {
        "type": "object",
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"type": "string"},
            "shape": _SHAPE,
            "datatype": {"type": "string", "description": "ONNX element type, e.g. FLOAT."},
            "data": {"type": "array", "items": {}, "description": "The values, row-major."},
        },
    },
    "GraphTensor": {
        "type": "object",
        "required": ["name", "kind", "datatype", "shape", "operator"],
        "properties": {
            "name": {"type": "string"},
            "kind": {"type": "string", "enum": ["input", "intermediate", "output"]},
            "datatype": {
                "type": "string",
                "description": "ONNX element type; TENSOR when shape inference could not type it, UNKNOWN "
                "for a sequence or map (not returnable).",
            },
            "shape": {
                **_SHAPE,
                "nullable": True,
                "description": "-1 for an unknown dimension; null: unknown rank.",
            },
            "operator": {"type": "string", "nullable": True, "description": "The op computing it."},
        },
    },
    "GraphTensorList": {
        "type": "object",
        "required": ["tensors"],
        "properties": {"tensors": {"type": "array", "items": schema_ref("GraphTensor")}},
    },
}
