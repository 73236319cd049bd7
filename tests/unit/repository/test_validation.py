"""A whole package against spec sections 7 and 8: the ScoringSpec a good one gives, and every problem
a bad one has, reported together.

Each zoo model shows a supported kind of package and the spec derived from it; then each rule of
section 8 gets a package that breaks it and the problem it produces. Messages are asserted in full
where they are ours: they are what a client reads in the 400 response.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from omlsvc.core.errors import InvalidModel
from omlsvc.core.signature import (
    Function,
    ImageSpec,
    LabelSource,
    ModelType,
    ScoringSpec,
    TensorInfo,
    ValueKind,
)
from omlsvc.repository.archive import ArchiveLimits
from omlsvc.repository.inspect import ModelInfo
from omlsvc.repository.spec import ImageFields, Metadata
from omlsvc.repository.validation import ValidatedPackage, build_spec, parse_labels, validate_package
from tests.modelzoo import (
    IMAGE_CLASSES,
    IMAGE_MEAN,
    IMAGE_SCALE,
    IRIS_CLASSES,
    ZooModel,
    make_external_data_zip,
    make_feature_extractor_zip,
    make_gmm_zip,
    make_image_classifier_zip,
    make_image_model,
    make_kmeans_zip,
    make_multi_input_pipeline_zip,
    make_plain_classifier_zip,
    make_regressor_zip,
    make_tabular_model,
    make_zipmap_classifier_zip,
    write_zip,
    zip_package,
)

LIMITS = ArchiveLimits()
CLASSIFICATION = {"function": "classification"}
IMG = ModelType.ONNX_IMG


def validated(path: Path, model_type: ModelType = ModelType.ONNX) -> ValidatedPackage:
    return validate_package(path, model_type, LIMITS, path.parent / "work")


def spec_of(zoo: ZooModel, model_type: ModelType = ModelType.ONNX) -> ScoringSpec:
    return validated(zoo.zip_path, model_type).spec


def problems_of(path: Path, model_type: ModelType = ModelType.ONNX) -> tuple[str, ...]:
    """Every problem of a package that must be refused; the message counts them."""
    with pytest.raises(InvalidModel) as raised:
        validated(path, model_type)
    count = len(raised.value.details)
    assert raised.value.message == f"The model package is invalid: {count} problem{'' if count == 1 else 's'}"
    return raised.value.details


def tabular_zip(
    directory: Path,
    outputs: Mapping[str, str],
    metadata: Mapping[str, Any],
    labels: Sequence[str] | None = None,
    classes: Sequence[str] = IRIS_CLASSES,
) -> Path:
    """A package around ``make_tabular_model``: a graph with exactly the outputs a rule needs."""
    model = make_tabular_model(outputs, classes=classes)
    return zip_package(directory, "tabular", model, metadata, labels).zip_path


def image_zip(directory: Path, outputs: Mapping[str, str], metadata: Mapping[str, Any], **model: Any) -> Path:
    labels = IMAGE_CLASSES if "probabilities" in outputs.values() else None
    return zip_package(
        directory, "image", make_image_model(outputs=outputs, **model), metadata, labels
    ).zip_path


# --- the zoo: every supported kind of package and its ScoringSpec ------------------------------------


def test_a_regressor_scores_its_only_output(tmp_path: Path) -> None:
    zoo = make_regressor_zip(tmp_path)

    package = validated(zoo.zip_path)

    assert package.spec == ScoringSpec(
        model_type=ModelType.ONNX,
        function=Function.REGRESSION,
        inputs=(TensorInfo("float_input", ValueKind.TENSOR, "FLOAT", (-1, 3)),),
        outputs=(TensorInfo(zoo.output_names[0], ValueKind.TENSOR, "FLOAT", (-1, 1)),),
        output=zoo.output_names[0],
        opset=17,
    )
    assert (package.metadata, package.labels, package.onnx_name) == (
        {"function": "regression"},
        None,
        "regressor.onnx",
    )


def test_a_zipmap_classifier_needs_no_label_file(tmp_path: Path) -> None:
    spec = spec_of(make_zipmap_classifier_zip(tmp_path))

    assert (spec.function, spec.output, spec.label_source) == (
        Function.CLASSIFICATION,
        "output_probability",
        LabelSource.STATIC,
    )
    assert (spec.labels, spec.width, spec.label_output) == (IRIS_CLASSES, 3, None)


def test_a_plain_classifier_names_its_classes_in_label_txt(tmp_path: Path) -> None:
    zoo = make_plain_classifier_zip(tmp_path, labels=["Iris setosa", "Iris versicolor", "Iris virginica"])

    package = validated(zoo.zip_path)

    assert (package.spec.output, package.spec.label_source) == ("probabilities", LabelSource.STATIC)
    assert package.spec.labels == package.labels == ("Iris setosa", "Iris versicolor", "Iris virginica")
    assert package.spec.width == 3


def test_a_plain_classifier_may_take_its_labels_from_the_classifier_node(tmp_path: Path) -> None:
    metadata = {
        **CLASSIFICATION,
        "classificationProbOutput": "probabilities",
        "classificationLabelOutput": "label",
    }

    spec = spec_of(make_plain_classifier_zip(tmp_path, metadata=metadata, labels=None))

    assert (spec.output, spec.label_source, spec.labels) == (
        "probabilities",
        LabelSource.STATIC,
        ("0", "1", "2"),
    )


def test_a_two_input_pipeline_keeps_both_inputs(tmp_path: Path) -> None:
    spec = spec_of(make_multi_input_pipeline_zip(tmp_path))

    assert spec.inputs == (
        TensorInfo("cat", ValueKind.TENSOR, "STRING", (-1, 1)),
        TensorInfo("num", ValueKind.TENSOR, "FLOAT", (-1, 2)),
    )
    assert (spec.output, spec.label_source, spec.labels) == (
        "output_probability",
        LabelSource.STATIC,
        ("no", "yes"),
    )


def test_kmeans_clusters_by_distance_with_index_ids(tmp_path: Path) -> None:
    spec = spec_of(make_kmeans_zip(tmp_path))

    assert (spec.function, spec.output, spec.cluster_measure) == (Function.CLUSTERING, "scores", "distance")
    assert (spec.label_source, spec.labels, spec.width) == (LabelSource.INDEX, None, 3)


def test_gaussian_mixture_clusters_by_probability(tmp_path: Path) -> None:
    spec = spec_of(make_gmm_zip(tmp_path))

    assert (spec.output, spec.cluster_measure, spec.label_source, spec.width) == (
        "probabilities",
        "probability",
        LabelSource.INDEX,
        3,
    )


def test_cluster_ids_come_from_label_txt_when_given(tmp_path: Path) -> None:
    spec = spec_of(make_kmeans_zip(tmp_path, labels=["small", "medium", "large"]))

    assert (spec.label_source, spec.labels) == (LabelSource.STATIC, ("small", "medium", "large"))


def test_an_nchw_image_classifier_takes_its_size_from_the_model(tmp_path: Path) -> None:
    spec = spec_of(make_image_classifier_zip(tmp_path), IMG)

    assert spec.image == ImageSpec(
        input_name="image",
        height=8,
        width=8,
        channel=3,
        mean=tuple(IMAGE_MEAN),
        scale=tuple(IMAGE_SCALE),
        input_channel="RGB",
        dim_names=("batch", "channel", "height", "width"),
        element_type="FLOAT",
    )
    assert (spec.output, spec.label_source, spec.labels, spec.width) == (
        "probabilities",
        LabelSource.STATIC,
        IMAGE_CLASSES,
        4,
    )


def test_an_nhwc_bgr_image_classifier_with_a_dynamic_size(tmp_path: Path) -> None:
    zoo = make_image_classifier_zip(tmp_path, layout="NHWC", channel_order="BGR", fixed_size=False)

    image = spec_of(zoo, IMG).image

    assert image is not None
    assert (image.height, image.width, image.input_channel) == (8, 8, "BGR")
    assert image.dim_names == ("batch", "height", "width", "channel")


def test_a_feature_extractor_returns_its_only_output(tmp_path: Path) -> None:
    spec = spec_of(make_feature_extractor_zip(tmp_path), IMG)

    assert (spec.function, spec.output, spec.width, spec.label_source) == (
        Function.FEATURE_EXTRACTION,
        "features",
        4,
        None,
    )
    assert spec.image is not None and (spec.image.mean, spec.image.scale) == ((0.0,) * 3, (1.0,) * 3)


def test_a_model_with_external_data_validates(tmp_path: Path) -> None:
    package = validated(make_external_data_zip(tmp_path).zip_path)

    assert (package.onnx_name, package.spec.output) == ("external.onnx", "prediction")


def test_a_package_zipped_inside_a_folder_validates(tmp_path: Path) -> None:
    zoo = make_regressor_zip(tmp_path)
    path = write_zip(
        tmp_path / "folder.zip",
        {"regressor.onnx": zoo.onnx_bytes, "metadata.json": b'{"function":"regression"}'},
        "house",
    )

    assert validated(path).onnx_name == "regressor.onnx"


def test_the_scoring_spec_survives_its_json_round_trip(tmp_path: Path) -> None:
    for spec in (
        spec_of(make_zipmap_classifier_zip(tmp_path)),
        spec_of(make_image_classifier_zip(tmp_path), IMG),
    ):
        assert ScoringSpec.from_json(spec.to_json()) == spec


def test_validation_leaves_nothing_behind_in_its_workdir(tmp_path: Path) -> None:
    validated(make_external_data_zip(tmp_path).zip_path)
    problems_of(make_external_data_zip(tmp_path, location="missing.bin").zip_path)

    assert list((tmp_path / "work").iterdir()) == []


# --- every problem at once ------------------------------------------------------------------------


def test_all_problems_of_a_package_are_reported_together(tmp_path: Path) -> None:
    image_model = make_image_model(outputs={"probabilities": "probabilities"})
    files = {"model.onnx": image_model.SerializeToString(), "metadata.json": b'{"function": "Ranking"}'}
    files["label.txt"] = b"cat\n\ndog\n"
    files["../escape.txt"] = b"x"

    assert problems_of(write_zip(tmp_path / "p.zip", files)) == (
        "entry '../escape.txt' points outside the archive ('..')",
        "metadata.json field 'function' must be one of classification, regression, clustering, "
        'feature_extraction, not "Ranking"',
        "label.txt has empty lines (2): each line must name one class",
        "input 'image' has shape [?, 3, 8, 8]; ONNX inputs must have rank 2 ([batch, features])",
    )


def test_a_file_that_is_not_a_zip_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(make_regressor_zip(tmp_path).onnx_bytes)

    with pytest.raises(InvalidModel) as raised:
        validated(path)

    assert raised.value.details[0].startswith("the file is not a readable zip archive")


def test_a_model_that_onnxruntime_cannot_load_is_invalid(tmp_path: Path) -> None:
    zoo = make_regressor_zip(tmp_path)
    broken = zoo.model
    broken.graph.node[0].domain = "com.example"
    broken.opset_import.add(domain="com.example", version=1)
    path = zip_package(tmp_path, "broken", broken, {"function": "regression"}).zip_path

    (problem,) = problems_of(path)

    assert problem.startswith("onnxruntime cannot load the model: ")
    assert str(tmp_path) not in problem


def test_metadata_json_over_its_size_limit_is_not_read(tmp_path: Path) -> None:
    metadata = {"function": "regression", "padding": random.Random(0).randbytes(1_000_000).hex()}

    size = len(json.dumps(metadata))

    assert problems_of(make_regressor_zip(tmp_path, metadata=metadata).zip_path) == (
        f"metadata.json is {size} bytes, over the limit of 1048576 bytes",
    )


def test_label_txt_over_its_size_limit_is_not_read(tmp_path: Path) -> None:
    path = make_plain_classifier_zip(tmp_path, labels=["a" * 20, "b", "c"]).zip_path

    with pytest.raises(InvalidModel) as raised:
        validate_package(path, ModelType.ONNX, ArchiveLimits(max_label_bytes=16), tmp_path / "work")

    assert raised.value.details == ("label.txt is 25 bytes, over the limit of 16 bytes",)


# --- external data ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("../weights.bin", "external data location '../weights.bin' points outside the archive ('..')"),
        ("/tmp/weights.bin", "external data location '/tmp/weights.bin' is an absolute path"),
        ("missing.bin", "external data file 'missing.bin' is not in the archive"),
    ],
)
def test_external_data_must_be_a_file_of_the_package(tmp_path: Path, location: str, problem: str) -> None:
    assert problems_of(make_external_data_zip(tmp_path, location=location).zip_path) == (problem,)


# --- label.txt ------------------------------------------------------------------------------------


def test_label_txt_has_one_label_per_line_and_one_trailing_newline_is_not_a_label() -> None:
    assert parse_labels(b"cat\ndog\n") == (("cat", "dog"), [])
    assert parse_labels(b"cat\ndog") == (("cat", "dog"), [])


def test_label_txt_accepts_windows_line_ends_and_a_byte_order_mark() -> None:
    assert parse_labels("\ufeffcat\r\ndog\r\n".encode()) == (("cat", "dog"), [])


def test_label_txt_keeps_labels_verbatim() -> None:
    assert parse_labels("scorpion-winter\ncinturato winter \nÉté\n".encode()) == (
        ("scorpion-winter", "cinturato winter ", "Été"),
        [],
    )


def test_label_txt_may_not_have_empty_lines() -> None:
    assert parse_labels(b"cat\n\ndog\n\n") == (
        ("cat", "", "dog", ""),
        ["label.txt has empty lines (2, 4): each line must name one class"],
    )


def test_label_txt_must_be_utf8() -> None:
    labels, problems = parse_labels("café\nthé\n".encode("latin-1"))

    assert problems == ["label.txt is not UTF-8 text (invalid byte at offset 3)"]
    assert labels == ("caf\ufffd", "th\ufffd")


def test_label_txt_may_not_be_empty() -> None:
    assert parse_labels(b"") == ((), ["label.txt is empty"])


# --- regression (spec 8.2) ---------------------------------------------------------------------------


def test_regression_output_is_required_when_there_are_several_outputs(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"price": "values", "scores": "scores"}, {"function": "regression"})

    assert problems_of(path) == ("regressionOutput is required: the model has 2 outputs ('price', 'scores')",)


def test_regression_output_picks_one_of_several(tmp_path: Path) -> None:
    path = tabular_zip(
        tmp_path,
        {"price": "values", "scores": "scores"},
        {"function": "regression", "regressionOutput": "price"},
    )

    assert validated(path).spec.output == "price"


def test_regression_output_must_exist_and_names_are_case_sensitive(tmp_path: Path) -> None:
    metadata = {"function": "regression", "regressionOutput": "Price"}
    path = tabular_zip(tmp_path, {"price": "values", "scores": "scores"}, metadata)

    assert problems_of(path) == (
        "regressionOutput names 'Price', which is not an output of the model (did you mean 'price'? output "
        "names are case-sensitive); its outputs are 'price', 'scores'",
    )


def test_regression_output_holds_floats(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"price": "int_scores"}, {"function": "regression"}, classes=["only"])

    assert problems_of(path) == (
        "the regression output 'price' must be a float or double tensor, not a INT64 tensor",
    )


def test_regression_output_may_hold_doubles(tmp_path: Path) -> None:
    path = tabular_zip(
        tmp_path, {"price": "double_probabilities"}, {"function": "regression"}, classes=["only"]
    )

    assert validated(path).spec.output_info("price").element_type == "DOUBLE"


def test_regression_output_is_a_column_not_a_vector(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"price": "row_values"}, {"function": "regression"})

    assert problems_of(path) == ("the regression output 'price' has shape [?]; it must be [batch, 1]",)


def test_regression_output_has_one_number_per_row(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"prices": "scores"}, {"function": "regression"})

    assert problems_of(path) == (
        "the regression output 'prices' has shape [?, 3]; it must be [batch, 1] (one number per row)",
    )


# --- classification case 1: one probability tensor (spec 8.3) -----------------------------------------


def test_a_single_probability_output_takes_its_labels_from_label_txt(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"p": "probabilities"}, CLASSIFICATION, ["a", "b", "c"])

    spec = validated(path).spec

    assert (spec.output, spec.label_source, spec.labels, spec.width) == (
        "p",
        LabelSource.STATIC,
        ("a", "b", "c"),
        3,
    )


def test_a_single_probability_output_requires_label_txt(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"p": "probabilities"}, CLASSIFICATION)

    assert problems_of(path) == (
        "label.txt is required: the model's only output 'p' holds probabilities but no class labels",
    )


def test_label_txt_has_one_line_per_probability_column(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"p": "probabilities"}, CLASSIFICATION, ["a", "b"])

    assert problems_of(path) == ("label.txt has 2 labels but the output 'p' has 3 columns",)


def test_with_a_single_output_the_label_output_field_is_ignored(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "classificationLabelOutput": "does_not_exist"}

    assert (
        validated(tabular_zip(tmp_path, {"p": "probabilities"}, metadata, ["a", "b", "c"])).spec.output == "p"
    )


def test_with_a_single_output_a_named_probability_output_must_be_it(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "classificationProbOutput": "probs"}

    assert problems_of(tabular_zip(tmp_path, {"p": "probabilities"}, metadata, ["a", "b", "c"])) == (
        "classificationProbOutput names 'probs', which is not an output of the model; its outputs are 'p'",
    )


def test_the_probability_output_holds_floats(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"p": "int_scores"}, CLASSIFICATION, ["a", "b", "c"])

    assert problems_of(path) == (
        "the probability output 'p' must be a float or double tensor, not a INT64 tensor",
    )


def test_the_probability_output_is_a_matrix(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"p": "row_values"}, CLASSIFICATION, ["a", "b", "c"])

    assert problems_of(path) == ("the probability output 'p' has shape [?]; it must be [batch, nClasses]",)


# --- classification case 2: a label tensor and ZipMap probabilities ---------------------------------


def test_with_zipmap_outputs_label_txt_is_ignored(tmp_path: Path) -> None:
    spec = spec_of(make_zipmap_classifier_zip(tmp_path, labels=["only", "two"]))

    assert spec.labels == IRIS_CLASSES


def test_with_zipmap_outputs_named_fields_must_match_their_roles(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "classificationProbOutput": "output_label"}

    assert problems_of(make_zipmap_classifier_zip(tmp_path, metadata=metadata).zip_path) == (
        "classificationProbOutput names 'output_label', but in a model whose outputs are a label tensor "
        "and a sequence of probability maps (skl2onnx ZipMap) the probabilities are 'output_probability'",
    )


def test_with_zipmap_outputs_named_fields_must_exist(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "classificationLabelOutput": "Output_Label"}

    assert problems_of(make_zipmap_classifier_zip(tmp_path, metadata=metadata).zip_path) == (
        "classificationLabelOutput names 'Output_Label', which is not an output of the model (did you "
        "mean 'output_label'? output names are case-sensitive); its outputs are 'output_label', "
        "'output_probability'",
    )


def test_zipmap_with_integer_classes_labels_columns_by_number(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"label": "predicted", "probability": "int_prob_maps"}, CLASSIFICATION)

    spec = validated(path).spec

    assert (spec.output, spec.label_source, spec.labels) == (
        "probability",
        LabelSource.STATIC,
        ("0", "1", "2"),
    )


def test_maps_without_graph_labels_are_labelled_by_their_keys() -> None:
    """A sequence of maps that no ZipMap produces: the keys of each map are the labels."""
    info = ModelInfo(
        inputs=(TensorInfo("x", ValueKind.TENSOR, "FLOAT", (-1, 4)),),
        outputs=(
            TensorInfo("label", ValueKind.TENSOR, "STRING", (-1,)),
            TensorInfo("probs", ValueKind.SEQUENCE_OF_MAPS, "FLOAT", None, key_type="STRING"),
        ),
        opset=17,
    )
    problems: list[str] = []

    spec = build_spec(Metadata(Function.CLASSIFICATION), info, None, ModelType.ONNX, problems)

    assert problems == []
    assert spec is not None
    assert (spec.output, spec.label_source, spec.labels, spec.width) == (
        "probs",
        LabelSource.MAP_KEYS,
        None,
        None,
    )


# --- classification case 3: any other outputs -------------------------------------------------------


def test_other_outputs_require_the_probability_output_to_be_named(tmp_path: Path) -> None:
    path = make_plain_classifier_zip(tmp_path, metadata=CLASSIFICATION).zip_path

    assert problems_of(path) == (
        "classificationProbOutput is required: the model has 2 outputs ('label', 'probabilities'), so the "
        "one holding probabilities must be named",
    )


def test_without_label_txt_the_label_output_is_required(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "classificationProbOutput": "probabilities"}

    assert problems_of(make_plain_classifier_zip(tmp_path, metadata=metadata, labels=None).zip_path) == (
        "classificationLabelOutput is required when there is no label.txt: the probability output "
        "'probabilities' carries no class labels",
    )


def test_a_label_output_listing_the_class_names_is_read_at_score_time(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "classificationProbOutput": "p", "classificationLabelOutput": "names"}
    outputs = {"p": "probabilities", "names": "class_names", "top": "predicted"}

    spec = validated(tabular_zip(tmp_path, outputs, metadata, labels=["ignored"])).spec

    assert (spec.output, spec.label_source, spec.label_output, spec.labels, spec.width) == (
        "p",
        LabelSource.OUTPUT,
        "names",
        None,
        3,
    )


def test_a_label_output_may_be_a_row_of_class_names(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "classificationProbOutput": "p", "classificationLabelOutput": "names"}

    spec = validated(tabular_zip(tmp_path, {"p": "probabilities", "names": "class_names_row"}, metadata)).spec

    assert (spec.label_source, spec.label_output) == (LabelSource.OUTPUT, "names")


def test_a_label_output_names_every_class(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "classificationProbOutput": "p", "classificationLabelOutput": "names"}
    path = tabular_zip(tmp_path, {"p": "probabilities", "names": "too_few_class_names"}, metadata)

    assert problems_of(path) == (
        "the label output 'names' has shape [2]; it must hold 3 labels, one per column of the probability "
        "output 'p'",
    )


def test_a_label_output_holds_strings_or_integers(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "classificationProbOutput": "p", "classificationLabelOutput": "s"}
    path = tabular_zip(tmp_path, {"p": "probabilities", "s": "scores"}, metadata)

    assert problems_of(path) == (
        "the label output 's' must be a tensor of strings or int64, not a FLOAT tensor",
    )


@pytest.mark.parametrize("kind", ["predicted", "predicted_column"])
def test_per_row_predictions_are_not_class_names(tmp_path: Path, kind: str) -> None:
    metadata = {**CLASSIFICATION, "classificationProbOutput": "p", "classificationLabelOutput": "top"}
    path = tabular_zip(tmp_path, {"p": "probabilities", "top": kind}, metadata, labels=["a", "b", "c"])

    (problem,) = problems_of(path)

    assert problem.startswith("the label output 'top' (shape [?")
    assert problem.endswith(
        "holds one predicted label per row, not the list of class labels, and the graph has no class label "
        "list: drop classificationLabelOutput and give label.txt (one label per probability column)"
    )


def test_a_sequence_of_maps_named_as_probabilities_carries_its_own_labels(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "classificationProbOutput": "maps"}
    outputs = {"top": "predicted", "maps": "prob_maps", "raw": "scores"}

    spec = validated(tabular_zip(tmp_path, outputs, metadata)).spec

    assert (spec.output, spec.label_source, spec.labels) == ("maps", LabelSource.STATIC, IRIS_CLASSES)


def test_a_missing_probability_and_label_output_are_both_reported(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "classificationProbOutput": "prob", "classificationLabelOutput": "lbl"}

    assert problems_of(make_plain_classifier_zip(tmp_path, metadata=metadata).zip_path) == (
        "classificationLabelOutput names 'lbl', which is not an output of the model; its outputs are "
        "'label', 'probabilities'",
        "classificationProbOutput names 'prob', which is not an output of the model; its outputs are "
        "'label', 'probabilities'",
    )


# --- clustering (spec 8.4) ---------------------------------------------------------------------------


def test_clustering_needs_exactly_one_output_field(tmp_path: Path) -> None:
    both = {"function": "clustering", "clusteringDistanceOutput": "scores", "clusteringProbOutput": "scores"}

    assert problems_of(make_kmeans_zip(tmp_path, metadata=both).zip_path) == (
        "clustering needs exactly one of clusteringDistanceOutput and clusteringProbOutput; both are given",
    )


def test_the_cluster_output_must_exist(tmp_path: Path) -> None:
    metadata = {"function": "clustering", "clusteringDistanceOutput": "distances"}

    assert problems_of(make_kmeans_zip(tmp_path, metadata=metadata).zip_path) == (
        "clusteringDistanceOutput names 'distances', which is not an output of the model; its outputs are "
        "'label', 'scores'",
    )


def test_the_cluster_output_holds_floats(tmp_path: Path) -> None:
    metadata = {"function": "clustering", "clusteringProbOutput": "label"}

    assert problems_of(make_gmm_zip(tmp_path, metadata=metadata).zip_path) == (
        "the clustering probability output 'label' must be a float or double tensor, not a INT64 tensor",
    )


def test_the_cluster_output_has_a_column_per_cluster(tmp_path: Path) -> None:
    path = tabular_zip(
        tmp_path, {"d": "row_values"}, {"function": "clustering", "clusteringDistanceOutput": "d"}
    )

    assert problems_of(path) == (
        "the clustering distance output 'd' has shape [?]; it must be [batch, nClusters]",
    )


def test_cluster_names_in_label_txt_match_the_cluster_count(tmp_path: Path) -> None:
    assert problems_of(make_gmm_zip(tmp_path, labels=["a", "b"]).zip_path) == (
        "label.txt has 2 labels but the output 'probabilities' has 3 columns",
    )


def test_clustering_is_for_non_image_models(tmp_path: Path) -> None:
    metadata = {"function": "clustering", "clusteringDistanceOutput": "features"}

    assert problems_of(image_zip(tmp_path, {"features": "features"}, metadata), IMG) == (
        "function clustering is not supported for modelType ONNX_IMG, which supports classification and "
        "feature_extraction",
    )


# --- feature extraction (spec 8.5) -------------------------------------------------------------------


def test_feature_maps_are_flattened_per_row(tmp_path: Path) -> None:
    path = image_zip(tmp_path, {"maps": "feature_maps"}, {"function": "feature_extraction"})

    assert validated(path, IMG).spec.width == 4 * 8 * 8


def test_the_only_float_output_is_the_feature_output(tmp_path: Path) -> None:
    path = image_zip(
        tmp_path, {"top": "predicted", "embedding": "features"}, {"function": "feature_extraction"}
    )

    assert validated(path, IMG).spec.output == "embedding"


def test_with_several_float_outputs_the_feature_output_cannot_be_chosen(tmp_path: Path) -> None:
    path = image_zip(
        tmp_path, {"embedding": "features", "p": "probabilities"}, {"function": "feature_extraction"}
    )

    assert problems_of(path, IMG) == (
        "feature extraction returns the model's only output or its only float/double tensor output; this "
        "model has 2 outputs ('embedding', 'p'), 2 of them float/double tensors (metadata.json has no field "
        "to choose one)",
    )


def test_the_feature_output_holds_floats(tmp_path: Path) -> None:
    path = image_zip(tmp_path, {"top": "predicted"}, {"function": "feature_extraction"})

    assert problems_of(path, IMG) == (
        "the feature output 'top' must be a float or double tensor, not a INT64 tensor",
    )


def test_feature_extraction_is_for_image_models(tmp_path: Path) -> None:
    path = tabular_zip(tmp_path, {"f": "scores"}, {"function": "feature_extraction"})

    assert problems_of(path) == (
        "function feature_extraction is not supported for modelType ONNX, which supports classification and "
        "regression and clustering",
    )


# --- image input (spec 8.6, 8.7) ---------------------------------------------------------------------


def test_an_image_model_needs_a_four_dimensional_input(tmp_path: Path) -> None:
    path = make_plain_classifier_zip(tmp_path).zip_path

    assert problems_of(path, IMG) == (
        "input 'float_input' has shape [?, 4]; ONNX_IMG inputs must have rank 4 (a 4-D image tensor)",
    )


def test_given_height_and_width_agree_with_a_fixed_input(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "height": 8, "width": 8}

    assert (
        validated(make_image_classifier_zip(tmp_path, metadata=metadata).zip_path, IMG).spec.image is not None
    )


def test_given_height_must_not_contradict_a_fixed_input(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "height": 224, "width": 224}

    assert problems_of(make_image_classifier_zip(tmp_path, metadata=metadata).zip_path, IMG) == (
        "height is 224 but the image input 'image' (shape [?, 3, 8, 8]) fixes it to 8 on axis 2 per "
        "inputTensorDimNames ['batch', 'channel', 'height', 'width']",
        "width is 224 but the image input 'image' (shape [?, 3, 8, 8]) fixes it to 8 on axis 3 per "
        "inputTensorDimNames ['batch', 'channel', 'height', 'width']",
    )


def test_height_and_width_are_required_when_the_input_does_not_fix_them(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "width": 32}

    assert problems_of(
        make_image_classifier_zip(tmp_path, fixed_size=False, metadata=metadata).zip_path, IMG
    ) == (
        "height is required: the image input 'image' (shape [?, 3, ?, ?]) does not fix it on axis 2 per "
        "inputTensorDimNames ['batch', 'channel', 'height', 'width']",
    )


def test_an_nhwc_model_described_as_nchw_is_caught_by_its_channel_axis(tmp_path: Path) -> None:
    zoo = make_image_classifier_zip(tmp_path, layout="NHWC", metadata=CLASSIFICATION)

    assert problems_of(zoo.zip_path, IMG) == (
        "channel is 3 but the image input 'image' (shape [?, 8, 8, 3]) has 8 on its channel axis 1 per "
        "inputTensorDimNames ['batch', 'channel', 'height', 'width']: set channel, or inputTensorDimNames if "
        "the layout is not NCHW",
    )


def test_a_grayscale_model_declares_one_channel(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "channel": 1, "mean": [127.5], "scale": [0.0078125]}
    path = image_zip(tmp_path, {"p": "probabilities"}, metadata, channels=1)

    image = validated(path, IMG).spec.image

    assert image is not None and (image.channel, image.mean, image.scale) == (1, (127.5,), (0.0078125,))


def test_image_field_problems_and_model_problems_are_reported_together(tmp_path: Path) -> None:
    metadata = {**CLASSIFICATION, "mean": [0.5], "classificationProbOutput": "Probabilities"}

    problems = problems_of(make_image_classifier_zip(tmp_path, metadata=metadata).zip_path, IMG)

    assert problems == (
        "metadata.json field 'mean' must list 3 numbers (one per channel), not [0.5]",
        "classificationProbOutput names 'Probabilities', which is not an output of the model (did you mean "
        "'probabilities'? output names are case-sensitive); its outputs are 'probabilities'",
    )


def test_an_image_input_holds_numbers() -> None:
    info = ModelInfo(
        inputs=(TensorInfo("image", ValueKind.TENSOR, "STRING", (-1, 3, 8, 8)),),
        outputs=(TensorInfo("features", ValueKind.TENSOR, "FLOAT", (-1, 4)),),
        opset=17,
    )
    metadata = Metadata(Function.FEATURE_EXTRACTION, image=ImageFields())
    problems: list[str] = []

    assert build_spec(metadata, info, None, IMG, problems) is None
    assert problems == ["the image input 'image' must hold numbers, not STRING"]


def test_the_zoo_image_spec_is_what_scoring_needs(tmp_path: Path) -> None:
    """The image spec is a plain value: scoring reads it back from the model row's JSON."""
    spec = spec_of(make_image_classifier_zip(tmp_path, channel_order="BGR"), IMG)

    assert spec.image is not None
    assert dataclasses.asdict(spec.image)["input_channel"] == "BGR"
