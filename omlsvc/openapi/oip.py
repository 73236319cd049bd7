"""The Open Inference Protocol (``/v2``, KServe v2) in the service document.

The same tokens as the rest of the service (only the two health probes are public); errors are the
protocol's ``{"error": "..."}`` (component ``OipError``) with the statuses of the one error table.
An inference request may also be sent as the binary tensor data extension: the JSON below, then the
raw tensors, ``Inference-Header-Content-Length`` giving the JSON's length (``application/octet-stream``).
"""

from __future__ import annotations

from typing import Any

from omlsvc.core.patterns import DEPLOYMENT_URI
from omlsvc.openapi.builders import json_content, operation, path_parameter

_TAG = ["Open Inference Protocol"]


def _error(status: int, text: str) -> dict[str, Any]:
    return {str(status): {"description": text, "content": json_content("OipError")}}


_ERRORS = {
    400: "The request breaks the protocol or the model's signature (datatype, shape, sizes, names).",
    401: "Missing, malformed, expired or revoked token.",
    403: "Only the model's creator (or an admin) may load or unload it.",
    404: "No such model (deployment) or version, or not visible to the caller.",
    409: "The model is deployed elsewhere, or the name is in use.",
    413: "The body, a tensor or the answer is over its limit.",
    500: "Unexpected error; the message carries a request id.",
    503: "The database is not reachable, or the model run passed its time limit.",
}


def _errors(statuses: tuple[int, ...], *, public: bool = False) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for status in sorted({*statuses, 500, 503} | (set() if public else {401})):
        found.update(_error(status, _ERRORS[status]))
    return found


def _op(
    operation_id: str, summary: str, responses: dict[str, Any], statuses: tuple[int, ...], **options: Any
) -> dict[str, Any]:
    """An operation whose error responses carry the protocol's body, not the OML one."""
    errors = _errors(statuses, public=bool(options.get("public")))
    return operation(operation_id, summary, {**responses, **errors}, (), tags=_TAG, **options)


def _ok(schema: str, text: str) -> dict[str, Any]:
    return {"200": {"description": text, "content": json_content(schema)}}


def _name() -> dict[str, Any]:
    return path_parameter(
        "name",
        "The model name: a deployment's URI.",
        {"type": "string", "pattern": f"^{DEPLOYMENT_URI.pattern}$"},
    )


def _version() -> dict[str, Any]:
    return path_parameter("version", "The model version: a deployment serves version 1.", {"type": "string"})


#: The reads of one model, under ``/v2/models/{name}`` and its versioned form: (path after it,
#: operation id without the versioned suffix, summary, answer schema, answer description).
_MODEL_READS = (
    (
        "",
        "oipModelMetadata",
        "Model metadata: inputs and outputs with datatypes and shapes (-1: dynamic)",
        "OipModelMetadata",
        "The model.",
    ),
    ("/ready", "oipModelReady", "Model readiness", "OipModelReady", "Ready."),
    (
        "/config",
        "oipModelConfig",
        "The part of a Triton model configuration clients read (perf_analyzer)",
        "OipModelConfig",
        "The configuration.",
    ),
    (
        "/stats",
        "oipModelStatistics",
        "Statistics extension: counts and cumulative times (the metrics' numbers)",
        "OipStatistics",
        "Counts and cumulative times.",
    ),
)


def oip_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/v2": {
            "get": _op(
                "oipServerMetadata",
                "Server metadata and the protocol extensions supported",
                _ok("OipServerMetadata", "The server."),
                (),
            )
        },
        "/v2/health/live": {
            "get": _op("oipLive", "Liveness", _ok("OipLive", "The worker answers."), (), public=True)
        },
        "/v2/health/ready": {
            "get": _op(
                "oipReady",
                "Readiness (the database answers)",
                _ok("OipReady", "Ready."),
                (),
                public=True,
            )
        },
        "/v2/models/stats": {
            "get": _op(
                "oipAllStatistics",
                "Statistics of every deployment the caller may see",
                _ok("OipStatistics", "Counts and cumulative times."),
                (),
            )
        },
        "/v2/repository/index": {
            "post": _op(
                "oipRepositoryIndex",
                "Deployments (READY) and the caller's models no URI serves (UNAVAILABLE)",
                _ok("OipRepositoryIndex", "The index."),
                (400, 413),
                body={"required": False, "content": json_content("OipRepositoryIndexRequest")},
            )
        },
        "/v2/repository/models/{name}/load": {
            "post": _op(
                "oipLoad",
                "Deploy the newest stored model of that name at the URI of that name (owner or admin)",
                _ok("OipEmpty", "Deployed, or deployed already."),
                (400, 403, 404, 409, 413),
                body={"required": False, "content": json_content("OipRepositoryRequest")},
                parameters=[_name()],
            )
        },
        "/v2/repository/models/{name}/unload": {
            "post": _op(
                "oipUnload",
                "Undeploy the URI (owner or admin); the model stays stored",
                _ok("OipEmpty", "Undeployed."),
                (400, 403, 404, 413),
                body={"required": False, "content": json_content("OipRepositoryRequest")},
                parameters=[_name()],
            )
        },
    }
    for prefix, parameters, suffix in (
        ("/v2/models/{name}", [_name()], ""),
        ("/v2/models/{name}/versions/{version}", [_name(), _version()], "Version"),
    ):
        paths.update(_model_paths(prefix, parameters, suffix))
    return paths


def _model_paths(prefix: str, parameters: list[dict[str, Any]], suffix: str) -> dict[str, Any]:
    """The paths of one model under ``prefix`` (``/v2/models/{name}`` or its versioned form, whose
    operation ids end in ``suffix``): its reads and its inference."""
    paths: dict[str, Any] = {}
    for path, operation_id, summary, schema, text in _MODEL_READS:
        paths[prefix + path] = {
            "get": _op(operation_id + suffix, summary, _ok(schema, text), (404,), parameters=parameters)
        }
    infer_body = json_content("OipInferenceRequest")
    infer_body["application/octet-stream"] = {
        "schema": {"type": "string", "format": "binary"},
    }
    paths[f"{prefix}/infer"] = {
        "post": _op(
            f"oipInfer{suffix}",
            "Inference: JSON tensors, or the binary tensor data extension",
            {
                "200": {
                    "description": (
                        "The outputs; with binary outputs, the JSON is followed by their bytes and "
                        "Inference-Header-Content-Length gives its length."
                    ),
                    "content": {
                        **json_content("OipInferenceResponse"),
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                    },
                }
            },
            (400, 404, 413),
            body={"required": True, "content": infer_body},
            parameters=[
                *parameters,
                {
                    "name": "Inference-Header-Content-Length",
                    "in": "header",
                    "required": False,
                    "description": "Bytes of JSON before the binary tensor data.",
                    "schema": {"type": "integer", "minimum": 0},
                },
            ],
        )
    }
    return paths
