"""The per-deployment OpenAPI document (``GET /omlmod/v1/deployment/{uri}/api``, spec section 5.5).

Oracle generates, for every endpoint, an OpenAPI document with one operation,
``POST /omlmod/v1/deployment/<uri>/score``, whose request schema ``<NAME>_INPUT_TYPE`` and response
schema ``<NAME>_OUTPUT_TYPE`` describe that one model. We build the same layout from the
:class:`~omlsvc.core.signature.ScoringSpec` recorded when the model was stored, as tightly as the spec
allows (:mod:`omlsvc.openapi.deployment_schemas`), so that client generators get precise types and
tests can check real traffic against it:

* every ONNX input is a required property of each input record; a non-image input is a 2-D array
  (rows x features, feature count fixed when the graph fixes it), an image input is a base64 image
  file, a 4-D array shaped like the graph input or (issue 16) ``{"imageUrl": "..."}``;
* every result item lists exactly the keys the service sends (``additionalProperties: false``),
  with class and cluster names as enums when they are known before scoring.

The document is OpenAPI 3.0.3, returned as a JSON-ready dict of fresh objects (no tuples, nothing
shared with other calls), and depends only on its arguments. Its error responses are named by the
one error table (:mod:`omlsvc.openapi.error_table`) and described for the score call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from omlsvc.core.patterns import DEPLOYMENT_URI
from omlsvc.core.signature import ModelType, ScoringSpec
from omlsvc.openapi.builders import (
    OPENAPI_VERSION,
    SECURITY_SCHEME,
    bearer_scheme,
    error_refs,
    error_responses,
    query,
    schema_ref,
)
from omlsvc.openapi.deployment_schemas import (
    EXAMPLE_IMAGE_BASE64,
    add_output_tensors,
    example_request,
    example_response,
    input_form_schema,
    input_record_schema,
    input_type_schema,
    result_schema,
    shape_text,
    tensors_answer_schema,
    top_n_schema,
)
from omlsvc.openapi.image_preprocessing import preprocessing_options, preprocessing_text
from omlsvc.openapi.schemas import component_schemas

__all__ = ["EXAMPLE_IMAGE_BASE64", "SCORE_PATH_TEMPLATE", "component_prefix", "deployment_document"]

SCORE_PATH_TEMPLATE = "/omlmod/v1/deployment/{uri}/score"

#: The error statuses of the score call, and what each means there.
ERROR_TEXT = {
    400: (
        "Malformed body, or inputs that do not fit the model (missing or unknown input, wrong rank or "
        "feature count, value of the wrong type, undecodable image; an imageUrl whose address is not "
        "allowed, whose fetch failed, or more imageUrl records than allowed)."
    ),
    401: "Missing, invalid, expired or revoked access token.",
    404: "No endpoint with this URI is visible to the caller (shared or own).",
    413: "Body, image or record batch over the service's configured limit.",
    415: "Content-Type not accepted by this endpoint.",
    500: "Scoring failed inside the model runtime, or another unexpected error.",
}

_COMPONENT_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def component_prefix(model_name: str) -> str:
    """The model name made safe for OpenAPI component keys (``[A-Za-z0-9._-]+``).

    Model names may hold ``#`` and ``$`` (spec section 4.1); each character outside the allowed set
    becomes ``_``. Collisions do not matter: a document describes a single model.
    """
    return _COMPONENT_NAME_UNSAFE.sub("_", model_name) or "MODEL"


def deployment_document(
    spec: ScoringSpec,
    *,
    model_name: str,
    model_id: str,
    uri: str,
    server_url: str,
    version: str,
    description: str | None = None,
    tensor_names: Sequence[str] | None = None,
    output_tensor: str | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.0.3 document for scoring the model ``spec`` describes at endpoint ``uri``.

    With ``tensor_names`` (the values of the graph a score may return by name, issue 16) the request
    accepts ``outputTensors`` naming some of them, and the answer is then ``{"tensors": [...]}``. A
    deployment that cuts its model at ``output_tensor`` passes the cut spec (feature extraction) and
    says so here.

    ``server_url`` is the service root the score path is appended to (a trailing ``/`` is dropped);
    ``version`` is the model version. Raises ``ValueError`` for a ``uri`` that is not a valid endpoint
    URI (it is written into the path literally) or a clustering spec without a known measure.
    """
    if not DEPLOYMENT_URI.fullmatch(uri):
        raise ValueError(f"not a valid endpoint uri: {uri!r}")
    names = _ComponentNames(component_prefix(model_name))
    info = _info_description(
        spec, model_name=model_name, model_id=model_id, uri=uri, version=version, description=description
    )
    if output_tensor is not None:
        info += (
            f"\n\nThis deployment cuts the model at the graph value {output_tensor!r}: it scores as feature "
            "extraction on that value, flattened per row (doubleWeights)."
        )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": f"{model_name} scoring", "version": version, "description": info},
        "servers": [{"url": server_url.rstrip("/") or "/"}],
        "security": [{SECURITY_SCHEME: []}],
        "paths": {
            SCORE_PATH_TEMPLATE.format(uri=uri): {"post": _score_operation(spec, names, model_name, version)}
        },
        "components": {
            "schemas": _schemas(spec, names, tensor_names),
            "responses": error_responses(tuple(ERROR_TEXT), texts=ERROR_TEXT),
            "securitySchemes": bearer_scheme("Access token from POST /omlusers/api/oauth2/v1/token."),
        },
    }


class _ComponentNames:
    """The component keys of one document, all derived from the sanitised model name."""

    def __init__(self, prefix: str) -> None:
        self.input_type = f"{prefix}_INPUT_TYPE"
        self.input_record = f"{prefix}_INPUT_RECORD"
        self.input_form = f"{prefix}_INPUT_FORM"
        self.output_type = f"{prefix}_OUTPUT_TYPE"
        self.result = f"{prefix}_SCORING_RESULT"


def _schemas(spec: ScoringSpec, names: _ComponentNames, tensor_names: Sequence[str] | None) -> dict[str, Any]:
    results: dict[str, Any] = {
        "type": "object",
        "description": "One scoring result per scored row, in request order.",
        "required": ["scoringResults"],
        "additionalProperties": False,
        "properties": {"scoringResults": {"type": "array", "minItems": 1, "items": schema_ref(names.result)}},
    }
    schemas: dict[str, Any] = {
        names.input_type: input_type_schema(spec, names.input_record),
        names.input_record: input_record_schema(spec),
        names.output_type: results if tensor_names is None else {"oneOf": [results, tensors_answer_schema()]},
        names.result: result_schema(spec),
    }
    if spec.model_type is ModelType.ONNX_IMG:
        schemas[names.input_form] = input_form_schema(spec)
    if tensor_names is not None:
        add_output_tensors(schemas[names.input_type], schemas.get(names.input_form), tensor_names)
    schemas.update(component_schemas("Error"))
    return schemas


def _score_operation(
    spec: ScoringSpec, names: _ComponentNames, model_name: str, version: str
) -> dict[str, Any]:
    image = spec.model_type is ModelType.ONNX_IMG
    content: dict[str, Any] = {
        "application/json": {"schema": schema_ref(names.input_type), "example": example_request(spec)}
    }
    if image:
        content["multipart/form-data"] = {
            "schema": schema_ref(names.input_form),
            "encoding": {"imageData": {"contentType": "image/*, application/octet-stream"}},
        }
    operation: dict[str, Any] = {
        "operationId": "score",
        "summary": f"Score with model {model_name} version {version}",
        "description": _operation_description(spec),
        "requestBody": {"required": True, "content": content},
        "responses": {
            "200": {
                "description": "Scoring results, one per scored row.",
                "headers": {
                    "X-Omlsvc-Model-Id": {
                        "description": "The model (main or canary) that computed every result.",
                        "schema": {"type": "string"},
                    }
                },
                "content": {
                    "application/json": {
                        "schema": schema_ref(names.output_type),
                        "example": example_response(spec),
                    }
                },
            },
            **error_refs(tuple(ERROR_TEXT)),
        },
    }
    if image and spec.image is not None:
        operation["x-omlsvc-image-preprocessing"] = preprocessing_options(spec.image)
    if image:
        text = "With a multipart/form-data upload: same meaning as the topN form field."
        operation["parameters"] = [query("topN", text, top_n_schema(spec))]
    return operation


# --- descriptions --------------------------------------------------------------------------------


def _operation_description(spec: ScoringSpec) -> str:
    inputs = ", ".join(f"{t.name} ({t.element_type} {shape_text(t.shape)})" for t in spec.inputs)
    text = (
        f"Scores rows with this {spec.function.value.lower().replace('_', ' ')} model. "
        f"Model inputs: {inputs}. Send JSON with one record per row (or several rows per record); "
    )
    if spec.model_type is ModelType.ONNX_IMG:
        text += (
            'images go as base64 strings or as {"imageUrl": "https://..."} objects (fetched by the service '
            "from public addresses, or from those its operator allows), or upload one image file as "
            "multipart/form-data field imageData."
        )
        if spec.image is not None:
            text += " " + preprocessing_text(spec.image)
    else:
        text += "numbers may also be sent as numeric strings where the model takes floating-point inputs."
    return text


def _info_description(
    spec: ScoringSpec, *, model_name: str, model_id: str, uri: str, version: str, description: str | None
) -> str:
    text = (
        f"Scoring endpoint '{uri}' for model {model_name} version {version} (modelId {model_id}): "
        f"function {spec.function.value}, model type {spec.model_type.value}."
    )
    if description:
        text += "\n\n" + description
    return text
