"""Spec 8.3: which output of a classifier holds its probabilities and where its class labels come from.

Three cases, told apart by the graph's outputs alone: one probability tensor (labels from
label.txt); a label tensor and a sequence of maps (skl2onnx's ZipMap default: labels from the maps);
anything else, where metadata.json names the outputs (labels from a label output, else label.txt).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from omlsvc.core.signature import LabelSource, TensorInfo, ValueKind
from omlsvc.repository.inspect import LABEL_TYPES, ModelInfo, describe_shape
from omlsvc.repository.layout import LABELS_NAME
from omlsvc.repository.outputs import (
    Choice,
    column_count,
    describe,
    is_float_matrix,
    label_count_matches,
    named_output,
    names,
)
from omlsvc.repository.spec import CLASSIFICATION_LABEL_OUTPUT, CLASSIFICATION_PROB_OUTPUT, Metadata


def classification(
    metadata: Metadata, info: ModelInfo, labels: tuple[str, ...] | None, problems: list[str]
) -> Choice | None:
    """Spec 8.3: the three cases, told apart by the graph's outputs alone."""
    outputs = info.outputs
    if len(outputs) == 1 and outputs[0].kind is ValueKind.TENSOR:
        return _single_probability_output(metadata, info, labels, problems)
    pair = _label_and_map_outputs(outputs)
    if pair is not None:
        return _zipmap_outputs(metadata, info, *pair, problems=problems)
    return _named_classification_outputs(metadata, info, labels, problems)


def _single_probability_output(
    metadata: Metadata, info: ModelInfo, labels: tuple[str, ...] | None, problems: list[str]
) -> Choice | None:
    """Case 1: one probability tensor; label.txt names its columns; classificationLabelOutput ignored."""
    (output,) = info.outputs
    named = metadata.classification_prob_output
    if named is not None and named_output(info, named, CLASSIFICATION_PROB_OUTPUT, problems) is None:
        return None
    if not is_float_matrix(output, "the probability output", "nClasses", problems):
        return None
    width = column_count(output)
    if labels is None:
        problems.append(
            f"{LABELS_NAME} is required: the model's only output {output.name!r} holds probabilities "
            "but no class labels"
        )
        return None
    if not label_count_matches(labels, f"{LABELS_NAME} has", output, width, problems):
        return None
    return Choice(output=output.name, width=width, label_source=LabelSource.STATIC, labels=labels)


def _label_and_map_outputs(outputs: Sequence[TensorInfo]) -> tuple[TensorInfo, TensorInfo] | None:
    """Case 2's shape: exactly a label tensor and a sequence of maps (skl2onnx's ZipMap default)."""
    if len(outputs) != 2:
        return None
    maps = [o for o in outputs if o.kind is ValueKind.SEQUENCE_OF_MAPS]
    label_tensors = [o for o in outputs if o.kind is ValueKind.TENSOR and o.element_type in LABEL_TYPES]
    if len(maps) == 1 and len(label_tensors) == 1:
        return label_tensors[0], maps[0]
    return None


def _zipmap_outputs(
    metadata: Metadata,
    info: ModelInfo,
    label_tensor: TensorInfo,
    probabilities: TensorInfo,
    problems: list[str],
) -> Choice | None:
    """Case 2: both fields optional (checked when given); label.txt ignored; labels from the maps."""
    consistent = True
    for field, named, expected, role in (
        (CLASSIFICATION_PROB_OUTPUT, metadata.classification_prob_output, probabilities, "probabilities"),
        (CLASSIFICATION_LABEL_OUTPUT, metadata.classification_label_output, label_tensor, "labels"),
    ):
        if named is None or named == expected.name:
            continue
        consistent = False
        if named_output(info, named, field, problems) is not None:
            problems.append(
                f"{field} names {named!r}, but in a model whose outputs are a label tensor and a sequence "
                f"of probability maps (skl2onnx ZipMap) the {role} are {expected.name!r}"
            )
    return _map_labels(info, probabilities) if consistent else None


def _named_classification_outputs(
    metadata: Metadata, info: ModelInfo, labels: tuple[str, ...] | None, problems: list[str]
) -> Choice | None:
    """Case 3: classificationProbOutput required; labels from the label output, else label.txt."""
    prob_name, label_name = metadata.classification_prob_output, metadata.classification_label_output
    label_output = (
        None if label_name is None else named_output(info, label_name, CLASSIFICATION_LABEL_OUTPUT, problems)
    )
    if prob_name is None:
        problems.append(
            f"{CLASSIFICATION_PROB_OUTPUT} is required: the model has {len(info.outputs)} outputs "
            f"({names(info.outputs)}), so the one holding probabilities must be named"
        )
        return None
    probabilities = named_output(info, prob_name, CLASSIFICATION_PROB_OUTPUT, problems)
    if probabilities is None or (label_name is not None and label_output is None):
        return None
    if probabilities.kind is ValueKind.SEQUENCE_OF_MAPS:
        return _map_labels(info, probabilities)  # the maps carry the labels: nothing else is consulted
    if not is_float_matrix(probabilities, "the probability output", "nClasses", problems):
        return None
    if label_output is not None:
        return _label_output_choice(info, probabilities, label_output, problems)
    width = column_count(probabilities)
    if labels is None:
        problems.append(
            f"{CLASSIFICATION_LABEL_OUTPUT} is required when there is no {LABELS_NAME}: "
            f"the probability output {probabilities.name!r} carries no class labels"
        )
        return None
    if not label_count_matches(labels, f"{LABELS_NAME} has", probabilities, width, problems):
        return None
    return Choice(output=probabilities.name, width=width, label_source=LabelSource.STATIC, labels=labels)


def _label_output_choice(
    info: ModelInfo, probabilities: TensorInfo, label_output: TensorInfo, problems: list[str]
) -> Choice | None:
    """A named label output: the list of class names, or per-row predictions backed by graph labels.

    label.txt is ignored once a label output is named (spec 8.3 case 3).
    """
    name = label_output.name
    if label_output.kind is not ValueKind.TENSOR or label_output.element_type not in LABEL_TYPES:
        problems.append(
            f"the label output {name!r} must be a tensor of strings or int64, not {describe(label_output)}"
        )
        return None
    if label_output.shape is None:
        problems.append(f"the label output {name!r} has an unknown shape; it must hold nClasses labels")
        return None
    if _is_per_row(label_output.shape, probabilities.shape):
        return _graph_label_choice(info, probabilities, label_output, problems)
    width = column_count(probabilities)
    count = math.prod(label_output.shape) if min(label_output.shape, default=0) >= 0 else None
    if count is None or (width is not None and count != width):
        columns = "nClasses" if width is None else str(width)
        problems.append(
            f"the label output {name!r} has shape {describe_shape(label_output.shape)}; it must hold "
            f"{columns} labels, one per column of the probability output {probabilities.name!r}"
        )
        return None
    return Choice(output=probabilities.name, width=count, label_source=LabelSource.OUTPUT, label_output=name)


def _graph_label_choice(
    info: ModelInfo, probabilities: TensorInfo, label_output: TensorInfo, problems: list[str]
) -> Choice | None:
    """A label output of one predicted label per row: usable only through the graph's class list."""
    name = label_output.name
    graph_labels = info.class_labels.get(name)
    if graph_labels is None:
        problems.append(
            f"the label output {name!r} (shape {describe_shape(label_output.shape)}) holds one predicted "
            "label per row, not the list of class labels, and the graph has no class label list: "
            f"drop {CLASSIFICATION_LABEL_OUTPUT} and give {LABELS_NAME} "
            "(one label per probability column)"
        )
        return None
    width = column_count(probabilities)
    if not label_count_matches(graph_labels, "the classifier has", probabilities, width, problems):
        return None
    return Choice(
        output=probabilities.name,
        width=len(graph_labels),
        label_source=LabelSource.STATIC,
        labels=graph_labels,
    )


def _map_labels(info: ModelInfo, probabilities: TensorInfo) -> Choice:
    """Labels of a sequence-of-maps output: ZipMap's own list when the graph has it, else the map keys."""
    labels = info.class_labels.get(probabilities.name)
    if labels is None:
        return Choice(output=probabilities.name, label_source=LabelSource.MAP_KEYS)
    return Choice(
        output=probabilities.name, width=len(labels), label_source=LabelSource.STATIC, labels=labels
    )


def _is_per_row(shape: tuple[int, ...], prob_shape: tuple[int, ...] | None) -> bool:
    """``[batch]`` or ``[batch, 1]``: one predicted label per row rather than a list of class names."""
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        return False
    batch = prob_shape[0] if prob_shape else -1
    return shape[0] < 0 or (batch >= 0 and shape[0] == batch)
