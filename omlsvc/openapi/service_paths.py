"""The paths of the service document, but the jobs' (:mod:`omlsvc.openapi.jobs`): tokens, versions,
models and their grants, deployments and scoring, health probes.

Each operation lists the error statuses it may answer with; their responses are the shared ones of
the error table (:func:`omlsvc.openapi.builders.error_responses`).
"""

from __future__ import annotations

from typing import Any

from omlsvc.core.limits import MAX_PAGE_SIZE
from omlsvc.core.patterns import TENANT, anchored
from omlsvc.openapi.builders import (
    COMMON_ERRORS,
    created,
    integer,
    json_body,
    json_content,
    ok,
    operation,
    paging_parameters,
    path_parameter,
    query,
    schema_ref,
)
from omlsvc.openapi.fields import user_name_schema
from omlsvc.openapi.swap import MODEL_ID_HEADER, ROUTE_KEY_PARAMETER, change_operation, swap_paths
from omlsvc.openapi.tasks import accepted_response, import_body_content


def _filters() -> list[dict[str, Any]]:
    return [
        query("modelName", "Exact model name."),
        query("version", "Exact model version."),
        query("namespace", "Exact namespace (case-sensitive)."),
        *paging_parameters("Our extension: page size; next/prev links follow.", MAX_PAGE_SIZE),
    ]


def _model_id() -> list[dict[str, Any]]:
    return [path_parameter("modelId", "The model's id.")]


def _grantee() -> list[dict[str, Any]]:
    user = user_name_schema("A user of the service.")
    return [*_model_id(), path_parameter("username", "The user whose grant is removed.", user)]


def _uri() -> list[dict[str, Any]]:
    return [path_parameter("uri", "The deployment's URI.")]


def service_paths() -> dict[str, Any]:
    return {
        **_token_paths(),
        **_version_paths(),
        **_model_paths(),
        **_model_detail_paths(),
        **_grant_paths(),
        **_deployment_paths(),
        **swap_paths(),
        **_health_paths(),
    }


def _token_paths() -> dict[str, Any]:
    token_content = json_content("TokenRequest")
    token_content["application/x-www-form-urlencoded"] = {"schema": schema_ref("TokenRequest")}
    return {
        "/omlusers/api/oauth2/v1/token": {
            "post": operation(
                "getToken",
                "Obtain a token (password grant) or refresh one (refresh_token grant)",
                ok("A token.", "TokenResponse"),
                (400, 401, 415, 429, 500, 503),
                body={"required": True, "content": token_content},
                public=True,
            )
        },
        "/omlusers/api/oauth2/v1/token/revoke": {
            "post": operation(
                "revokeToken", "Revoke the bearer token", ok("Revoked.", "TokenStatus"), COMMON_ERRORS
            )
        },
        **_tenant_token_paths(token_content),
    }


def _tenant_token_paths(token_content: dict[str, Any]) -> dict[str, Any]:
    """Issue 17: the older token path of Oracle's 2021 clients, answering like the short one."""
    shape = {"type": "string", "pattern": anchored(TENANT)}
    tenant = [
        path_parameter("tenant", "The tenancy (OCID or name): accepted and not used.", shape),
        path_parameter("database", "The database name: accepted and not used.", shape),
    ]
    prefix = "/omlusers/tenants/{tenant}/databases/{database}/api/oauth2/v1"
    return {
        f"{prefix}/token": {
            "post": operation(
                "getTenantToken",
                "As getToken, under the older tenant and database path",
                ok("A token.", "TokenResponse"),
                (400, 401, 415, 429, 500, 503),
                body={"required": True, "content": token_content},
                parameters=tenant,
                public=True,
            )
        },
        f"{prefix}/token/revoke": {
            "post": operation(
                "revokeTenantToken",
                "As revokeToken, under the older tenant and database path",
                ok("Revoked.", "TokenStatus"),
                (400, *COMMON_ERRORS),  # a tenant or database of the wrong shape
                parameters=tenant,
            )
        },
    }


def _version_paths() -> dict[str, Any]:
    return {
        "/omlmod/": {
            "get": operation(
                "getVersions", "API versions", ok("Versions.", "ApiVersionCollection"), COMMON_ERRORS
            )
        },
        "/omlmod/v1": {
            "get": operation("getVersion", "This API version", ok("Version.", "ApiVersion"), COMMON_ERRORS)
        },
        "/omlmod/v1/api": {
            "get": operation(
                "getApi", "This document", ok("OpenAPI document.", "OpenApiDocument"), COMMON_ERRORS
            )
        },
    }


def _model_paths() -> dict[str, Any]:
    return {
        "/omlmod/v1/models": {
            "post": operation(
                "storeModel",
                "Store a zipped ONNX model (validated against the ONNX metadata specification)",
                {
                    **created("Stored; Location names the model.", "CreateModelResponse"),
                    **accepted_response(),  # a JSON body imports from a URL (issue 15)
                },
                (400, 401, 409, 413, 415, 500, 503),
                body={
                    "required": True,
                    "content": {
                        "multipart/form-data": {"schema": schema_ref("ModelInputForm")},
                        **import_body_content(),
                    },
                },
            ),
            "get": operation(
                "listModels",
                "Models visible to the caller",
                ok("Models.", "ModelResponseCollection"),
                (400, *COMMON_ERRORS),
                parameters=_filters(),
            ),
        },
        "/omlmod/v1/models/{modelId}": {
            "parameters": _model_id(),
            "get": operation(
                "getModel", "One model", ok("The model.", "ModelResponse"), (404, *COMMON_ERRORS)
            ),
            "post": operation(
                "updateModel",
                "Change the namespace (and, our extension, the description)",
                ok("Changed.", status="204"),
                (400, 403, 404, *COMMON_ERRORS),
                body=json_body("UpdateNamespaceParam"),
            ),
            "delete": operation(
                "deleteModel", "Delete a model", ok("Deleted.", status="204"), (403, 404, 409, *COMMON_ERRORS)
            ),
        },
    }


def _model_detail_paths() -> dict[str, Any]:
    return {
        "/omlmod/v1/models/{modelId}/metadata": {
            "parameters": _model_id(),
            "get": operation(
                "getModelMetadata",
                "What was learned at store time",
                ok("Metadata.", "ModelMetadata"),
                (404, *COMMON_ERRORS),
            ),
        },
        "/omlmod/v1/models/{modelId}/content": {
            "parameters": _model_id(),
            "get": operation(
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
                (404, *COMMON_ERRORS),
            ),
        },
    }


def _grant_paths() -> dict[str, Any]:
    return {
        "/omlmod/v1/models/{modelId}/grants": {
            "parameters": _model_id(),
            "get": operation(
                "listModelGrants",
                "Whom the model is granted to by name (owner or admin)",
                ok("Grants, by user name.", "GrantCollection"),
                (403, 404, *COMMON_ERRORS),
            ),
            "post": operation(
                "grantModel",
                "Share the model with a named user (owner or admin); granting again changes nothing",
                {**ok("The user already held the grant.", "Grant"), **ok("Granted.", "Grant", status="201")},
                (400, 403, 404, 413, 415, *COMMON_ERRORS),
                body=json_body("GrantParam"),
            ),
        },
        "/omlmod/v1/models/{modelId}/grants/{username}": {
            "parameters": _grantee(),
            "delete": operation(
                "revokeModelGrant",
                "Take a user's grant back; every worker honours it within a second",
                ok("Revoked.", status="204"),
                (403, 404, *COMMON_ERRORS),
            ),
        },
    }


def _deployment_paths() -> dict[str, Any]:
    return {
        "/omlmod/v1/deployment": {
            "post": operation(
                "deployModel",
                "Deploy a model under a URI",
                created("Deployed.", "CreatedEndpoint"),
                (400, 403, 404, 409, *COMMON_ERRORS),
                body=json_body("EndpointParam"),
            ),
            "get": operation(
                "listDeployments",
                "Deployments visible to the caller",
                ok("Deployments.", "DeploymentEndpointCollection"),
                (400, *COMMON_ERRORS),
                parameters=_filters(),
            ),
        },
        "/omlmod/v1/deployment/{uri}": {
            "parameters": _uri(),
            "get": operation(
                "getDeployment",
                "A deployment with its model's metadata",
                ok("Details.", "EndpointWithDetails"),
                (404, *COMMON_ERRORS),
            ),
            "put": change_operation(),
            "delete": operation(
                "undeploy", "Remove a deployment", ok("Removed.", status="204"), (403, 404, *COMMON_ERRORS)
            ),
        },
        "/omlmod/v1/deployment/{uri}/api": {
            "parameters": _uri(),
            "get": operation(
                "getDeploymentApi",
                "The deployment's own OpenAPI document",
                ok("OpenAPI document.", "OpenApiDocument"),
                (404, *COMMON_ERRORS),
            ),
        },
        # issue 16: the values of the deployed graph a score may ask for by name
        "/omlmod/v1/deployment/{uri}/tensors": {
            "parameters": _uri(),
            "get": operation(
                "listTensors",
                "The tensors of the deployed model's graph (inputs, intermediate values, outputs)",
                ok("Tensors, with the types and shapes shape inference knows.", "GraphTensorList"),
                (404, *COMMON_ERRORS),
            ),
        },
        "/omlmod/v1/deployment/{uri}/score": {
            "parameters": _uri(),
            "post": operation(
                "score",
                "Score records (JSON) or one image (multipart, image models)",
                _with_model_header(ok("One result per scored row.", "ScoringOutputResultSet")),
                (400, 404, 413, 415, *COMMON_ERRORS),
                body={
                    "required": True,
                    "content": {
                        "application/json": {"schema": schema_ref("ScoreParam")},
                        "multipart/form-data": {"schema": schema_ref("ScoreImageForm")},
                    },
                },
                parameters=[
                    query("topN", "Best N classes or clusters (image upload).", integer(1)),
                    ROUTE_KEY_PARAMETER,
                ],
            ),
        },
    }


def _with_model_header(responses: dict[str, Any]) -> dict[str, Any]:
    responses["200"]["headers"] = MODEL_ID_HEADER
    return responses


def _health_paths() -> dict[str, Any]:
    return {
        "/health/live": {
            "get": operation("live", "The process answers", ok("Alive.", "Health"), (500,), public=True)
        },
        "/health/ready": {
            "get": operation("ready", "The database answers", ok("Ready.", "Health"), (500, 503), public=True)
        },
        "/metrics": {
            "get": operation(
                "metrics",
                "Prometheus metrics of every worker (the text exposition format). The bearer token is "
                "OMLSVC_METRICS_TOKEN or an OML access token; series naming a deployment are shown "
                "to the metrics token and admins whole, to a user for the deployments the user may see",
                {
                    "200": {
                        "description": "The metrics.",
                        "content": {"text/plain; version=0.0.4": {"schema": {"type": "string"}}},
                    }
                },
                (401, 500),
            )
        },
    }
