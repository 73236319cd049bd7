"""The per-deployment OpenAPI document, checked the way clients use it.

Each document must be valid OpenAPI 3.0 (``openapi_spec_validator``), and real request and response
bodies must validate against its component schemas with ``openapi_schema_validator.OAS30Validator``
(``$ref``s resolved through a ``referencing`` registry holding the whole document). Specs are built
by hand, one per function and model type, so these tests need no ONNX model.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
from typing import Any

import pytest
from openapi_spec_validator import validate as validate_openapi
from PIL import Image

from omlsvc.core.signature import (
    Function,
    ImageSpec,
    LabelSource,
    ModelType,
    ScoringSpec,
    TensorInfo,
    ValueKind,
)
from omlsvc.openapi import schemas
from omlsvc.openapi.deployment import EXAMPLE_IMAGE_BASE64, component_prefix, deployment_document
from tests.openapi_check import (
    assert_invalid,
    assert_valid,
    operation,
    request_validator,
    response_validator,
    schema_validator,
)

MODEL_ID = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
PNG = EXAMPLE_IMAGE_BASE64


# --- specs -----------------------------------------------------------------------------------------


def tensor(name: str, element_type: str, shape: tuple[int, ...] | None) -> TensorInfo:
    return TensorInfo(name=name, kind=ValueKind.TENSOR, element_type=element_type, shape=shape)


def make_static_classifier_spec() -> ScoringSpec:
    """Single probability output, class names from label.txt."""
    return ScoringSpec(
        model_type=ModelType.ONNX,
        function=Function.CLASSIFICATION,
        inputs=(tensor("float_input", "FLOAT", (-1, 4)),),
        outputs=(tensor("probabilities", "FLOAT", (-1, 3)),),
        output="probabilities",
        label_source=LabelSource.STATIC,
        labels=("setosa", "versicolor", "virginica"),
        width=3,
    )


def make_output_label_classifier_spec() -> ScoringSpec:
    """Probability output plus a label output read at score time: names unknown, count known."""
    return ScoringSpec(
        model_type=ModelType.ONNX,
        function=Function.CLASSIFICATION,
        inputs=(tensor("x", "DOUBLE", (-1, 2)),),
        outputs=(tensor("prob", "DOUBLE", (-1, 4)), tensor("classes", "STRING", (4,))),
        output="prob",
        label_source=LabelSource.OUTPUT,
        label_output="classes",
        width=4,
    )


def make_zipmap_classifier_spec() -> ScoringSpec:
    """skl2onnx pipeline: a STRING and an INT64 and a FLOAT input, ZipMap output, names from map keys."""
    zipmap = TensorInfo(
        name="output_probability",
        kind=ValueKind.SEQUENCE_OF_MAPS,
        element_type="FLOAT",
        shape=None,
        key_type="STRING",
    )
    return ScoringSpec(
        model_type=ModelType.ONNX,
        function=Function.CLASSIFICATION,
        inputs=(
            tensor("cat", "STRING", (-1, 2)),
            tensor("age", "INT64", (-1, 1)),
            tensor("num", "FLOAT", (-1, 2)),
        ),
        outputs=(tensor("output_label", "STRING", (-1,)), zipmap),
        output="output_probability",
        label_source=LabelSource.MAP_KEYS,
    )


def make_regression_spec() -> ScoringSpec:
    return ScoringSpec(
        model_type=ModelType.ONNX,
        function=Function.REGRESSION,
        inputs=(tensor("features", "FLOAT", (-1, 3)),),
        outputs=(tensor("variable", "FLOAT", (-1, 1)),),
        output="variable",
    )


def make_probability_clustering_spec() -> ScoringSpec:
    """GaussianMixture-like: probabilities, clusters named by column index."""
    return ScoringSpec(
        model_type=ModelType.ONNX,
        function=Function.CLUSTERING,
        inputs=(tensor("X", "FLOAT", (-1, 2)),),
        outputs=(tensor("label", "INT64", (-1, 1)), tensor("probabilities", "FLOAT", (-1, 3))),
        output="probabilities",
        label_source=LabelSource.INDEX,
        cluster_measure="probability",
        width=3,
    )


def make_distance_clustering_spec() -> ScoringSpec:
    """KMeans-like: distances, cluster names from label.txt."""
    return ScoringSpec(
        model_type=ModelType.ONNX,
        function=Function.CLUSTERING,
        inputs=(tensor("X", "DOUBLE", (-1, 2)),),
        outputs=(tensor("label", "INT64", (-1,)), tensor("scores", "DOUBLE", (-1, 2))),
        output="scores",
        label_source=LabelSource.STATIC,
        labels=("north", "south"),
        cluster_measure="distance",
        width=2,
    )


def make_image_classifier_spec() -> ScoringSpec:
    """NCHW image classifier, 3x4x4 input, class names from label.txt."""
    return ScoringSpec(
        model_type=ModelType.ONNX_IMG,
        function=Function.CLASSIFICATION,
        inputs=(tensor("input", "FLOAT", (-1, 3, 4, 4)),),
        outputs=(tensor("logits", "FLOAT", (-1, 2)),),
        output="logits",
        label_source=LabelSource.STATIC,
        labels=("cat", "dog"),
        image=ImageSpec(input_name="input", height=4, width=4, channel=3, mean=(0.0,) * 3, scale=(1.0,) * 3),
        width=2,
    )


def make_nhwc_image_classifier_spec() -> ScoringSpec:
    """NHWC (TensorFlow-style) input with dynamic height and width, label output read at score time."""
    return ScoringSpec(
        model_type=ModelType.ONNX_IMG,
        function=Function.CLASSIFICATION,
        inputs=(tensor("input_1", "FLOAT", (-1, -1, -1, 3)),),
        outputs=(tensor("dense/Sigmoid:0", "FLOAT", (-1, 5)), tensor("names", "STRING", (5,))),
        output="dense/Sigmoid:0",
        label_source=LabelSource.OUTPUT,
        label_output="names",
        image=ImageSpec(
            input_name="input_1",
            height=224,
            width=224,
            channel=3,
            mean=(123.68, 116.779, 103.939),
            scale=(1.0,) * 3,
            input_channel="BGR",
            dim_names=("batch", "height", "width", "channel"),
        ),
        width=5,
    )


def make_image_feature_extraction_spec() -> ScoringSpec:
    """Grayscale NCHW feature extractor with a 6-value feature vector."""
    return ScoringSpec(
        model_type=ModelType.ONNX_IMG,
        function=Function.FEATURE_EXTRACTION,
        inputs=(tensor("pixels", "FLOAT", (1, 1, 2, 2)),),
        outputs=(tensor("features", "FLOAT", (1, 6)),),
        output="features",
        image=ImageSpec(input_name="pixels", height=2, width=2, channel=1, mean=(0.0,), scale=(1 / 255,)),
        width=6,
    )


SPECS = {
    "classification-static": make_static_classifier_spec,
    "classification-output": make_output_label_classifier_spec,
    "classification-map-keys": make_zipmap_classifier_spec,
    "regression": make_regression_spec,
    "clustering-probability": make_probability_clustering_spec,
    "clustering-distance": make_distance_clustering_spec,
    "image-classification-nchw": make_image_classifier_spec,
    "image-classification-nhwc": make_nhwc_image_classifier_spec,
    "image-feature-extraction": make_image_feature_extraction_spec,
}


def document_for(spec: ScoringSpec, *, model_name: str = "my_model", uri: str = "my_uri") -> dict[str, Any]:
    return deployment_document(
        spec,
        model_name=model_name,
        model_id=MODEL_ID,
        uri=uri,
        server_url="https://oml.example.com",
        version="1.0",
        description="Test model.",
    )


# --- helpers -------------------------------------------------------------------------------------


def record_body(**inputs: Any) -> dict[str, Any]:
    return {"inputRecords": [inputs]}


# --- every document --------------------------------------------------------------------------------


@pytest.mark.parametrize("make_spec", SPECS.values(), ids=SPECS.keys())
def test_document_is_valid_openapi_3_0(make_spec: Any) -> None:
    document = document_for(make_spec())
    validate_openapi(document)
    assert document["openapi"] == "3.0.3"


@pytest.mark.parametrize("make_spec", SPECS.values(), ids=SPECS.keys())
def test_document_is_plain_json(make_spec: Any) -> None:
    """Only dicts, lists and scalars: a round trip through JSON changes nothing (tuples would)."""
    document = document_for(make_spec())
    assert json.loads(json.dumps(document)) == document


@pytest.mark.parametrize("make_spec", SPECS.values(), ids=SPECS.keys())
def test_examples_validate_against_their_schemas(make_spec: Any) -> None:
    document = document_for(make_spec())
    request_example = operation(document)["requestBody"]["content"]["application/json"]["example"]
    response_example = operation(document)["responses"]["200"]["content"]["application/json"]["example"]
    assert_valid(request_validator(document), request_example)
    assert_valid(response_validator(document), response_example)


@pytest.mark.parametrize("make_spec", SPECS.values(), ids=SPECS.keys())
def test_document_describes_one_secured_score_operation(make_spec: Any) -> None:
    spec = make_spec()
    document = document_for(spec, uri="house_rg")
    assert list(document["paths"]) == ["/omlmod/v1/deployment/house_rg/score"]
    assert list(document["paths"]["/omlmod/v1/deployment/house_rg/score"]) == ["post"]
    assert document["servers"] == [{"url": "https://oml.example.com"}]
    assert document["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Access token from POST /omlusers/api/oauth2/v1/token.",
    }
    description = document["info"]["description"]
    for fact in ("my_model", "1.0", MODEL_ID, spec.function.value, spec.model_type.value, "Test model."):
        assert fact in description
    assert document["info"]["version"] == "1.0"


@pytest.mark.parametrize("status", ["400", "401", "404", "413", "415", "500"])
def test_error_responses_use_the_error_schema(status: str) -> None:
    document = document_for(make_regression_spec())
    validator = response_validator(document, status)
    assert_valid(validator, {"code": "INVALID_INPUT", "message": "missing input features"})
    assert_valid(validator, {"code": "INVALID_MODEL", "message": "bad", "details": ["one", "two"]})
    assert_invalid(validator, {"message": "no code"})
    assert_invalid(validator, {"code": "X", "message": "m", "details": "not a list"})


def test_json_only_for_non_image_models_and_multipart_for_image_models() -> None:
    tabular = operation(document_for(make_regression_spec()))
    image = operation(document_for(make_image_classifier_spec()))
    assert list(tabular["requestBody"]["content"]) == ["application/json"]
    assert "parameters" not in tabular
    assert list(image["requestBody"]["content"]) == ["application/json", "multipart/form-data"]
    assert [(p["name"], p["in"]) for p in image["parameters"]] == [("topN", "query")]


def test_documents_share_no_objects() -> None:
    spec = make_static_classifier_spec()
    first = document_for(spec)
    first["components"]["schemas"]["Error"]["required"].append("details")
    first["components"]["schemas"]["my_model_INPUT_TYPE"]["properties"]["topN"]["minimum"] = 7
    assert document_for(spec) != first
    assert schemas.schema("Error")["required"] == ["code", "message"]


# --- names -----------------------------------------------------------------------------------------


def test_model_names_with_hash_and_dollar_give_valid_component_names() -> None:
    document = document_for(make_regression_spec(), model_name="house#rg$2")
    validate_openapi(document)
    names = set(document["components"]["schemas"])
    assert {"house_rg_2_INPUT_TYPE", "house_rg_2_OUTPUT_TYPE", "Error"} <= names
    for section in document["components"].values():
        assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in section)
    assert "house#rg$2" in document["info"]["title"]
    assert_valid(request_validator(document), record_body(features=[[1, 2, 3]]))


def test_component_prefix_keeps_safe_names() -> None:
    assert component_prefix("IRIS_model.v1-2") == "IRIS_model.v1-2"
    assert component_prefix("a#b$") == "a_b_"


@pytest.mark.parametrize("uri", ["", "has space", "a/b", "{uri}", "x" * 201, "ok\n"])
def test_invalid_uri_is_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="uri"):
        document_for(make_regression_spec(), uri=uri)


# --- requests --------------------------------------------------------------------------------------


def test_static_classifier_requests() -> None:
    validator = request_validator(document_for(make_static_classifier_spec()))
    assert_valid(validator, record_body(float_input=[[5.1, 3.5, 1.4, 0.2]]))
    assert_valid(validator, record_body(float_input=[[5.1, 3.5, 1.4, 0.2], [6, 2.9, 4.5, 1.5]]))
    assert_valid(validator, {**record_body(float_input=[["5.1", "NaN", " -1e-3 ", 0]]), "topN": 2})
    assert_valid(validator, {**record_body(float_input=[[1, 2, 3, 4]]), "topNdetails": 3})
    assert_invalid(validator, record_body(float_input=[[5.1, 3.5, 1.4]]))  # 3 features, model has 4
    assert_invalid(validator, record_body(float_input=[[5.1, 3.5, 1.4, 0.2, 9]]))
    assert_invalid(validator, record_body(float_input=[5.1, 3.5, 1.4, 0.2]))  # a 1-D row
    assert_invalid(validator, record_body(float_input=[]))
    assert_invalid(validator, record_body(float_input=[[5.1, "abc", 1.4, 0.2]]))
    assert_invalid(validator, record_body(float_input=[[5.1, None, 1.4, 0.2]]))
    assert_invalid(validator, record_body())  # input missing
    assert_invalid(validator, record_body(float_input=[[1, 2, 3, 4]], sepal=[[1]]))  # unknown input
    assert_invalid(validator, {**record_body(float_input=[[1, 2, 3, 4]]), "topN": 0})
    assert_invalid(validator, {**record_body(float_input=[[1, 2, 3, 4]]), "topN": "2"})
    assert_invalid(validator, {**record_body(float_input=[[1, 2, 3, 4]]), "topNdetails": 0})
    assert_invalid(validator, {"inputRecords": []})
    assert_invalid(validator, {"topN": 1})


def test_multi_input_model_with_string_input() -> None:
    validator = request_validator(document_for(make_zipmap_classifier_spec()))
    good = {"cat": [["red", "small"]], "age": [[42]], "num": [[12.0, "0.5"]]}
    assert_valid(validator, {"inputRecords": [good, good]})
    assert_valid(
        validator, record_body(cat=[["red", "small"], ["blue", "big"]], age=[[1], [2]], num=[[1, 2], [3, 4]])
    )
    assert_invalid(validator, record_body(cat=[["red", "small"]], num=[[12.0, 0.5]]))  # age missing
    assert_invalid(validator, record_body(**{**good, "cat": [["red", 7]]}))  # number for a STRING input
    assert_invalid(validator, record_body(**{**good, "cat": [["red"]]}))
    assert_invalid(validator, record_body(**{**good, "age": [["42"]]}))  # string for an INT64 input
    assert_invalid(validator, record_body(**{**good, "age": [[4.5]]}))
    assert_invalid(validator, record_body(**{**good, "age": [[2**63]]}))


def test_image_requests_take_base64_files_or_model_shaped_arrays() -> None:
    document = document_for(make_image_classifier_spec())
    validator = request_validator(document)
    pixels = [[[[0.1] * 4 for _ in range(4)] for _ in range(3)]]
    assert_valid(validator, {"inputRecords": [{"input": PNG}, {"input": PNG}], "topN": 1})
    assert_valid(validator, record_body(input=pixels))
    assert_valid(validator, record_body(input=pixels + pixels))
    assert_invalid(validator, record_body(input="not base64 !"))
    assert_invalid(
        validator, record_body(input=[[[[0.1] * 4 for _ in range(4)] for _ in range(1)]])
    )  # 1 channel
    assert_invalid(validator, record_body(input=[[[0.1] * 4 for _ in range(4)]]))  # 3-D
    assert_invalid(validator, record_body(input=[[[["0.1"] * 4 for _ in range(4)] for _ in range(3)]]))
    assert_invalid(validator, record_body(input=[PNG]))

    form = request_validator(document, "multipart/form-data")
    assert_valid(form, {"imageData": "<file bytes>", "topN": 2})
    assert_invalid(form, {"topN": 2})
    assert_invalid(form, {"imageData": "<file bytes>", "topN": 0})


def test_nhwc_image_with_dynamic_size() -> None:
    validator = request_validator(document_for(make_nhwc_image_classifier_spec()))
    assert_valid(validator, record_body(input_1=[[[[0, 0, 0]] * 5] * 7]))  # 7x5 pixels, 3 channels last
    assert_invalid(validator, record_body(input_1=[[[[0, 0, 0, 0]] * 5] * 7]))  # 4 channels
    assert_valid(validator, record_body(input_1=PNG))


def test_image_feature_extraction_requests() -> None:
    document = document_for(make_image_feature_extraction_spec())
    validator = request_validator(document)
    assert_valid(validator, record_body(pixels=[[[[0, 255], [255, 0]]]]))
    assert_valid(validator, record_body(pixels=PNG))
    assert_invalid(validator, record_body(pixels=[[[[0, 255, 0], [255, 0, 0]]]]))
    assert "multipart/form-data" in operation(document)["requestBody"]["content"]


def test_example_image_is_a_real_png() -> None:
    with Image.open(io.BytesIO(base64.b64decode(PNG))) as image:
        assert image.format == "PNG"
        assert image.size == (1, 1)


# --- responses -------------------------------------------------------------------------------------


def classifications(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return {"scoringResults": [{"classifications": [{"label": lbl, "probability": p} for lbl, p in pairs]}]}


def test_static_classifier_responses() -> None:
    validator = response_validator(document_for(make_static_classifier_spec()))
    assert_valid(validator, classifications(("setosa", 0.9), ("versicolor", 0.07), ("virginica", 0.03)))
    assert_valid(validator, classifications(("virginica", 6.998515445640917e-4)))
    assert_invalid(validator, classifications(("rose", 0.9)))  # not a known label
    assert_invalid(validator, classifications(*[("setosa", 0.1)] * 4))  # more entries than classes
    assert_invalid(validator, classifications())
    assert_invalid(validator, {"scoringResults": []})
    assert_invalid(validator, {"scoringResults": [{"classifications": [{"label": "setosa"}]}]})
    assert_invalid(
        validator,
        {"scoringResults": [{"classifications": [{"label": "setosa", "probability": 1.0, "rank": 1}]}]},
    )
    assert_invalid(validator, {"scoringResults": [{"regression": 1.0}]})
    assert_invalid(validator, {**classifications(("setosa", 1.0)), "extra": True})


def test_classifier_with_labels_from_an_output_bounds_the_count_only() -> None:
    validator = response_validator(document_for(make_output_label_classifier_spec()))
    assert_valid(validator, classifications(("anything", 0.5), ("else", 0.5)))
    assert_invalid(validator, classifications(*[("a", 0.2)] * 5))


def test_zipmap_classifier_accepts_any_label() -> None:
    validator = response_validator(document_for(make_zipmap_classifier_spec()))
    assert_valid(validator, classifications(("no", 0.88), ("yes", 0.12)))
    assert_invalid(validator, classifications(("no", "0.88")))


def test_regression_responses() -> None:
    validator = response_validator(document_for(make_regression_spec()))
    assert_valid(validator, {"scoringResults": [{"regression": 41.73}, {"regression": -12}]})
    assert_invalid(validator, {"scoringResults": [{"regression": "41.73"}]})
    assert_invalid(validator, {"scoringResults": [{"regression": 1.0, "details": []}]})
    assert_invalid(validator, {"scoringResults": [{}]})


def test_probability_clustering_responses() -> None:
    validator = response_validator(document_for(make_probability_clustering_spec()))
    assert_valid(validator, {"scoringResults": [{"clusters": [{"clusterId": "2", "probability": 0.97}]}]})
    assert_invalid(validator, {"scoringResults": [{"clusters": [{"clusterId": "3", "probability": 0.97}]}]})
    assert_invalid(validator, {"scoringResults": [{"clusters": [{"clusterId": 2, "probability": 0.97}]}]})
    assert_invalid(validator, {"scoringResults": [{"clusters": [{"clusterId": "0", "distance": 0.5}]}]})


def test_distance_clustering_responses() -> None:
    validator = response_validator(document_for(make_distance_clustering_spec()))
    assert_valid(
        validator,
        {
            "scoringResults": [
                {
                    "clusters": [
                        {"clusterId": "south", "distance": 0.84},
                        {"clusterId": "north", "distance": 3.9},
                    ]
                }
            ]
        },
    )
    assert_invalid(validator, {"scoringResults": [{"clusters": [{"clusterId": "0", "distance": 0.84}]}]})
    assert_invalid(
        validator, {"scoringResults": [{"clusters": [{"clusterId": "north", "probability": 0.8}]}]}
    )


def test_clustering_without_a_measure_is_refused() -> None:
    spec = make_probability_clustering_spec()
    broken = dataclasses.replace(spec, cluster_measure=None)
    with pytest.raises(ValueError, match="cluster measure"):
        document_for(broken)


def test_feature_extraction_responses() -> None:
    validator = response_validator(document_for(make_image_feature_extraction_spec()))
    assert_valid(validator, {"scoringResults": [{"doubleWeights": [0.012, 0.0, 1.734, 0, 0, 1]}]})
    assert_invalid(validator, {"scoringResults": [{"doubleWeights": [0.012, 0.0, 1.734]}]})
    assert_invalid(validator, {"scoringResults": [{"doubleWeights": [0.0] * 7}]})
    assert_invalid(validator, {"scoringResults": [{"doubleWeights": [0.0] * 6, "featureIDs": [1]}]})


def test_image_classifier_responses() -> None:
    validator = response_validator(document_for(make_image_classifier_spec()))
    assert_valid(validator, classifications(("cat", 0.93), ("dog", 0.04)))
    assert_invalid(validator, classifications(("bird", 0.93)))


# --- the service-wide fragments --------------------------------------------------------------------


def service_document() -> dict[str, Any]:
    """A small document carrying every fragment, as the service-wide API document will."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "fragments", "version": "1"},
        "paths": {},
        "components": {"schemas": schemas.component_schemas()},
    }


def test_all_fragments_form_a_valid_document() -> None:
    document = service_document()
    validate_openapi(document)
    assert list(document["components"]["schemas"]) == list(schemas.SCHEMA_NAMES)


def test_component_schemas_bring_what_they_reference() -> None:
    assert list(schemas.component_schemas("Error")) == ["Error"]
    assert set(schemas.component_schemas("EndpointWithDetails")) == {
        "Link",
        "MetadataAttribute",
        "ModelMetadata",
        "EndpointWithDetails",
    }
    with pytest.raises(KeyError):
        schemas.component_schemas("NoSuchSchema")


def test_service_bodies_validate_against_fragments() -> None:
    document = service_document()

    def check(name: str, good: Any, *bad: Any) -> None:
        validator = schema_validator(document, schemas.schema_ref(name))
        assert_valid(validator, good)
        for instance in bad:
            assert_invalid(validator, instance)

    links = [{"rel": "self", "href": "https://oml.example.com/omlmod/v1/deployment/house_rg"}]
    endpoint = {
        "modelId": MODEL_ID,
        "uri": "house_rg",
        "deployedOn": "2025-01-05T10:00:00.123Z",
        "links": links,
        "modelName": "house#rg$",
        "version": "1.0",
        "modelType": "ONNX",
        "createdBy": "ANALYST1",
        "shared": True,
        "namespace": "DEMO",
    }
    metadata = {
        "modelName": "house#rg$",
        "miningFunction": "REGRESSION",
        "algorithm": "ONNX",
        "attributes": [{"name": "features", "attributeType": "FLOAT", "shape": [-1, 3]}],
        "outputs": [{"name": "variable", "attributeType": "FLOAT", "shape": [-1, 1]}],
    }
    check("EndpointWithDetails", {**endpoint, "metadata": metadata}, endpoint, {**endpoint, "metadata": {}})
    check("DeploymentEndpointCollection", {"items": [endpoint], "links": links}, {"items": [endpoint]})
    check(
        "ModelResponse",
        {k: v for k, v in endpoint.items() if k not in ("uri", "deployedOn")}
        | {"storedOn": "2025-01-05T10:00:00.123Z"},
        {**endpoint, "version": "1.0.0"},
    )
    check("Error", {"code": "NOT_FOUND", "message": "no such model"}, {"code": "NOT_FOUND"})
    check(
        "TokenRequest",
        {"grant_type": "password", "username": "ANALYST1", "password": "pw"},
        {"grant_type": "password", "username": "ANALYST1"},
        {"grant_type": "client_credentials"},
    )
    check("TokenRequest", {"grant_type": "refresh_token", "refresh_token": "abc"})
    check(
        "TokenResponse",
        {"accessToken": "abc", "expiresIn": 3600, "tokenType": "Bearer"},
        {"expiresIn": 3600},
    )
    check(
        "ApiVersionCollection",
        {
            "items": [{"version": "v1", "isLatest": True, "lifecycle": "active", "links": links}],
            "links": links,
        },
        {
            "items": [{"version": "v1", "isLatest": True, "lifecycle": "retired", "links": links}],
            "links": links,
        },
    )
    check("EndpointParam", {"modelId": MODEL_ID, "uri": "house_rg"}, {"modelId": MODEL_ID, "uri": "house-rg"})
