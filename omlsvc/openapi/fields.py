"""The fields that several schema components share (model id, name, version, endpoint URI, the
deployment extensions, links), written once so that every shape that carries one says the same.

Patterns are those the services check (:mod:`omlsvc.core.patterns`), anchored; limits come from
:mod:`omlsvc.core.limits`. Used by :mod:`omlsvc.openapi.schemas` and the modules it gathers.
"""

from __future__ import annotations

from typing import Any

from omlsvc.core import patterns
from omlsvc.core.batching import (
    DEFAULT_BATCH_DELAY_MS,
    DEFAULT_BATCH_SIZE,
    MAX_BATCH_DELAY_MS,
    MAX_BATCH_SIZE,
)
from omlsvc.core.limits import MAX_DESCRIPTION, MAX_SCORE_TIMEOUT_S
from omlsvc.core.patterns import anchored
from omlsvc.core.signature import ModelType
from omlsvc.openapi.builders import collection_schema, links_schema


def links() -> dict[str, Any]:
    """A resource's ``links`` property, the same words on every shape that carries one."""
    return links_schema("Links to this resource; the first is rel 'self'.")


def collection(item: str, description: str) -> dict[str, Any]:
    """A paged collection of ``item`` components with the shared ``links``."""
    return collection_schema(item, description=description, links=links())


def user_name_schema(description: str) -> dict[str, Any]:
    """A user of the service, as the token service and the grants check it."""
    return {"type": "string", "pattern": anchored(patterns.USER_NAME), "description": description}


MODEL_ID = {
    "type": "string",
    "pattern": anchored(patterns.MODEL_ID),
    "description": "Model identifier (a UUID).",
}
MODEL_NAME = {"type": "string", "pattern": anchored(patterns.MODEL_NAME), "description": "Model name."}
VERSION = {
    "type": "string",
    "pattern": anchored(patterns.VERSION),
    "description": "Model version, e.g. 1.0.",
}
NAMESPACE = {"type": "string", "pattern": anchored(patterns.NAMESPACE), "description": "Model namespace."}
DESCRIPTION = {"type": "string", "maxLength": MAX_DESCRIPTION, "description": "Model description."}
MODEL_TYPE = {
    "type": "string",
    "enum": [t.value for t in ModelType],
    "description": "ONNX for non-image models, ONNX_IMG for image models.",
}
SHARED = {"type": "boolean", "description": "Whether every user of the service may see and score the model."}
CREATED_BY = user_name_schema("User who stored the model.")
URI = {
    "type": "string",
    "pattern": anchored(patterns.DEPLOYMENT_URI),
    "description": "Endpoint URI, unique in the service.",
}
TIMESTAMP = {"type": "string", "format": "date-time", "description": "ISO-8601 UTC with milliseconds."}
SCORE_TIMEOUT = {
    "type": "number",
    "minimum": 0,
    "exclusiveMinimum": True,
    "maximum": MAX_SCORE_TIMEOUT_S,
    "description": (
        "omlsvc extension: seconds a model run of this deployment may take; absent: the service's "
        "OMLSVC_SCORE_TIMEOUT. A run past it is ended with a 503 SCORING_TIMEOUT."
    ),
}

#: Our extension (issue 20): dynamic batching of a deployment.
BATCHING = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "maxBatchSize": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_BATCH_SIZE,
            "description": f"The most rows (or images) one merged model run holds; default {DEFAULT_BATCH_SIZE}, "
            "1 never merges.",
        },
        "maxDelayMs": {
            "type": "number",
            "minimum": 0,
            "maximum": MAX_BATCH_DELAY_MS,
            "description": "The longest a request waits for others to join its run, in milliseconds; "
            f"default {DEFAULT_BATCH_DELAY_MS:g}.",
        },
    },
    "description": (
        "omlsvc extension: concurrent score requests of this deployment in one worker are merged into "
        "one model run and split back; absent: the service's OMLSVC_BATCH_MAX_SIZE (off by default)."
    ),
}
