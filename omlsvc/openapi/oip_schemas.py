"""The Open Inference Protocol's schema components in the service document (``Oip*``): server and
model metadata, readiness, the repository index, inference requests and responses, statistics and the
protocol's error body; the paths that use them are :mod:`omlsvc.openapi.oip`'s.
"""

from __future__ import annotations

from typing import Any

#: The datatypes an input may have (what :mod:`omlsvc.oip.codec` decodes).
DATATYPES = [
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]
_MAX_TENSORS = 64
_MAX_RANK = 16


def _tensor_metadata() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    }


def _parameters() -> dict[str, Any]:
    return {"type": "object", "additionalProperties": True}


def oip_schemas() -> dict[str, dict[str, Any]]:
    return {
        "OipError": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "OipEmpty": {"type": "object"},
        "OipLive": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
        "OipReady": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
        "OipServerMetadata": {
            "type": "object",
            "required": ["name", "version", "extensions"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "extensions": {"type": "array", "items": {"type": "string"}},
            },
        },
        "OipModelMetadata": {
            "type": "object",
            "required": ["name", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array", "items": _tensor_metadata()},
                "outputs": {"type": "array", "items": _tensor_metadata()},
            },
        },
        "OipModelReady": {
            "type": "object",
            "required": ["name", "ready"],
            "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
        },
        "OipModelConfig": {
            "type": "object",
            "required": ["name", "platform", "max_batch_size", "input", "output"],
            "properties": {
                "name": {"type": "string"},
                "platform": {"type": "string"},
                "backend": {"type": "string"},
                "max_batch_size": {"type": "integer", "minimum": 0},
                "input": {"type": "array", "items": {"type": "object"}},
                "output": {"type": "array", "items": {"type": "object"}},
            },
        },
        "OipInferenceRequest": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string", "maxLength": 256},
                "parameters": {
                    "type": "object",
                    "properties": {"binary_data_output": {"type": "boolean"}},
                    "additionalProperties": True,
                },
                "inputs": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": _MAX_TENSORS,
                    "items": {
                        "type": "object",
                        "required": ["name", "shape", "datatype"],
                        "description": "Row-major 'data' (flat or nested), or parameters.binary_data_size.",
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "shape": {
                                "type": "array",
                                "maxItems": _MAX_RANK,
                                "items": {"type": "integer", "minimum": 0},
                            },
                            "datatype": {"type": "string", "enum": DATATYPES},
                            "parameters": {
                                "type": "object",
                                "properties": {"binary_data_size": {"type": "integer", "minimum": 0}},
                                "additionalProperties": True,
                            },
                            "data": {"type": "array"},
                        },
                    },
                },
                "outputs": {
                    "type": "array",
                    "maxItems": _MAX_TENSORS,
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string"},
                            "parameters": {
                                "type": "object",
                                "properties": {
                                    "binary_data": {"type": "boolean"},
                                    "classification": {"type": "integer", "minimum": 0, "maximum": 10_000},
                                },
                                "additionalProperties": True,
                            },
                        },
                    },
                },
            },
        },
        "OipInferenceResponse": {
            "type": "object",
            "required": ["model_name", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "datatype", "shape"],
                        "properties": {
                            "name": {"type": "string"},
                            "datatype": {"type": "string"},
                            "shape": {"type": "array", "items": {"type": "integer"}},
                            "data": {"type": "array"},
                            "parameters": _parameters(),
                        },
                    },
                },
            },
        },
        "OipStatistics": {
            "type": "object",
            "required": ["model_stats"],
            "properties": {"model_stats": {"type": "array", "items": {"type": "object"}}},
        },
        "OipRepositoryIndexRequest": {
            "type": "object",
            "properties": {"ready": {"type": "boolean"}},
        },
        "OipRepositoryIndex": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "state"],
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "string"},
                    "state": {"type": "string", "enum": ["READY", "UNAVAILABLE"]},
                    "reason": {"type": "string"},
                },
            },
        },
        "OipRepositoryRequest": {
            "type": "object",
            "properties": {
                "parameters": {
                    "type": "object",
                    "properties": {"version": {"type": "string", "description": "Load this version."}},
                    "additionalProperties": True,
                }
            },
        },
    }
