"""The OpenAPI document of the whole service (``GET /omlmod/v1/api``, spec section 3).

Every endpoint the service answers is listed (:mod:`omlsvc.openapi.service_paths` and
:mod:`omlsvc.openapi.jobs`), with the request and response shapes of :mod:`omlsvc.openapi.schemas`;
a test walks the app's routes and fails when one is missing, so the document cannot fall behind the
code. Score calls are described generically; each deployment's own document
(:mod:`omlsvc.openapi.deployment`) describes its model precisely. The error responses are those of
the one error table (:mod:`omlsvc.openapi.error_table`).
"""

from __future__ import annotations

import copy
from typing import Any

from omlsvc import __version__
from omlsvc.openapi.builders import (
    OPENAPI_VERSION,
    SECURITY_SCHEME,
    bearer_scheme,
    collection_schema,
    error_responses,
    links_schema,
    schema_ref,
)
from omlsvc.openapi.console import console_paths
from omlsvc.openapi.deployment_schemas import top_n_details_schemas
from omlsvc.openapi.fields import user_name_schema
from omlsvc.openapi.job_schemas import job_schemas
from omlsvc.openapi.jobs import job_paths
from omlsvc.openapi.oip import oip_paths
from omlsvc.openapi.oip_schemas import oip_schemas
from omlsvc.openapi.schemas import component_schemas
from omlsvc.openapi.service_paths import service_paths
from omlsvc.openapi.swap import swap_schemas
from omlsvc.openapi.tasks import task_paths, task_schemas
from omlsvc.openapi.tensor_schemas import OUTPUT_TENSORS_PARAM, TENSOR_SCHEMAS
from omlsvc.openapi.users import user_paths, user_schemas

_USER_NAME = user_name_schema("A user of the service.")

_GRANT_SCHEMAS: dict[str, dict[str, Any]] = {
    "GrantParam": {
        "type": "object",
        "description": "Share a model with one named user.",
        "required": ["user"],
        "additionalProperties": False,
        "properties": {
            "user": _USER_NAME,
            "permission": {
                "type": "string",
                "enum": ["VIEW"],
                "default": "VIEW",
                "description": "VIEW: list, read, download, score its deployment, use it in a job.",
            },
        },
    },
    "Grant": {
        "type": "object",
        "required": ["username", "permission", "grantedBy", "grantedOn"],
        "properties": {
            "username": _USER_NAME,
            "permission": {"type": "string", "enum": ["VIEW"]},
            "grantedBy": _USER_NAME,
            "grantedOn": {"type": "string", "format": "date-time", "description": "ISO-8601 UTC."},
        },
    },
    "GrantCollection": collection_schema(
        "Grant",
        description="The users a model is granted to by name (its owner is not listed).",
        links=links_schema(),
    ),
}

_SCORE_SCHEMAS: dict[str, dict[str, Any]] = {
    "ScoreParam": {
        "type": "object",
        "required": ["inputRecords"],
        "properties": {
            "inputRecords": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "description": (
                        "ONNX input name -> 2-D array of rows (images: base64 file, 4-D array, or "
                        '{"imageUrl": "https://..."}, an image file the service fetches from a public '
                        "address or one its operator allows: OMLSVC_IMPORT_ALLOW)."
                    ),
                    "additionalProperties": True,
                },
            },
            "topN": {"type": "integer", "minimum": 1},
            **top_n_details_schemas(),
            "outputTensors": OUTPUT_TENSORS_PARAM,
        },
    },
    "ScoreImageForm": {
        "type": "object",
        "required": ["imageData"],
        "properties": {
            "imageData": {"type": "string", "format": "binary", "description": "One image file."},
            "topN": {"type": "integer", "minimum": 1},
            "outputTensors": {
                "type": "string",
                "description": "omlsvc extension: a JSON array of tensor names, or one name per field.",
            },
        },
    },
    "ScoringOutputResultSet": {
        "type": "object",
        "description": "scoringResults; or, when the request named outputTensors, tensors.",
        "oneOf": [{"required": ["scoringResults"]}, {"required": ["tensors"]}],
        "properties": {
            "tensors": {"type": "array", "items": schema_ref("NamedTensor")},
            "scoringResults": {
                "type": "array",
                "description": (
                    "One item per scored row: classifications, regression, clusters or doubleWeights; "
                    "the deployment's own document gives the exact shape."
                ),
                "items": {"type": "object"},
            },
        },
    },
    **TENSOR_SCHEMAS,
    "TokenStatus": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string"},
            "version": {"type": "string"},
            "database": {"type": "string"},
        },
    },
    "OpenApiDocument": {
        "type": "object",
        "description": "An OpenAPI 3.0 document.",
        "additionalProperties": True,
    },
}

#: What each error status means across the service; a status missing here is described by the
#: docstrings of its error classes.
ERROR_TEXT = {
    400: "The request is malformed or breaks a documented rule.",
    401: "Missing, malformed, expired or revoked token.",
    403: "Only the creator (or an admin) may do this.",
    404: "No such resource, or not visible to the caller.",
    409: "Clashes with the current state (duplicate, still deployed, ...).",
    413: "The body or upload is over its limit.",
    415: "Wrong Content-Type for this operation.",
    429: (
        "Too many failed logins for this user name or client address (5 are free, then the wait doubles "
        "from 1 s up to 15 min by default), or this worker is busy checking other passwords: nothing was "
        "checked; retry after the number of seconds in Retry-After."
    ),
    500: "Unexpected error; the message carries a request id.",
    503: "The database is not reachable; retry shortly.",
}

#: Headers an error answer carries, by status.
ERROR_HEADERS = {
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def service_document(server_url: str) -> dict[str, Any]:
    """The service's OpenAPI 3.0.3 document, its server at ``server_url`` (a trailing ``/`` dropped)."""
    schemas = component_schemas()
    schemas.update(copy.deepcopy(_SCORE_SCHEMAS))
    schemas.update(copy.deepcopy(_GRANT_SCHEMAS))
    schemas.update(job_schemas())
    schemas.update(swap_schemas())
    schemas.update(task_schemas())
    schemas.update(oip_schemas())  # issue 14: the Open Inference Protocol under /v2
    schemas.update(user_schemas())  # issue 19: user accounts for admins
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "omlsvc: OML Services REST API for ONNX models",
            "version": __version__,
            "description": (
                "Token, model repository, deployment and scoring endpoints following Oracle Machine "
                "Learning Services; model grants to named users are our extension."
            ),
        },
        "servers": [{"url": server_url.rstrip("/")}],
        "security": [{SECURITY_SCHEME: []}],
        "paths": {
            **service_paths(),
            **job_paths(),
            **task_paths(),
            **console_paths(),
            **oip_paths(),
            **user_paths(),
        },
        "components": {
            "securitySchemes": bearer_scheme(),
            "schemas": schemas,
            "responses": error_responses(texts=ERROR_TEXT, headers=ERROR_HEADERS),
        },
    }
