"""metadata.json on its own: the rules of spec section 8 that need no model.

``function`` is required and case-insensitive; output names are kept exactly as written (they are
case-sensitive); keys the spec does not name are ignored; image fields get their defaults and are
checked one by one. Rules that compare the document with the graph are in test_validation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from omlsvc.core.signature import Function, ModelType
from omlsvc.repository.spec import (
    MAX_IMAGE_SIDE,
    ImageFields,
    Metadata,
    parse_metadata_json,
    read_metadata,
)

IMAGE_CLASSIFIER = {"function": "classification"}
FUNCTION_FIELD = "metadata.json field 'function'"


def read(document: dict[str, Any], model_type: ModelType = ModelType.ONNX) -> Metadata:
    """The metadata of a document that breaks no rule."""
    metadata, problems = read_metadata(document, model_type)
    assert problems == []
    assert metadata is not None
    return metadata


def problems(document: dict[str, Any], model_type: ModelType = ModelType.ONNX) -> list[str]:
    return read_metadata(document, model_type)[1]


def image_fields(**fields: Any) -> ImageFields:
    image = read({**IMAGE_CLASSIFIER, **fields}, ModelType.ONNX_IMG).image
    assert image is not None
    return image


def image_problems(**fields: Any) -> list[str]:
    return problems({**IMAGE_CLASSIFIER, **fields}, ModelType.ONNX_IMG)


# --- parsing ----------------------------------------------------------------------------------------


def test_metadata_json_is_a_json_object() -> None:
    assert parse_metadata_json(b'{"function": "regression"}') == ({"function": "regression"}, [])


def test_a_utf8_byte_order_mark_is_tolerated() -> None:
    assert parse_metadata_json('\ufeff{"function": "regression"}'.encode()) == (
        {"function": "regression"},
        [],
    )


def test_metadata_json_must_be_utf8() -> None:
    assert parse_metadata_json('{"function": "régression"}'.encode("latin-1")) == (
        None,
        ["metadata.json is not UTF-8 text (invalid byte at offset 15)"],
    )


def test_metadata_json_must_be_valid_json_and_the_error_says_where() -> None:
    document, (problem,) = parse_metadata_json(b'{\n  "function": "regression"\n  "regressionOutput": "y"\n}')

    assert document is None
    assert problem == "metadata.json is not valid JSON: Expecting ',' delimiter (line 3, column 3)"


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(constant: str) -> None:
    document, found = parse_metadata_json(f'{{"function": "classification", "mean": [{constant}]}}'.encode())

    assert document is None
    assert found == [f"metadata.json is not valid JSON: {constant} is not a JSON number"]


def test_metadata_json_must_hold_an_object() -> None:
    assert parse_metadata_json(b'["function", "regression"]') == (
        None,
        ["metadata.json must hold a JSON object, not an array"],
    )


def test_deeply_nested_documents_are_refused() -> None:
    document, found = parse_metadata_json(b"[" * 100_000 + b"]" * 100_000)

    assert document is None
    assert found == ["metadata.json is nested too deeply"]


# --- function --------------------------------------------------------------------------------------


def test_function_is_required() -> None:
    assert read_metadata({"regressionOutput": "y"}, ModelType.ONNX) == (
        None,
        [f"{FUNCTION_FIELD} is required (one of classification, regression, clustering, feature_extraction)"],
    )


@pytest.mark.parametrize(
    ("value", "function"),
    [
        ("regression", Function.REGRESSION),
        ("Classification", Function.CLASSIFICATION),
        ("CLUSTERING", Function.CLUSTERING),
        ("Feature_Extraction", Function.FEATURE_EXTRACTION),
    ],
)
def test_function_is_case_insensitive(value: str, function: Function) -> None:
    model_type = ModelType.ONNX_IMG if function is Function.FEATURE_EXTRACTION else ModelType.ONNX
    document = {"function": value, "clusteringDistanceOutput": "scores"}

    assert read(document, model_type).function is function


@pytest.mark.parametrize(
    ("value", "shown"), [("ranking", '"ranking"'), (3, "3"), (["regression"], '["regression"]')]
)
def test_function_must_be_a_known_name(value: object, shown: str) -> None:
    assert read_metadata({"function": value}, ModelType.ONNX) == (
        None,
        [
            f"{FUNCTION_FIELD} must be one of "
            f"classification, regression, clustering, feature_extraction, not {shown}"
        ],
    )


@pytest.mark.parametrize("function", ["regression", "clustering"])
def test_regression_and_clustering_are_for_non_image_models_only(function: str) -> None:
    document = {"function": function, "clusteringProbOutput": "probabilities"}

    assert problems(document, ModelType.ONNX_IMG) == [
        f"function {function} is not supported for modelType ONNX_IMG, which supports classification and "
        "feature_extraction"
    ]


def test_feature_extraction_is_for_image_models_only() -> None:
    assert problems({"function": "feature_extraction"}, ModelType.ONNX) == [
        "function feature_extraction is not supported for modelType ONNX, which supports classification and "
        "regression and clustering"
    ]


# --- output names ------------------------------------------------------------------------------------


def test_output_names_are_kept_exactly_as_written() -> None:
    metadata = read(
        {
            "function": "classification",
            "classificationProbOutput": "Output_Probability",
            "classificationLabelOutput": "dense/Label:0",
        }
    )

    assert metadata.classification_prob_output == "Output_Probability"
    assert metadata.classification_label_output == "dense/Label:0"


def test_unknown_keys_are_ignored() -> None:
    metadata = read({"function": "regression", "algorithm": "xgboost", "comment": {"author": "me"}})

    assert metadata == Metadata(function=Function.REGRESSION)


def test_fields_of_other_functions_are_ignored() -> None:
    metadata = read({"function": "regression", "classificationProbOutput": 42, "clusteringProbOutput": "p"})

    assert metadata == Metadata(function=Function.REGRESSION)


def test_a_null_output_name_counts_as_absent() -> None:
    assert read({"function": "regression", "regressionOutput": None}).regression_output is None


@pytest.mark.parametrize(("value", "shown"), [("", '""'), (7, "7"), (["y"], '["y"]')])
def test_output_names_are_non_empty_strings(value: object, shown: str) -> None:
    assert problems({"function": "regression", "regressionOutput": value}) == [
        f"metadata.json field 'regressionOutput' must be an output name (a non-empty string), not {shown}"
    ]


def test_clustering_names_a_distance_or_a_probability_output() -> None:
    assert read(
        {"function": "clustering", "clusteringDistanceOutput": "scores"}
    ).clustering_distance_output == ("scores")
    assert read(
        {"function": "clustering", "clusteringProbOutput": "probabilities"}
    ).clustering_prob_output == ("probabilities")


def test_clustering_with_both_outputs_is_refused() -> None:
    document = {"function": "clustering", "clusteringDistanceOutput": "d", "clusteringProbOutput": "p"}

    assert problems(document) == [
        "clustering needs exactly one of clusteringDistanceOutput and clusteringProbOutput; both are given"
    ]


def test_clustering_with_neither_output_is_refused() -> None:
    assert problems({"function": "clustering"}) == [
        "clustering needs exactly one of clusteringDistanceOutput and clusteringProbOutput; neither is given"
    ]


# --- image fields ------------------------------------------------------------------------------------


def test_image_fields_default_to_rgb_nchw_without_normalisation() -> None:
    assert image_fields() == ImageFields(
        height=None,
        width=None,
        channel=3,
        mean=(0.0, 0.0, 0.0),
        scale=(1.0, 1.0, 1.0),
        input_channel="RGB",
        dim_names=("batch", "channel", "height", "width"),
    )


def test_image_fields_as_oracle_examples_write_them() -> None:
    fields = image_fields(
        height=224,
        width=224,
        channel=3,
        mean=[123.68, 116.779, 103.939],
        scale=[1.0, 1.0, 1.0],
        inputChannel="BGR",
        inputTensorDimNames=["batch", "height", "width", "channel"],
    )

    assert fields == ImageFields(
        height=224,
        width=224,
        channel=3,
        mean=(123.68, 116.779, 103.939),
        scale=(1.0, 1.0, 1.0),
        input_channel="BGR",
        dim_names=("batch", "height", "width", "channel"),
    )


def test_image_fields_are_ignored_for_non_image_models() -> None:
    metadata = read({"function": "regression", "mean": "not a list", "channel": 7})

    assert metadata.image is None


def test_grayscale_has_one_mean_and_one_scale() -> None:
    fields = image_fields(channel=1, mean=[127.5], scale=[0.0078125])

    assert (fields.channel, fields.mean, fields.scale) == (1, (127.5,), (0.0078125,))
    assert image_fields(channel=1).mean == (0.0,)


def test_whole_numbers_written_as_floats_are_accepted() -> None:
    assert (image_fields(height=224.0).height, image_fields(channel=1.0).channel) == (224, 1)


@pytest.mark.parametrize("value", [0, -1, 1.5, "224", True, MAX_IMAGE_SIDE + 1])
def test_height_and_width_are_pixel_counts(value: object) -> None:
    assert image_problems(height=value) == [
        f"metadata.json field 'height' must be a whole number of pixels from 1 to {MAX_IMAGE_SIDE}, "
        f"not {value!r}"
    ]


@pytest.mark.parametrize("value", [2, 4, "3", 0])
def test_channel_is_one_or_three(value: object) -> None:
    assert image_problems(channel=value) == [
        f"metadata.json field 'channel' must be 1 (grayscale) or 3 (color), not {value!r}"
    ]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"mean": [0.5, 0.5]}, "'mean' must list 3 numbers (one per channel), not [0.5, 0.5]"),
        ({"scale": 0.017}, "'scale' must list 3 numbers (one per channel), not 0.017"),
        ({"mean": [1, "2", 3]}, """'mean' must list 3 numbers (one per channel), not [1, "2", 3]"""),
        ({"mean": [1, True, 3]}, "'mean' must list 3 numbers (one per channel), not [1, true, 3]"),
        ({"channel": 1, "scale": [1, 1, 1]}, "'scale' must list 1 number (one per channel), not [1, 1, 1]"),
    ],
)
def test_mean_and_scale_have_one_number_per_channel(fields: dict[str, Any], problem: str) -> None:
    assert image_problems(**fields) == [f"metadata.json field {problem}"]


def test_input_channel_is_rgb_or_bgr_in_any_case() -> None:
    assert image_fields(inputChannel="bgr").input_channel == "BGR"
    assert image_problems(inputChannel="RGBA") == [
        "metadata.json field 'inputChannel' must be RGB, BGR or L (grey), not \"RGBA\""
    ]


def test_input_tensor_dim_names_may_be_written_in_any_case() -> None:
    assert image_fields(inputTensorDimNames=["Batch", "Height", "Width", "Channel"]).dim_names == (
        "batch",
        "height",
        "width",
        "channel",
    )


@pytest.mark.parametrize(
    "names",
    [
        ["batch", "channel", "height"],
        ["batch", "channel", "height", "height"],
        ["batch", "channels", "height", "width"],
        "NCHW",
        ["batch", "channel", "height", 4],
    ],
)
def test_input_tensor_dim_names_is_a_permutation_of_the_four_axes(names: object) -> None:
    assert image_problems(inputTensorDimNames=names) == [
        "metadata.json field 'inputTensorDimNames' must list each of batch, channel, height, width once, "
        f"not {json.dumps(names)}"
    ]


def test_the_batch_axis_comes_first() -> None:
    assert image_problems(inputTensorDimNames=["channel", "batch", "height", "width"]) == [
        "metadata.json field 'inputTensorDimNames' must start with batch (dim 0 is the batch)"
    ]


def test_every_bad_image_field_is_reported_and_the_rest_still_read() -> None:
    metadata, found = read_metadata(
        {"function": "classification", "height": 0, "channel": 4, "inputChannel": "YUV", "width": 64},
        ModelType.ONNX_IMG,
    )

    assert len(found) == 3
    assert metadata is not None and metadata.image is not None
    assert metadata.image.width == 64
