"""Schema components (OpenAPI 3.0 Schema Objects) shared by the service's documents.

The shapes follow ``spec/oml-api.md`` sections 1-5, which in turn follow Oracle's published OpenAPI
file; component names are Oracle's where that file names a shape, except ``Link`` (Oracle:
``OMLResourceLink``) and the token schemas (the token service has no published schema). They live
in one place so that the service-wide ``GET /omlmod/v1/api`` document, the per-deployment documents
(which reuse ``Error``) and tests that check real responses all describe the same bodies.

References between fragments use ``#/components/schemas/<Name>``, so a document must carry every
fragment it references under exactly those names: :func:`component_schemas` returns a fragment
together with everything it references. Every accessor returns deep copies, so callers may edit
what they get without changing what the next caller sees.

The fields several shapes share live in :mod:`omlsvc.openapi.fields`; the deployment endpoints' and
the token service's shapes in :mod:`omlsvc.openapi.endpoint_schemas` and
:mod:`omlsvc.openapi.token_schemas`, merged into the one registry here.

Patterns are those the services check (:mod:`omlsvc.core.patterns`), anchored (Oracle's are not,
which makes them match almost anything), in the corrected forms the spec settles on: ``modelName``
is ``[A-Za-z0-9_#$]{1,50}`` [I] and ``version`` is ``^[1-9]?[0-9](\\.[0-9][0-9]?)?$`` (Oracle's
escaping normalised). Limits come from :mod:`omlsvc.core.limits`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from omlsvc.core.signature import ELEMENT_TYPES, Function
from omlsvc.openapi.builders import SCHEMA_REF_PREFIX, schema_ref
from omlsvc.openapi.endpoint_schemas import ENDPOINT_SCHEMAS
from omlsvc.openapi.fields import (
    CREATED_BY,
    DESCRIPTION,
    MODEL_ID,
    MODEL_NAME,
    MODEL_TYPE,
    NAMESPACE,
    SHARED,
    TIMESTAMP,
    VERSION,
    collection,
    links,
    user_name_schema,
)
from omlsvc.openapi.token_schemas import TOKEN_SCHEMAS

__all__ = ["SCHEMA_NAMES", "component_schemas", "schema", "schema_ref"]


_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "description": "Body of every non-2xx response.",
        "required": ["code", "message"],
        "properties": {
            "code": {"type": "string", "description": "Stable upper-case error code, e.g. NOT_FOUND."},
            "message": {"type": "string", "description": "Human-readable explanation."},
            "details": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Every individual problem found, e.g. each broken model-package rule.",
            },
        },
    },
    "Link": {
        "type": "object",
        "required": ["rel", "href"],
        "properties": {
            "rel": {"type": "string", "description": "Relation, e.g. self."},
            "href": {"type": "string", "description": "Absolute URL of the related resource."},
        },
    },
    "ApiVersion": {
        "type": "object",
        "required": ["version", "isLatest", "lifecycle", "links"],
        "properties": {
            "version": {"type": "string", "description": "Version of this API, e.g. v1."},
            "isLatest": {"type": "boolean", "description": "True if this is the latest version of the API."},
            "lifecycle": {"type": "string", "enum": ["active", "deprecated"]},
            "links": links(),
        },
    },
    "ApiVersionCollection": collection("ApiVersion", "Every available version of the API."),
    "ModelInputForm": {
        "type": "object",
        "description": "Multipart form that stores a model.",
        "required": ["modelData", "modelName", "modelType", "version"],
        "properties": {
            "modelData": {
                "type": "string",
                "format": "binary",
                "description": "The model package: zip of <name>.onnx, metadata.json, optional label.txt.",
            },
            "modelName": MODEL_NAME,
            "modelType": MODEL_TYPE,
            "version": VERSION,
            "description": DESCRIPTION,
            "namespace": NAMESPACE,
            "shared": {
                "type": "string",
                "description": "Text: false when missing or 'false' (any case); true otherwise.",
            },
        },
    },
    "CreateModelResponse": {
        "type": "object",
        "required": ["modelId", "links"],
        "properties": {"modelId": MODEL_ID, "links": links()},
    },
    "ModelResponse": {
        "type": "object",
        "description": "A stored model, without its content or metadata.",
        "required": [
            "modelId",
            "modelName",
            "version",
            "modelType",
            "shared",
            "createdBy",
            "storedOn",
            "links",
        ],
        "properties": {
            "modelId": MODEL_ID,
            "modelName": MODEL_NAME,
            "version": VERSION,
            "modelType": MODEL_TYPE,
            "shared": SHARED,
            "createdBy": CREATED_BY,
            "storedOn": TIMESTAMP,
            "description": DESCRIPTION,
            "namespace": NAMESPACE,
            "derivedFrom": {
                "type": "object",
                "description": "A variant's source model and how it was derived (issue 15).",
                "properties": {"modelId": {"type": "string"}, "kind": {"type": "string"}},
            },
            "users": {
                "type": "array",
                "items": schema_ref("ModelUser"),
                "description": (
                    "Who holds the model: its owner (OWN) first, then the users it is granted to by name "
                    "(VIEW). The owner and admins see every grant; anyone else sees the owner and, when "
                    "granted, themselves."
                ),
            },
            "links": links(),
        },
    },
    "ModelUser": {
        "type": "object",
        "required": ["username", "permission"],
        "properties": {
            "username": user_name_schema("A user name."),
            "permission": {
                "type": "string",
                "enum": ["OWN", "VIEW"],
                "description": "OWN: the model's creator; VIEW: list, read, download, score, use in a job.",
            },
        },
    },
    "ModelResponseCollection": collection(
        "ModelResponse", "Models visible to the caller: own, shared, or granted to the caller by name."
    ),
    "UpdateNamespaceParam": {
        "type": "object",
        "required": ["namespace"],
        "properties": {"namespace": NAMESPACE},
    },
    "MetadataAttribute": {
        "type": "object",
        "description": "One ONNX graph input or output.",
        "required": ["name", "attributeType"],
        "properties": {
            "name": {"type": "string", "description": "Tensor name in the ONNX graph."},
            "attributeType": {"type": "string", "enum": list(ELEMENT_TYPES), "description": "Element type."},
            "shape": {
                "type": "array",
                "items": {"type": "integer", "format": "int64"},
                "description": "Tensor shape; -1 marks a dynamic dimension.",
            },
        },
    },
    "ModelMetadata": {
        "type": "object",
        "description": "What was learned about a model when it was stored.",
        "required": ["modelName", "miningFunction", "algorithm", "attributes"],
        "properties": {
            "modelName": {"type": "string"},
            "miningFunction": {"type": "string", "enum": [f.value for f in Function]},
            "algorithm": {"type": "string", "enum": ["ONNX"]},
            "attributes": {
                "type": "array",
                "items": schema_ref("MetadataAttribute"),
                "description": "The ONNX graph inputs.",
            },
            "onnxAttributes": {
                "type": "array",
                "items": schema_ref("MetadataAttribute"),
                "description": "The ONNX graph inputs again, under the name Oracle's current clients read.",
            },
            "outputs": {
                "type": "array",
                "items": schema_ref("MetadataAttribute"),
                "description": "The ONNX graph outputs.",
            },
            "labels": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Class or cluster names in column order, when known before scoring.",
            },
        },
    },
    **ENDPOINT_SCHEMAS,
    **TOKEN_SCHEMAS,
}

#: Every fragment this module defines, in definition order.
SCHEMA_NAMES: tuple[str, ...] = tuple(_SCHEMAS)


def schema(name: str) -> dict[str, Any]:
    """A private copy of one fragment; ``KeyError`` names an unknown one."""
    return copy.deepcopy(_SCHEMAS[name])


def component_schemas(*names: str) -> dict[str, dict[str, Any]]:
    """The named fragments plus every fragment they reference, directly or not, ready for
    ``components.schemas``; with no names, all of them. Order: definition order, so output is stable.
    """
    wanted: set[str] = set()
    pending = list(names or SCHEMA_NAMES)
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        if name not in _SCHEMAS:
            raise KeyError(name)
        wanted.add(name)
        pending.extend(_referenced_names(_SCHEMAS[name]))
    return {name: copy.deepcopy(_SCHEMAS[name]) for name in SCHEMA_NAMES if name in wanted}


def _referenced_names(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_REF_PREFIX):
                yield value[len(SCHEMA_REF_PREFIX) :]
            else:
                yield from _referenced_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _referenced_names(item)
