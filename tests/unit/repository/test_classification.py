"""Classification (spec 8.3): the three cases, each shown by the packages it accepts and the problems
of those it refuses.

Messages are asserted in full: they are what a client reads in the 400 response.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from omlsvc.core.signature import Function, LabelSource, ModelType, TensorInfo, ValueKind
from omlsvc.repository.inspect import ModelInfo
from omlsvc.repository.rules import build_spec
from omlsvc.repository.spec import Metadata
from tests.modelzoo import IRIS_CLASSES, make_plain_classifier_zip, make_zipmap_classifier_zip
from tests.unit.repository.packages import CLASSIFICATION, problems_of, spec_of, tabular_zip, validated

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
