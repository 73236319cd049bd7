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

Patterns are those the services check (:mod:`omlsvc.core.patterns`), anchored (Oracle's are not,
which makes them match almost anything), in the corrected forms the spec settles on: ``modelName``
is ``[A-Za-z0-9_#$]{1,50}`` [I] and ``version`` is ``^[1-9]?[0-9](\\.[0-9][0-9]?)?$`` (Oracle's
escaping normalised). Limits come from :mod:`omlsvc.core.limits`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from omlsvc.core import patterns
from omlsvc.core.limits import MAX_DESCRIPTION, MAX_SCORE_TIMEOUT_S
from omlsvc.core.patterns import anchored
from omlsvc.core.signature import ELEMENT_TYPES, Function, ModelType
from omlsvc.openapi.builders import SCHEMA_REF_PREFIX, collection_schema, links_schema, schema_ref
from omlsvc.openapi.tensor_schemas import OUTPUT_TENSOR_PARAM

__all__ = ["SCHEMA_NAMES", "component_schemas", "schema", "schema_ref", "user_name_schema"]


def _links() -> dict[str, Any]:
    return links_schema("Links to this resource; the first is rel 'self'.")


def _collection(item: str, description: str) -> dict[str, Any]:
    return collection_schema(item, description=description, links=_links())


def user_name_schema(description: str) -> dict[str, Any]:
    """A user of the service, as the token service and the grants check it."""
    return {"type": "string", "pattern": anchored(patterns.USER_NAME), "description": description}


_MODEL_ID = {
    "type": "string",
    "pattern": anchored(patterns.MODEL_ID),
    "description": "Model identifier (a UUID).",
}
_MODEL_NAME = {"type": "string", "pattern": anchored(patterns.MODEL_NAME), "description": "Model name."}
_VERSION = {
    "type": "string",
    "pattern": anchored(patterns.VERSION),
    "description": "Model version, e.g. 1.0.",
}
_NAMESPACE = {"type": "string", "pattern": anchored(patterns.NAMESPACE), "description": "Model namespace."}
_DESCRIPTION = {"type": "string", "maxLength": MAX_DESCRIPTION, "description": "Model description."}
_MODEL_TYPE = {
    "type": "string",
    "enum": [t.value for t in ModelType],
    "description": "ONNX for non-image models, ONNX_IMG for image models.",
}
_SHARED = {"type": "boolean", "description": "Whether every user of the service may see and score the model."}
_CREATED_BY = user_name_schema("User who stored the model.")
_URI = {
    "type": "string",
    "pattern": anchored(patterns.DEPLOYMENT_URI),
    "description": "Endpoint URI, unique in the service.",
}
_TIMESTAMP = {"type": "string", "format": "date-time", "description": "ISO-8601 UTC with milliseconds."}
_SCORE_TIMEOUT = {
    "type": "number",
    "minimum": 0,
    "exclusiveMinimum": True,
    "maximum": MAX_SCORE_TIMEOUT_S,
    "description": (
        "omlsvc extension: seconds a model run of this deployment may take; absent: the service's "
        "OMLSVC_SCORE_TIMEOUT. A run past it is ended with a 503 SCORING_TIMEOUT."
    ),
}


def _created_endpoint_properties() -> dict[str, Any]:
    return {
        "modelId": _MODEL_ID,
        "uri": _URI,
        "deployedOn": _TIMESTAMP,
        "scoreTimeout": _SCORE_TIMEOUT,
        "outputTensor": OUTPUT_TENSOR_PARAM,
        "links": _links(),
    }


def _deployment_endpoint_properties() -> dict[str, Any]:
    return {
        **_created_endpoint_properties(),
        "modelName": _MODEL_NAME,
        "version": _VERSION,
        "modelType": _MODEL_TYPE,
        "createdBy": _CREATED_BY,
        "shared": _SHARED,
        "description": _DESCRIPTION,
        "namespace": _NAMESPACE,
        "canary": {
            "type": "object",
            "description": "Our extension: a second model scoring `percent` percent of the requests.",
            "properties": {"modelId": _MODEL_ID, "percent": {"type": "integer", "minimum": 1, "maximum": 99}},
        },
    }


_CREATED_ENDPOINT_REQUIRED = ["modelId", "uri", "deployedOn", "links"]
_DEPLOYMENT_ENDPOINT_REQUIRED = [
    *_CREATED_ENDPOINT_REQUIRED,
    "modelName",
    "version",
    "modelType",
    "createdBy",
    "shared",
]

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
            "links": _links(),
        },
    },
    "ApiVersionCollection": _collection("ApiVersion", "Every available version of the API."),
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
            "modelName": _MODEL_NAME,
            "modelType": _MODEL_TYPE,
            "version": _VERSION,
            "description": _DESCRIPTION,
            "namespace": _NAMESPACE,
            "shared": {
                "type": "string",
                "description": "Text: false when missing or 'false' (any case); true otherwise.",
            },
        },
    },
    "CreateModelResponse": {
        "type": "object",
        "required": ["modelId", "links"],
        "properties": {"modelId": _MODEL_ID, "links": _links()},
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
            "modelId": _MODEL_ID,
            "modelName": _MODEL_NAME,
            "version": _VERSION,
            "modelType": _MODEL_TYPE,
            "shared": _SHARED,
            "createdBy": _CREATED_BY,
            "storedOn": _TIMESTAMP,
            "description": _DESCRIPTION,
            "namespace": _NAMESPACE,
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
            "links": _links(),
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
    "ModelResponseCollection": _collection(
        "ModelResponse", "Models visible to the caller: own, shared, or granted to the caller by name."
    ),
    "UpdateNamespaceParam": {
        "type": "object",
        "required": ["namespace"],
        "properties": {"namespace": _NAMESPACE},
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
    "EndpointParam": {
        "type": "object",
        "required": ["modelId", "uri"],
        "properties": {
            "modelId": _MODEL_ID,
            "uri": _URI,
            "scoreTimeout": _SCORE_TIMEOUT,
            "outputTensor": OUTPUT_TENSOR_PARAM,
        },
    },
    "CreatedEndpoint": {
        "type": "object",
        "required": _CREATED_ENDPOINT_REQUIRED,
        "properties": _created_endpoint_properties(),
    },
    "DeploymentEndpoint": {
        "type": "object",
        "required": _DEPLOYMENT_ENDPOINT_REQUIRED,
        "properties": _deployment_endpoint_properties(),
    },
    "DeploymentEndpointCollection": _collection(
        "DeploymentEndpoint", "Endpoints visible to the caller: of own, shared or granted models."
    ),
    "EndpointWithDetails": {
        "type": "object",
        "required": [*_DEPLOYMENT_ENDPOINT_REQUIRED, "metadata"],
        "properties": {**_deployment_endpoint_properties(), "metadata": schema_ref("ModelMetadata")},
    },
    "PasswordTokenRequest": {
        "type": "object",
        "description": "Log in with a user name and password.",
        "required": ["grant_type", "username", "password"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["password"]},
            "username": {"type": "string", "minLength": 1},
            "password": {"type": "string", "format": "password", "minLength": 1},
        },
    },
    "RefreshTokenRequest": {
        "type": "object",
        "description": (
            "Refresh a still valid token (also sent as the bearer credential); possible up to 8 hours "
            "after the original login."
        ),
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"type": "string", "enum": ["refresh_token"]},
            "refresh_token": {
                "type": "string",
                "description": "The current access token itself; when absent, the bearer token is refreshed.",
            },
        },
    },
    "TokenRequest": {
        "description": "Body of POST /omlusers/api/oauth2/v1/token.",
        "oneOf": [schema_ref("PasswordTokenRequest"), schema_ref("RefreshTokenRequest")],
    },
    "TokenResponse": {
        "type": "object",
        "required": ["accessToken", "expiresIn"],
        "properties": {
            "accessToken": {
                "type": "string",
                "description": "Send as 'Authorization: Bearer <accessToken>'.",
            },
            "expiresIn": {"type": "integer", "minimum": 1, "description": "Seconds until the token expires."},
            "tokenType": {"type": "string", "enum": ["Bearer"]},
        },
    },
    "TokenRevokeResponse": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
    },
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
