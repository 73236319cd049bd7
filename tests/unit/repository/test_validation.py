"""A whole package against spec sections 7 and 8: the ScoringSpec a good one gives, and every problem
a bad one has, reported together.

Each zoo model shows a supported kind of package and the spec derived from it; then each rule of
section 8 gets a package that breaks it and the problem it produces. Messages are asserted in full
where they are ours: they are what a client reads in the 400 response.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

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
from omlsvc.repository.validation import validate_package
from tests.modelzoo import (
    IMAGE_CLASSES,
    IMAGE_MEAN,
    IMAGE_SCALE,
    IRIS_CLASSES,
    make_external_data_zip,
    make_feature_extractor_zip,
    make_gmm_zip,
    make_image_classifier_zip,
    make_image_model,
    make_kmeans_zip,
    make_multi_input_pipeline_zip,
    make_plain_classifier_zip,
    make_regressor_zip,
    make_zipmap_classifier_zip,
    write_zip,
    zip_package,
)
from tests.unit.repository.packages import CLASSIFICATION, IMG, problems_of, spec_of, validated

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
