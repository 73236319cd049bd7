"""The schemas of one deployment's score call: its request records, built from the model's ONNX
inputs, and its results, built from the model's function, outputs and labels.

Used by :mod:`omlsvc.openapi.deployment`; as tight as the spec allows, so that client generators get
precise types and tests can check real traffic against them. Every function returns fresh objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omlsvc.core.limits import (
    DEFAULT_MAX_IMAGE_URLS,
    IMAGE_URL_FIELD,
    MAX_IMAGE_URL_LENGTH,
    MAX_OUTPUT_TENSORS,
    MAX_TENSOR_NAME,
)
from omlsvc.core.signature import Function, LabelSource, ModelType, ScoringSpec, TensorInfo
from omlsvc.openapi.builders import schema_ref
from omlsvc.openapi.tensor_values import element_schema, example_array, nested_array

#: A 1x1 grey PNG: the image example is a real file the service can decode.
EXAMPLE_IMAGE_BASE64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR42mNoaGgAAAMEAYF1LgG8AAAAAElFTkSuQmCC"
)


# --- request -------------------------------------------------------------------------------------


def input_type_schema(spec: ScoringSpec, record: str) -> dict[str, Any]:
    """The request body: ``inputRecords``, each the component schema ``record``, and ``topN``."""
    return {
        "type": "object",
        "description": "Records to score. Each record gives every model input; each row yields one result.",
        "required": ["inputRecords"],
        "additionalProperties": False,
        "properties": {
            "inputRecords": {"type": "array", "minItems": 1, "items": schema_ref(record)},
            "topN": top_n_schema(spec),
            **top_n_details_schemas(),
        },
    }


def top_n_details_schemas() -> dict[str, Any]:
    """``topNdetails`` and its jobs spelling ``topNDetails`` (issue 17): accepted, not supported."""
    schema = {
        "type": "integer",
        "minimum": 1,
        "description": (
            "Prediction details are not supported for ONNX models: accepted, ignored, and the answer "
            'carries a header `Warning: 299 omlsvc "topNdetails is not supported for ONNX models and '
            'was ignored"`.'
        ),
    }
    return {"topNdetails": schema, "topNDetails": dict(schema)}


def top_n_schema(spec: ScoringSpec) -> dict[str, Any]:
    if spec.function is Function.CLASSIFICATION:
        text = "Return only the N most probable classes per row, best first."
    elif spec.function is Function.CLUSTERING and spec.cluster_measure == "distance":
        text = "Return only the N nearest clusters per row, nearest first."
    elif spec.function is Function.CLUSTERING:
        text = "Return only the N most probable clusters per row, best first."
    else:
        text = "Only meaningful for classification and clustering models."
    text += " An integral JSON number (2.0) is taken as that integer."
    return {"type": "integer", "minimum": 1, "description": text}


def input_record_schema(spec: ScoringSpec) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "One value per ONNX graph input, keyed by the input's name.",
        "required": [t.name for t in spec.inputs],
        "additionalProperties": False,
        "properties": {t.name: _input_value_schema(spec, t) for t in spec.inputs},
    }


def _is_image_input(spec: ScoringSpec, tensor: TensorInfo) -> bool:
    return (
        spec.model_type is ModelType.ONNX_IMG
        and spec.image is not None
        and spec.image.input_name == tensor.name
    )


def _input_value_schema(spec: ScoringSpec, tensor: TensorInfo) -> dict[str, Any]:
    shape = _value_shape(spec, tensor)
    if not _is_image_input(spec, tensor):
        value = nested_array(shape, element_schema(tensor.element_type, numeric_strings=True))
        value["description"] = (
            f"{tensor.element_type} tensor of shape {shape_text(tensor.shape)}: a list of rows, "
            f"each a list of {_row_text(shape)}; wrap even a single row, as in [[...]]."
        )
        return value
    assert spec.image is not None
    return {
        "description": (
            f"Image input ({tensor.element_type} tensor of shape {shape_text(tensor.shape)}, axes "
            f"{', '.join(spec.image.dim_names)}): a base64-encoded image file, resized to "
            f"{spec.image.width}x{spec.image.height} and normalised by the service, an already "
            "processed 4-D array of pixel values shaped like the model input, used as is, or an "
            "object naming the image file by URL."
        ),
        "oneOf": [
            {
                "type": "string",
                "format": "byte",
                "description": "Base64 of an image file (PNG, JPEG, BMP, TIFF, ...).",
            },
            nested_array(shape, element_schema(tensor.element_type, numeric_strings=False)),
            image_reference_schema(),
        ],
    }


def image_reference_schema() -> dict[str, Any]:
    """Issue 16: ``{"imageUrl": "..."}``, an image file the service fetches (omlsvc.scoring.image_urls)."""
    return {
        "type": "object",
        "description": (
            "omlsvc extension: the image file at an http or https URL, fetched by the service. The "
            "address must be public, or allowed by the operator (OMLSVC_IMPORT_ALLOW); otherwise, or "
            "when the fetch fails (an error status, too slow, larger than a request may be, not an "
            "image), the answer is 400. At most OMLSVC_MAX_IMAGE_URLS (default "
            f"{DEFAULT_MAX_IMAGE_URLS}) records of one request may name their image by URL."
        ),
        "required": [IMAGE_URL_FIELD],
        "additionalProperties": False,
        "properties": {
            IMAGE_URL_FIELD: {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_IMAGE_URL_LENGTH,
                "description": "An http or https URL without user:password@, e.g. https://example.com/cat.jpg.",
            }
        },
    }


def _value_shape(spec: ScoringSpec, tensor: TensorInfo) -> tuple[int, ...]:
    """The JSON nesting for an input: the graph shape, or all-dynamic at the rank the spec requires
    (4 for an image input, 2 otherwise) when the graph does not say."""
    if tensor.shape:
        return tensor.shape
    return (-1, -1, -1, -1) if _is_image_input(spec, tensor) else (-1, -1)


def input_form_schema(spec: ScoringSpec) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "One image file to score (for several images, send base64 strings in JSON).",
        "required": ["imageData"],
        "properties": {
            "imageData": {"type": "string", "format": "binary", "description": "The image file."},
            "topN": top_n_schema(spec),
        },
    }


def shape_text(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "unknown"
    return "[" + ", ".join("N" if d < 0 else str(d) for d in shape) + "]"


def _row_text(shape: Sequence[int]) -> str:
    if len(shape) != 2:
        return f"nested lists of shape {shape_text(tuple(shape[1:]))}"
    return f"{shape[1]} values" if shape[1] > 0 else "values"


# --- response ------------------------------------------------------------------------------------


def _closed_object(properties: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "required": list(properties),
        "additionalProperties": False,
        "properties": properties,
    }
    if description:
        schema["description"] = description
    return schema


#: JSON has no NaN or infinity: a model that produces one (NaN in, NaN out) is answered with null.
_NON_FINITE = " null when the model produced NaN or an infinity."


def _double(description: str) -> dict[str, Any]:
    return {"type": "number", "format": "double", "nullable": True, "description": description + _NON_FINITE}


def result_schema(spec: ScoringSpec) -> dict[str, Any]:
    count = _class_count(spec)
    if spec.function is Function.REGRESSION:
        return _closed_object({"regression": _double("Predicted value.")}, "Regression result for one row.")
    if spec.function is Function.CLASSIFICATION:
        entry = _closed_object(
            {"label": _name_schema(spec, "Class label."), "probability": _double("Class probability.")}
        )
        return _closed_object(
            {
                "classifications": _bounded_array(
                    entry, count, "Classes in label order; with topN, best first."
                )
            },
            "Classification result for one row.",
        )
    if spec.function is Function.CLUSTERING:
        measure = _cluster_measure(spec)
        order = "nearest first" if measure == "distance" else "most probable first"
        entry = _closed_object(
            {
                "clusterId": _name_schema(spec, "Cluster name, or the cluster's column index."),
                measure: _double(f"Cluster {measure}."),
            }
        )
        return _closed_object(
            {"clusters": _bounded_array(entry, count, f"Clusters, {order}.")},
            "Clustering result for one row.",
        )
    weights: dict[str, Any] = {
        "type": "array",
        "items": {"type": "number", "format": "double", "nullable": True, "description": _NON_FINITE.strip()},
        "description": "The model's feature vector for the row, flattened.",
        "minItems": spec.width or 1,
    }
    if spec.width:
        weights["maxItems"] = spec.width
    return _closed_object({"doubleWeights": weights}, "Feature extraction result for one row.")


def _bounded_array(item: dict[str, Any], count: int | None, description: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": item, "minItems": 1, "description": description}
    if count:
        schema["maxItems"] = count
    return schema


def _cluster_measure(spec: ScoringSpec) -> str:
    if spec.cluster_measure not in ("probability", "distance"):
        raise ValueError(f"clustering spec without a known cluster measure: {spec.cluster_measure!r}")
    return spec.cluster_measure


def _class_count(spec: ScoringSpec) -> int | None:
    """Number of classes or clusters when known before scoring."""
    if spec.labels:
        return len(spec.labels)
    return spec.width or None


def _known_names(spec: ScoringSpec) -> list[str] | None:
    """Every class or cluster name the service can send, when known before scoring: the static labels,
    else the column indexes (clustering, or classification by index) when the width is fixed."""
    if spec.labels:
        return list(dict.fromkeys(spec.labels))
    index_named = spec.function is Function.CLUSTERING or spec.label_source is LabelSource.INDEX
    if index_named and spec.width:
        return [str(i) for i in range(spec.width)]
    return None


def _name_schema(spec: ScoringSpec, description: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": description}
    if (names := _known_names(spec)) is not None:
        schema["enum"] = names
    return schema


# --- examples ------------------------------------------------------------------------------------


def example_request(spec: ScoringSpec) -> dict[str, Any]:
    """One record with one row, valid for the request schema (the image example is a real PNG)."""
    record: dict[str, Any] = {}
    for tensor in spec.inputs:
        if _is_image_input(spec, tensor):
            record[tensor.name] = EXAMPLE_IMAGE_BASE64
        else:
            record[tensor.name] = [example_array(_value_shape(spec, tensor)[1:], tensor.element_type)]
    body: dict[str, Any] = {"inputRecords": [record]}
    if spec.function in (Function.CLASSIFICATION, Function.CLUSTERING):
        body["topN"] = 1
    return body


def example_response(spec: ScoringSpec) -> dict[str, Any]:
    """The response to :func:`example_request` (topN 1), valid for the response schema."""
    names = _known_names(spec)
    name = names[0] if names else "A"
    item: dict[str, Any]
    if spec.function is Function.REGRESSION:
        item = {"regression": 41.73}
    elif spec.function is Function.CLASSIFICATION:
        item = {"classifications": [{"label": name, "probability": 0.9}]}
    elif spec.function is Function.CLUSTERING:
        measure = _cluster_measure(spec)
        item = {"clusters": [{"clusterId": name, measure: 0.9 if measure == "probability" else 1.5}]}
    else:
        item = {"doubleWeights": [0.25] * (spec.width or 3)}
    return {"scoringResults": [item]}


# --- tensors by name (issue 16) -------------------------------------------------------------------

#: Names listed as an enum up to this many; beyond it, any name (a 400 names an unknown one).
MAX_TENSOR_ENUM = 4096


def add_output_tensors(
    request: dict[str, Any], form: dict[str, Any] | None, tensor_names: Sequence[str]
) -> None:
    """Let the request (and the image upload form) name tensors to answer instead of scoringResults."""
    name: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_TENSOR_NAME}
    if len(tensor_names) <= MAX_TENSOR_ENUM:
        name = {"type": "string", "enum": list(tensor_names)}
    request["properties"]["outputTensors"] = {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_OUTPUT_TENSORS,
        "uniqueItems": True,
        "items": name,
        "description": (
            "Answer these values of the graph (outputs or intermediate values, GET .../tensors lists "
            'them) for the whole batch instead of scoringResults: {"tensors": [{"name", "shape", '
            '"datatype", "data"}]}, in the order asked.'
        ),
    }
    if form is not None:
        form["properties"]["outputTensors"] = {
            "type": "string",
            "description": "A JSON array of tensor names, or one name (the field may repeat): as outputTensors in JSON.",
        }


def tensors_answer_schema() -> dict[str, Any]:
    """The answer to a request with ``outputTensors``."""
    tensor = _closed_object(
        {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string", "description": "The ONNX element type, e.g. FLOAT."},
            "data": {"type": "array", "description": "The values in row-major order.", "items": {}},
        },
        "One tensor for the whole batch.",
    )
    return _closed_object(
        {"tensors": {"type": "array", "items": tensor}},
        "The tensors asked for by outputTensors, in that order.",
    )
