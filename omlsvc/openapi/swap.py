"""Our extension of the deployment endpoints in the service document: swapping the model under a live
URI, rolling back, a canary beside the main model, the history of what a URI served."""

from __future__ import annotations

from typing import Any

from omlsvc.core.limits import MAX_PAGE_SIZE
from omlsvc.core.patterns import MODEL_ID, anchored
from omlsvc.openapi.builders import (
    COMMON_ERRORS,
    json_body,
    ok,
    operation,
    paging_parameters,
    path_parameter,
    schema_ref,
)

_MODEL_ID = {"type": "string", "pattern": anchored(MODEL_ID), "description": "Model identifier (a UUID)."}
_CANARY = {
    "type": "object",
    "description": "A second model beside the main one, scoring `percent` percent of the requests.",
    "required": ["modelId", "percent"],
    "additionalProperties": False,
    "properties": {
        "modelId": _MODEL_ID,
        "percent": {"type": "integer", "minimum": 1, "maximum": 99},
    },
}

#: The header on every score answer naming the model that computed it.
MODEL_ID_HEADER = {
    "X-Omlsvc-Model-Id": {
        "description": "The model (the deployment's main model or its canary) that computed every result.",
        "schema": {"type": "string"},
    }
}
#: The request header that routes a caller's requests to one model of a deployment with a canary.
ROUTE_KEY_PARAMETER = {
    "name": "X-Omlsvc-Route-Key",
    "in": "header",
    "required": False,
    "description": "Requests with the same key always meet the same model (main or canary).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def swap_schemas() -> dict[str, dict[str, Any]]:
    return {
        "DeploymentChange": {
            "type": "object",
            "description": (
                "A new main model (`modelId`; its mining function and inputs must suit the current one's "
                "clients unless `force`), a canary set or removed (`canary`, null removes it), or the canary "
                "promoted to main model (`promote`). The caller must own both models, or be an admin."
            ),
            "additionalProperties": False,
            "properties": {
                "modelId": _MODEL_ID,
                "force": {"type": "boolean", "default": False},
                "canary": {**_CANARY, "nullable": True},
                "promote": {"type": "boolean", "default": False},
            },
            # at least one change; promote stands alone (it says which model becomes the main one)
            "anyOf": [
                {"required": ["modelId"], "properties": {"promote": {"enum": [False]}}},
                {"required": ["canary"], "properties": {"promote": {"enum": [False]}}},
                {
                    "required": ["promote"],
                    "properties": {"promote": {"enum": [True]}},
                    "not": {"anyOf": [{"required": ["modelId"]}, {"required": ["canary"]}]},
                },
            ],
        },
        "Canary": _CANARY,
        "DeploymentHistoryEntry": {
            "type": "object",
            "required": ["seq", "action", "modelId", "switchedOn", "switchedBy"],
            "properties": {
                "seq": {"type": "integer", "minimum": 1},
                "action": {
                    "type": "string",
                    "enum": ["deploy", "swap", "rollback", "canary", "promote", "canary-removed"],
                },
                "modelId": {**_MODEL_ID, "description": "The main model from this change on."},
                "previousModelId": {**_MODEL_ID, "nullable": True},
                "canary": _CANARY,
                "switchedOn": {"type": "string", "format": "date-time"},
                "switchedBy": {"type": "string"},
            },
        },
        "DeploymentHistory": {
            "type": "object",
            "required": ["items", "links"],
            "properties": {
                "items": {"type": "array", "items": schema_ref("DeploymentHistoryEntry")},
                "links": {"type": "array", "items": {"type": "object"}},
            },
        },
    }


def change_operation() -> dict[str, Any]:
    return operation(
        "changeDeployment",
        "Swap the model under the URI, or set, remove or promote its canary",
        ok("The deployment as it now is.", "EndpointWithDetails"),
        (400, 403, 404, 409, *COMMON_ERRORS),
        body=json_body("DeploymentChange"),
    )


def swap_paths() -> dict[str, Any]:
    uri = [path_parameter("uri", "The deployment's URI.")]
    return {
        "/omlmod/v1/deployment/{uri}/history": {
            "parameters": uri,
            "get": operation(
                "getDeploymentHistory",
                "What the URI served, newest change first (for the owner and admins)",
                ok("Changes.", "DeploymentHistory"),
                (400, 403, 404, *COMMON_ERRORS),
                parameters=paging_parameters("Page size; next/prev links follow.", MAX_PAGE_SIZE),
            ),
        },
        "/omlmod/v1/deployment/{uri}/rollback": {
            "parameters": uri,
            "post": operation(
                "rollbackDeployment",
                "Serve again the model the last swap, rollback or promotion replaced (no canary)",
                ok("The deployment as it now is.", "EndpointWithDetails"),
                (400, 403, 404, 409, *COMMON_ERRORS),
            ),
        },
    }
