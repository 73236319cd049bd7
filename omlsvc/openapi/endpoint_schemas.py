"""The schema components of deployment endpoints (spec ``oml-api.md`` section 4): the request that
deploys a model, the endpoint it creates, and the endpoint as listed and read with its metadata.

Part of :mod:`omlsvc.openapi.schemas`' registry, which merges them in after the model shapes.
"""

from __future__ import annotations

from typing import Any

from omlsvc.openapi.builders import schema_ref
from omlsvc.openapi.fields import (
    BATCHING,
    CREATED_BY,
    DESCRIPTION,
    MODEL_ID,
    MODEL_NAME,
    MODEL_TYPE,
    NAMESPACE,
    SCORE_TIMEOUT,
    SHARED,
    TIMESTAMP,
    URI,
    VERSION,
    collection,
    links,
)
from omlsvc.openapi.tensor_schemas import OUTPUT_TENSOR_PARAM


def _created_endpoint_properties() -> dict[str, Any]:
    return {
        "modelId": MODEL_ID,
        "uri": URI,
        "deployedOn": TIMESTAMP,
        "scoreTimeout": SCORE_TIMEOUT,
        "outputTensor": OUTPUT_TENSOR_PARAM,
        "batching": BATCHING,
        "links": links(),
    }


def _deployment_endpoint_properties() -> dict[str, Any]:
    return {
        **_created_endpoint_properties(),
        "modelName": MODEL_NAME,
        "version": VERSION,
        "modelType": MODEL_TYPE,
        "createdBy": CREATED_BY,
        "shared": SHARED,
        "description": DESCRIPTION,
        "namespace": NAMESPACE,
        "canary": {
            "type": "object",
            "description": "Our extension: a second model scoring `percent` percent of the requests.",
            "properties": {"modelId": MODEL_ID, "percent": {"type": "integer", "minimum": 1, "maximum": 99}},
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

#: The endpoint components, in the order the service document lists them.
ENDPOINT_SCHEMAS: dict[str, dict[str, Any]] = {
    "EndpointParam": {
        "type": "object",
        "required": ["modelId", "uri"],
        "properties": {
            "modelId": MODEL_ID,
            "uri": URI,
            "scoreTimeout": SCORE_TIMEOUT,
            "outputTensor": OUTPUT_TENSOR_PARAM,
            "batching": BATCHING,
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
    "DeploymentEndpointCollection": collection(
        "DeploymentEndpoint", "Endpoints visible to the caller: of own, shared or granted models."
    ),
    "EndpointWithDetails": {
        "type": "object",
        "required": [*_DEPLOYMENT_ENDPOINT_REQUIRED, "metadata"],
        "properties": {**_deployment_endpoint_properties(), "metadata": schema_ref("ModelMetadata")},
    },
}
