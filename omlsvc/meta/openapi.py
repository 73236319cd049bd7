"""The OpenAPI document of the whole service (``GET /omlmod/v1/api``, spec section 3).

Every endpoint the service answers is listed here, with the request and response shapes of
:mod:`omlsvc.deployment.schemas`; a test walks the app's routes and fails when one is missing, so
the document cannot fall behind the code. Score calls are described generically; each
deployment's own document (``/deployment/{uri}/api``) describes its model precisely.
"""

from __future__ import annotations

from typing import Any

from omlsvc import __version__
from omlsvc.deployment.schemas import (
    CREATED_BY_PATTERN,
    MAX_OFFSET,
    MAX_PAGE_SIZE,
    component_schemas,
    schema_ref,
)
from omlsvc.jobs.openapi import job_paths, job_schemas

OPENAPI_VERSION = "3.0.3"

_USER_NAME = {"type": "string", "pattern": CREATED_BY_PATTERN, "description": "A user of the service."}

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
    "GrantCollection": {
        "type": "object",
        "description": "The users a model is granted to by name (its owner is not listed).",
        "required": ["items", "links"],
        "properties": {
            "items": {"type": "array", "items": schema_ref("Grant")},
            "links": {"type": "array", "items": schema_ref("Link")},
        },
    },
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
                    "description": "ONNX input name -> 2-D array of rows (images: base64 file or 4-D array).",
                    "additionalProperties": True,
                },
            },
            "topN": {"type": "integer", "minimum": 1},
            "topNdetails": {
                "type": "integer",
                "minimum": 1,
                "description": "Accepted and ignored for ONNX models.",
            },
        },
    },
    "ScoreImageForm": {
        "type": "object",
        "required": ["imageData"],
        "properties": {
            "imageData": {"type": "string", "format": "binary", "description": "One image file."},
            "topN": {"type": "integer", "minimum": 1},
        },
    },
    "ScoringOutputResultSet": {
        "type": "object",
        "required": ["scoringResults"],
        "properties": {
            "scoringResults": {
                "type": "array",
                "description": (
                    "One item per scored row: classifications, regression, clusters or doubleWeights; "
                    "the deployment's own document gives the exact shape."
                ),
                "items": {"type": "object"},
            }
        },
    },
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

_ERRORS = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "403": "Forbidden",
    "404": "NotFound",
    "409": "Conflict",
    "413": "PayloadTooLarge",
    "415": "UnsupportedMediaType",
    "429": "TooManyRequests",
    "500": "InternalError",
    "503": "Unavailable",
}
_ERROR_TEXT = {
    "BadRequest": "The request is malformed or breaks a documented rule.",
    "Unauthorized": "Missing, malformed, expired or revoked token.",
    "Forbidden": "Only the creator (or an admin) may do this.",
    "NotFound": "No such resource, or not visible to the caller.",
    "Conflict": "Clashes with the current state (duplicate, still deployed, ...).",
    "PayloadTooLarge": "The body or upload is over its limit.",
    "UnsupportedMediaType": "Wrong Content-Type for this operation.",
    "TooManyRequests": (
        "Too many failed logins for this user name or client address (5 are free, then the wait doubles "
        "from 1 s up to 15 min by default), or this worker is busy checking other passwords: nothing was "
        "checked; retry after the number of seconds in Retry-After."
    ),
    "InternalError": "Unexpected error; the message carries a request id.",
    "Unavailable": "The database is not reachable; retry shortly.",
}


#: Headers an error answer carries, by response name.
_ERROR_HEADERS = {
    "TooManyRequests": {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def _error_response(name: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _ERROR_TEXT[name], "content": _json("Error")}
    if name in _ERROR_HEADERS:
        response["headers"] = _ERROR_HEADERS[name]
    return response


def _json(schema: str | dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema_ref(schema) if isinstance(schema, str) else schema}}


def _ok(description: str, schema: str | dict[str, Any] | None = None, status: str = "200") -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response["content"] = _json(schema)
    return {status: response}


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    errors: tuple[str, ...],
    *,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    public: bool = False,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "responses": {
            **responses,
            **{code: {"$ref": f"#/components/responses/{_ERRORS[code]}"} for code in errors},
        },
    }
    if body is not None:
        operation["requestBody"] = body
    if parameters:
        operation["parameters"] = parameters
    if public:
        operation["security"] = []
    return operation


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


_FILTERS = [
    _query("modelName", "Exact model name."),
    _query("version", "Exact model version."),
    _query("namespace", "Exact namespace (case-sensitive)."),
    _query(
        "offset", "Our extension: items to skip.", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}
    ),
    _query(
        "limit",
        "Our extension: page size; next/prev links follow.",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
    ),
]
_MODEL_ID = [_path("modelId", "The model's id.")]
_GRANTEE = [
    *_MODEL_ID,
    {
        "name": "username",
        "in": "path",
        "required": True,
        "description": "The user whose grant is removed.",
        "schema": _USER_NAME,
    },
]
_URI = [_path("uri", "The deployment's URI.")]
_COMMON = ("401", "500", "503")


def _paths() -> dict[str, Any]:
    token_content = _json("TokenRequest")
    token_content["application/x-www-form-urlencoded"] = {"schema": schema_ref("TokenRequest")}
    token_body = {"required": True, "content": token_content}
    return {
        "/omlusers/api/oauth2/v1/token": {
            "post": _operation(
                "getToken",
                "Obtain a token (password grant) or refresh one (refresh_token grant)",
                _ok("A token.", "TokenResponse"),
                ("400", "401", "415", "429", "500", "503"),
                body=token_body,
                public=True,
            )
        },
        "/omlusers/api/oauth2/v1/token/revoke": {
            "post": _operation(
                "revokeToken", "Revoke the bearer token", _ok("Revoked.", "TokenStatus"), _COMMON
            )
        },
        "/omlmod/": {
            "get": _operation(
                "getVersions", "API versions", _ok("Versions.", "ApiVersionCollection"), _COMMON
            )
        },
        "/omlmod/v1": {
            "get": _operation("getVersion", "This API version", _ok("Version.", "ApiVersion"), _COMMON)
        },
        "/omlmod/v1/api": {
            "get": _operation("getApi", "This document", _ok("OpenAPI document.", "OpenApiDocument"), _COMMON)
        },
        "/omlmod/v1/models": {
            "post": _operation(
                "storeModel",
                "Store a zipped ONNX model (validated against the ONNX metadata specification)",
                {
                    "201": {
                        "description": "Stored; Location names the model.",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": _json("CreateModelResponse"),
                    }
                },
                ("400", "401", "409", "413", "415", "500", "503"),
                body={
                    "required": True,
                    "content": {"multipart/form-data": {"schema": schema_ref("ModelInputForm")}},
                },
            ),
            "get": _operation(
                "listModels",
                "Models visible to the caller",
                _ok("Models.", "ModelResponseCollection"),
                ("400", *_COMMON),
                parameters=_FILTERS,
            ),
        },
        "/omlmod/v1/models/{modelId}": {
            "parameters": _MODEL_ID,
            "get": _operation("getModel", "One model", _ok("The model.", "ModelResponse"), ("404", *_COMMON)),
            "post": _operation(
                "updateModel",
                "Change the namespace (and, our extension, the description)",
                _ok("Changed.", status="204"),
                ("400", "403", "404", *_COMMON),
                body={"required": True, "content": _json("UpdateNamespaceParam")},
            ),
            "delete": _operation(
                "deleteModel",
                "Delete a model",
                _ok("Deleted.", status="204"),
                ("403", "404", "409", *_COMMON),
            ),
        },
        "/omlmod/v1/models/{modelId}/metadata": {
            "parameters": _MODEL_ID,
            "get": _operation(
                "getModelMetadata",
                "What was learned at store time",
                _ok("Metadata.", "ModelMetadata"),
                ("404", *_COMMON),
            ),
        },
        "/omlmod/v1/models/{modelId}/content": {
            "parameters": _MODEL_ID,
            "get": _operation(
                "getModelContent",
                "The uploaded zip, byte for byte (ETag: its sha256)",
                {
                    "200": {
                        "description": "The stored bytes.",
                        "content": {
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    "304": {"description": "Not modified (If-None-Match)."},
                },
                ("404", *_COMMON),
            ),
        },
        "/omlmod/v1/models/{modelId}/grants": {
            "parameters": _MODEL_ID,
            "get": _operation(
                "listModelGrants",
                "Whom the model is granted to by name (owner or admin)",
                _ok("Grants, by user name.", "GrantCollection"),
                ("403", "404", *_COMMON),
            ),
            "post": _operation(
                "grantModel",
                "Share the model with a named user (owner or admin); granting again changes nothing",
                {
                    **_ok("The user already held the grant.", "Grant"),
                    **_ok("Granted.", "Grant", status="201"),
                },
                ("400", "403", "404", "413", "415", *_COMMON),
                body={"required": True, "content": _json("GrantParam")},
            ),
        },
        "/omlmod/v1/models/{modelId}/grants/{username}": {
            "parameters": _GRANTEE,
            "delete": _operation(
                "revokeModelGrant",
                "Take a user's grant back; every worker honours it within a second",
                _ok("Revoked.", status="204"),
                ("403", "404", *_COMMON),
            ),
        },
        "/omlmod/v1/deployment": {
            "post": _operation(
                "deployModel",
                "Deploy a model under a URI",
                {
                    "201": {
                        "description": "Deployed.",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": _json("CreatedEndpoint"),
                    }
                },
                ("400", "403", "404", "409", *_COMMON),
                body={"required": True, "content": _json("EndpointParam")},
            ),
            "get": _operation(
                "listDeployments",
                "Deployments visible to the caller",
                _ok("Deployments.", "DeploymentEndpointCollection"),
                ("400", *_COMMON),
                parameters=_FILTERS,
            ),
        },
        "/omlmod/v1/deployment/{uri}": {
            "parameters": _URI,
            "get": _operation(
                "getDeployment",
                "A deployment with its model's metadata",
                _ok("Details.", "EndpointWithDetails"),
                ("404", *_COMMON),
            ),
            "delete": _operation(
                "undeploy", "Remove a deployment", _ok("Removed.", status="204"), ("403", "404", *_COMMON)
            ),
        },
        "/omlmod/v1/deployment/{uri}/api": {
            "parameters": _URI,
            "get": _operation(
                "getDeploymentApi",
                "The deployment's own OpenAPI document",
                _ok("OpenAPI document.", "OpenApiDocument"),
                ("404", *_COMMON),
            ),
        },
        "/omlmod/v1/deployment/{uri}/score": {
            "parameters": _URI,
            "post": _operation(
                "score",
                "Score records (JSON) or one image (multipart, image models)",
                _ok("One result per scored row.", "ScoringOutputResultSet"),
                ("400", "404", "413", "415", *_COMMON),
                body={
                    "required": True,
                    "content": {
                        "application/json": {"schema": schema_ref("ScoreParam")},
                        "multipart/form-data": {"schema": schema_ref("ScoreImageForm")},
                    },
                },
                parameters=[
                    _query(
                        "topN",
                        "Best N classes or clusters (image upload).",
                        {"type": "integer", "minimum": 1},
                    )
                ],
            ),
        },
        "/health/live": {
            "get": _operation("live", "The process answers", _ok("Alive.", "Health"), ("500",), public=True)
        },
        "/health/ready": {
            "get": _operation(
                "ready", "The database answers", _ok("Ready.", "Health"), ("500", "503"), public=True
            )
        },
    }


def service_document(server_url: str) -> dict[str, Any]:
    schemas = component_schemas()
    schemas.update({name: dict(schema) for name, schema in _SCORE_SCHEMAS.items()})
    schemas.update({name: dict(schema) for name, schema in _GRANT_SCHEMAS.items()})
    schemas.update(job_schemas())
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
        "security": [{"bearerAuth": []}],
        "paths": {**_paths(), **job_paths()},
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": schemas,
            "responses": {name: _error_response(name) for name in _ERROR_TEXT},
        },
    }
