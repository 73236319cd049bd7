"""The tasks part of the service document (issue 15): ``/omlmod/v1/tasks/{taskId}``, the import form
of ``POST /omlmod/v1/models``, variants and profiles.

:mod:`omlsvc.openapi.service` merges these in; the schemas say exactly what the services accept
(``omlsvc.tasks.service``), so a schema-valid request is never refused as malformed.
"""

from __future__ import annotations

import copy
from typing import Any

from omlsvc.core.patterns import MODEL_NAME, NAMESPACE, SHA256_HEX, TASK_ID, VERSION, anchored
from omlsvc.core.urlsafety import MAX_URL_LENGTH
from omlsvc.openapi.builders import (
    COMMON_ERRORS,
    json_body,
    json_content,
    links_schema,
    ok,
    operation,
    path_parameter,
    schema_ref,
)
from omlsvc.tasks.records import CANCELED, FAILED, KINDS, QUEUED, RUNNING, SUCCEEDED
from omlsvc.tasks.service import (
    MAX_BATCH_SIZE,
    MAX_BATCH_SIZES,
    MAX_PROFILE_SECONDS,
    PROVIDERS,
    VARIANT_KINDS,
)

_TAGS = ["tasks"]
_DATE = {"type": "string", "format": "date-time"}


def _operation(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return operation(*args, tags=_TAGS, **kwargs)


def accepted_response() -> dict[str, Any]:
    """202: the task was queued; ``Location`` names it."""
    return {
        "202": {
            "description": "Queued; Location names the task to poll.",
            "headers": {"Location": {"schema": {"type": "string"}}},
            "content": json_content("Task"),
        }
    }


def import_body_content() -> dict[str, Any]:
    """The JSON alternative of ``POST /omlmod/v1/models``: import from a URL."""
    return json_content("ModelImportRequest")


def task_paths() -> dict[str, Any]:
    model_id = [path_parameter("modelId", "The model's id.")]
    return {
        "/omlmod/v1/tasks/{taskId}": {
            "parameters": [path_parameter("taskId", "The task's id (a UUID).")],
            "get": _operation(
                "getTask",
                "A task: its status, progress, message and result (its submitter or an admin)",
                ok("The task.", "Task"),
                (404, *COMMON_ERRORS),
            ),
            "delete": _operation(
                "cancelTask",
                "Cancel a task: a queued one at once, a running one at its next step",
                ok("The task, CANCELED or asked to stop.", "Task"),
                (404, 409, *COMMON_ERRORS),
            ),
        },
        "/omlmod/v1/models/{modelId}/variants": {
            "parameters": model_id,
            "post": _operation(
                "createModelVariant",
                "Derive an fp16, int8 or optimized variant, stored as a new model (owner or admin)",
                accepted_response(),
                (400, 403, 404, 413, 415, *COMMON_ERRORS),
                body=json_body("VariantRequest"),
            ),
        },
        "/omlmod/v1/models/{modelId}/profile": {
            "parameters": model_id,
            "post": _operation(
                "profileModel",
                "Measure latency, throughput and memory per batch size and provider (owner or admin)",
                accepted_response(),
                (400, 403, 404, 413, 415, *COMMON_ERRORS),
                body={"required": False, "content": json_content("ProfileRequest")},
            ),
        },
        "/omlmod/v1/models/{modelId}/profiles": {
            "parameters": model_id,
            "get": _operation(
                "listModelProfiles",
                "The model's completed profiles, newest first (whoever may see the model)",
                ok("Profiles.", "ProfileCollection"),
                (404, *COMMON_ERRORS),
            ),
        },
    }


def _figures() -> dict[str, Any]:
    number = {"type": "number"}
    return {
        "type": "object",
        "required": [
            "provider",
            "batchSize",
            "runs",
            "latencyMs",
            "rowsPerSecond",
            "peakMemoryBytes",
            "sessionCreationMs",
        ],
        "properties": {
            "provider": {"type": "string"},
            "batchSize": {"type": "integer"},
            "runs": {"type": "integer"},
            "latencyMs": {
                "type": "object",
                "properties": {"p50": number, "p90": number, "p99": number, "mean": number},
            },
            "rowsPerSecond": number,
            "peakMemoryBytes": {"type": "integer", "description": "The profiling process's peak RSS so far."},
            "sessionCreationMs": number,
        },
    }


def task_schemas() -> dict[str, dict[str, Any]]:
    """The tasks' schema components, fresh objects on every call."""
    schemas: dict[str, dict[str, Any]] = {
        "Task": {
            "type": "object",
            "required": ["taskId", "kind", "status", "progress", "message", "result", "links"],
            "properties": {
                "taskId": {"type": "string", "pattern": anchored(TASK_ID)},
                "kind": {"type": "string", "enum": list(KINDS)},
                "status": {"type": "string", "enum": [QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED]},
                "progress": {"type": "number", "minimum": 0, "maximum": 1},
                "message": {"type": "string"},
                "result": {
                    "type": "object",
                    "description": (
                        "IMPORT: modelId, sha256, sizeBytes. VARIANT: modelId, kind, derivedFrom, "
                        "sourceSizeBytes, variantSizeBytes, sourceOnnxBytes, variantOnnxBytes, maxAbsDiff, "
                        "top1Agreement, sampleRows, sampleSeed. PROFILE: results, skipped, seconds. "
                        "FAILED: code (and details)."
                    ),
                },
                "attempts": {"type": "integer"},
                "createdBy": {"type": "string"},
                "modelId": {"type": "string"},
                "submittedOn": _DATE,
                "startedOn": _DATE,
                "finishedOn": _DATE,
                "links": links_schema(),
            },
        },
        "ModelImportRequest": {
            "type": "object",
            "required": ["modelName", "version", "modelType", "sourceUrl"],
            "additionalProperties": False,
            "properties": {
                "modelName": {"type": "string", "pattern": anchored(MODEL_NAME)},
                "version": {"type": "string", "pattern": anchored(VERSION)},
                "modelType": {"type": "string", "enum": ["ONNX", "ONNX_IMG"]},
                "namespace": {"type": "string", "pattern": anchored(NAMESPACE)},
                "description": {"type": "string", "maxLength": 4000},
                "shared": {"type": "boolean"},
                "sourceUrl": {
                    "type": "string",
                    "maxLength": MAX_URL_LENGTH,
                    "description": (
                        "http or https; refused when its host resolves to a loopback, link-local or "
                        "private address that OMLSVC_IMPORT_ALLOW does not allow."
                    ),
                },
                "sha256": {"type": "string", "pattern": anchored(SHA256_HEX)},
            },
        },
        "VariantRequest": {
            "type": "object",
            "required": ["kind", "version"],
            "additionalProperties": False,
            "properties": {
                "kind": {"type": "string", "enum": list(VARIANT_KINDS)},
                "version": {"type": "string", "pattern": anchored(VERSION)},
            },
        },
        "ProfileRequest": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "batchSizes": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_BATCH_SIZES,
                    "uniqueItems": True,
                    "items": {"type": "integer", "minimum": 1, "maximum": MAX_BATCH_SIZE},
                },
                "seconds": {"type": "number", "minimum": 0.1, "maximum": MAX_PROFILE_SECONDS},
                "providers": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": len(PROVIDERS),
                    "uniqueItems": True,
                    "items": {"type": "string", "enum": list(PROVIDERS)},
                    "description": "Default: CPU, and CUDA where this host has it.",
                },
            },
        },
        "ProfileFigures": _figures(),
        "Profile": {
            "type": "object",
            "required": ["taskId", "profiledOn", "results"],
            "properties": {
                "taskId": {"type": "string"},
                "profiledOn": _DATE,
                "modelId": {"type": "string"},
                "seconds": {"type": "number"},
                "results": {"type": "array", "items": schema_ref("ProfileFigures")},
                "skipped": {"type": "array", "items": {"type": "string"}},
            },
        },
        "ProfileCollection": {
            "type": "object",
            "required": ["items", "links"],
            "properties": {
                "items": {"type": "array", "items": schema_ref("Profile")},
                "links": links_schema(),
            },
        },
    }
    return copy.deepcopy(schemas)
