"""Validation of an uploaded model package: every rule, every problem, one answer.

The order follows ARCHITECTURE (Validation at store time): zip safety (``archive``), metadata.json
(``spec``), label.txt, the ONNX graph (``inspect``: checker, opset, input ranks, one CPU session),
and last the function rules of spec sections 8.2-8.7 that tie the metadata to the graph and decide
the :class:`ScoringSpec`. Each step goes as far as it can despite earlier problems, so that
:class:`InvalidModel` lists everything wrong with a package, not just the first thing.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from omlsvc.repository.archive import (
    DEFAULT_MAX_IMAGE_TARGET_PIXELS,
    LABELS_NAME,
    METADATA_NAME,
    ArchiveLimits,
    ModelPackage,
    external_data_locations,
    open_package,
    read_model_proto,
)
from omlsvc.repository.inspect import (
    FLOAT_TYPES,
    LABEL_TYPES,
    ModelInfo,
    describe_shape,
    external_data_problems,
    inspect_model,
)
from omlsvc.repository.spec import (
    CHANNEL,
    CLASSIFICATION_LABEL_OUTPUT,
    CLASSIFICATION_PROB_OUTPUT,
    CLUSTERING_DISTANCE_OUTPUT,
    CLUSTERING_PROB_OUTPUT,
    HEIGHT,
    INPUT_TENSOR_DIM_NAMES,
    MAX_IMAGE_SIDE,
    REGRESSION_OUTPUT,
    WIDTH,
    ImageFields,
    Metadata,
    parse_metadata_json,
    read_metadata,
)
from omlsvc.repository.trial import trial_run_problems

#: Element types an image tensor cannot be built in.
_NON_IMAGE_TYPES = frozenset({"STRING", "BOOL", "UNKNOWN"})
_KIND_NAMES = {
    ValueKind.TENSOR: "a tensor",
    ValueKind.SEQUENCE_OF_MAPS: "a sequence of maps",
    ValueKind.OTHER: "neither a tensor nor a sequence of maps",
}


@dataclass(frozen=True)
class ValidatedPackage:
    """A package that passed every rule: what the repository stores beside the zip itself.

    ``metadata`` is metadata.json as parsed; ``labels`` the lines of label.txt when present (whether
    or not they are the label source); ``onnx_name`` the model's file name inside the package.
    """

    spec: ScoringSpec
    metadata: dict[str, Any]
    labels: tuple[str, ...] | None
    onnx_name: str


def validate_package(
    zip_path: Path, model_type: ModelType, limits: ArchiveLimits, workdir: Path
) -> ValidatedPackage:
    """Check the package at ``zip_path`` against spec sections 7 and 8 and derive its ScoringSpec.

    The model and its external data are extracted into a private folder under ``workdir`` (removed
    afterwards) so that onnxruntime can load it from a path, and, when every rule passed, run it
    once on a dummy batch within ``limits.trial_run_s`` (``trial``). Raises :class:`InvalidModel`
    whose ``details`` list every problem found.
    """
    problems: list[str] = []
    workdir.mkdir(parents=True, exist_ok=True)
    model_dir = Path(tempfile.mkdtemp(prefix="validate-", dir=workdir))
    try:
        with open_package(zip_path, limits) as package:
            problems += package.problems
            document = _read_metadata_document(package, limits, problems)
            metadata = _read_metadata(document, model_type, problems)
            labels = _read_labels(package, limits, problems)
            info = _inspect(package, model_type, model_dir, problems)
        # An unreadable label.txt (over its limit, corrupt) already has its problem; the function rules
        # would only add a misleading "label.txt is required".
        unreadable_labels = labels is None and LABELS_NAME in package.files
        spec = None
        if metadata is not None and info is not None and not unreadable_labels:
            spec = build_spec(
                metadata, info, labels, model_type, problems, max_target_pixels=limits.max_image_target_pixels
            )
        if not problems and spec is not None and package.onnx_name is not None:
            problems += trial_run_problems(model_dir / package.onnx_name, spec, limits.trial_run_s)
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)
    if problems or spec is None or document is None or package.onnx_name is None:
        count = len(problems)
        raise InvalidModel(
            f"The model package is invalid: {count} problem{'' if count == 1 else 's'}", details=problems
        )
    return ValidatedPackage(spec=spec, metadata=document, labels=labels, onnx_name=package.onnx_name)


def parse_labels(data: bytes) -> tuple[tuple[str, ...], list[str]]:
    """label.txt's labels, one per line in column order (spec section 7), and what is wrong with them.

    UTF-8 is required (a byte order mark is tolerated); one trailing newline does not make an empty
    label; Windows line ends are accepted; any other empty line is a problem, since it would shift
    every later label to the wrong column. The labels are returned even when there are problems, so
    that the count can still be checked against the model.
    """
    problems = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(f"{LABELS_NAME} is not UTF-8 text (invalid byte at offset {exc.start})")
        text = data.decode("utf-8-sig", "replace")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    labels = tuple(line.removesuffix("\r") for line in lines)
    empty = [str(number) for number, label in enumerate(labels, start=1) if not label.strip()]
    if not labels:
        problems.append(f"{LABELS_NAME} is empty")
    elif empty:
        problems.append(f"{LABELS_NAME} has empty lines ({', '.join(empty)}): each line must name one class")
    return labels, problems


def build_spec(
    metadata: Metadata,
    info: ModelInfo,
    labels: tuple[str, ...] | None,
    model_type: ModelType,
    problems: list[str],
    *,
    max_target_pixels: int = DEFAULT_MAX_IMAGE_TARGET_PIXELS,
) -> ScoringSpec | None:
    """Apply the function rules of spec 8.2-8.7 to a graph; None (with problems added) if they fail.

    A graph without outputs (already reported by ``inspect_model``) gets no further rules. An image
    model's input size (height x width, from metadata.json or the graph) is at most
    ``max_target_pixels``.
    """
    if not info.outputs:
        return None
    choice = _FUNCTION_RULES[metadata.function](metadata, info, labels, problems)
    image = None
    if model_type is ModelType.ONNX_IMG:
        image = _image_spec(metadata.image or ImageFields(), info.inputs, problems, max_target_pixels)
        if image is None:
            return None
    if choice is None:
        return None
    return ScoringSpec(
        model_type=model_type,
        function=metadata.function,
        inputs=info.inputs,
        outputs=info.outputs,
        output=choice.output,
        label_source=choice.label_source,
        label_output=choice.label_output,
        labels=choice.labels,
        cluster_measure=choice.cluster_measure,
        image=image,
        width=choice.width,
        opset=info.opset,
    )


@dataclass(frozen=True)
class _Choice:
    """The outcome of one function's rules: which output carries the result and where labels come from."""

    output: str
    width: int | None = None
    label_source: LabelSource | None = None
    label_output: str | None = None
    labels: tuple[str, ...] | None = None
    cluster_measure: str | None = None


# --- reading the package -------------------------------------------------------------------------


def _read_metadata_document(
    package: ModelPackage, limits: ArchiveLimits, problems: list[str]
) -> dict[str, Any] | None:
    if METADATA_NAME not in package.files:
        return None  # the archive scan reported it
    try:
        data = package.read(METADATA_NAME, limits.max_metadata_bytes)
    except InvalidModel as exc:
        problems += exc.details
        return None
    document, found = parse_metadata_json(data)
    problems += found
    return document


def _read_metadata(
    document: dict[str, Any] | None, model_type: ModelType, problems: list[str]
) -> Metadata | None:
    if document is None:
        return None
    metadata, found = read_metadata(document, model_type)
    problems += found
    return metadata


def _read_labels(package: ModelPackage, limits: ArchiveLimits, problems: list[str]) -> tuple[str, ...] | None:
    if LABELS_NAME not in package.files:
        return None
    try:
        data = package.read(LABELS_NAME, limits.max_label_bytes)
    except InvalidModel as exc:
        problems += exc.details
        return None
    labels, found = parse_labels(data)
    problems += found
    if len(labels) > limits.max_labels:
        problems.append(
            f"{LABELS_NAME} has {len(labels)} lines; at most {limits.max_labels} labels are allowed "
            "(OMLSVC_MAX_LABELS)"
        )
        return None
    return labels


def _inspect(
    package: ModelPackage, model_type: ModelType, model_dir: Path, problems: list[str]
) -> ModelInfo | None:
    """Extract the model (and its external data, once proven safe) into the private ``model_dir``
    and inspect it there; the caller removes the folder."""
    if package.onnx_name is None:
        return None  # the archive scan reported why
    try:
        onnx_path = model_dir / package.onnx_name
        package.extract([package.onnx_name], model_dir)
        model = read_model_proto(onnx_path)
        unsafe = external_data_problems(model, package.files)
        if unsafe:
            problems += unsafe
            return None
        package.extract(external_data_locations(model), model_dir)
        info, found = inspect_model(onnx_path, model, model_type)
        problems += found
        return info
    except InvalidModel as exc:
        problems += exc.details
        return None


# --- function rules ------------------------------------------------------------------------------


def _regression(
    metadata: Metadata, info: ModelInfo, labels: tuple[str, ...] | None, problems: list[str]
) -> _Choice | None:
    """Spec 8.2: the only output, else the named one; a float/double ``[batch, 1]`` tensor."""
    name = metadata.regression_output
    if name is None:
        if len(info.outputs) != 1:
            problems.append(
                f"{REGRESSION_OUTPUT} is required: the model has {len(info.outputs)} outputs "
                f"({_names(info.outputs)})"
            )
            return None
        name = info.outputs[0].name
    output = _named_output(info, name, REGRESSION_OUTPUT, problems)
    if output is None or not _is_float_matrix(output, "the regression output", "1", problems):
        return None
    if _columns(output) not in (None, 1):
        problems.append(
            f"the regression output {output.name!r} has shape {describe_shape(output.shape)}; "
            "it must be [batch, 1] (one number per row)"
        )
        return None
    return _Choice(output=output.name)


def _classification(
    metadata: Metadata, info: ModelInfo, labels: tuple[str, ...] | None, problems: list[str]
) -> _Choice | None:
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
) -> _Choice | None:
    """Case 1: one probability tensor; label.txt names its columns; classificationLabelOutput ignored."""
    (output,) = info.outputs
    named = metadata.classification_prob_output
    if named is not None and _named_output(info, named, CLASSIFICATION_PROB_OUTPUT, problems) is None:
        return None
    if not _is_float_matrix(output, "the probability output", "nClasses", problems):
        return None
    width = _columns(output)
    if labels is None:
        problems.append(
            f"{LABELS_NAME} is required: the model's only output {output.name!r} holds probabilities "
            "but no class labels"
        )
        return None
    if not _label_count_matches(labels, f"{LABELS_NAME} has", output, width, problems):
        return None
    return _Choice(output=output.name, width=width, label_source=LabelSource.STATIC, labels=labels)


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
) -> _Choice | None:
    """Case 2: both fields optional (checked when given); label.txt ignored; labels from the maps."""
    consistent = True
    for field, named, expected, role in (
        (CLASSIFICATION_PROB_OUTPUT, metadata.classification_prob_output, probabilities, "probabilities"),
        (CLASSIFICATION_LABEL_OUTPUT, metadata.classification_label_output, label_tensor, "labels"),
    ):
        if named is None or named == expected.name:
            continue
        consistent = False
        if _named_output(info, named, field, problems) is not None:
            problems.append(
                f"{field} names {named!r}, but in a model whose outputs are a label tensor and a sequence "
                f"of probability maps (skl2onnx ZipMap) the {role} are {expected.name!r}"
            )
    return _map_labels(info, probabilities) if consistent else None


def _named_classification_outputs(
    metadata: Metadata, info: ModelInfo, labels: tuple[str, ...] | None, problems: list[str]
) -> _Choice | None:
    """Case 3: classificationProbOutput required; labels from the label output, else label.txt."""
    prob_name, label_name = metadata.classification_prob_output, metadata.classification_label_output
    label_output = (
        None if label_name is None else _named_output(info, label_name, CLASSIFICATION_LABEL_OUTPUT, problems)
    )
    if prob_name is None:
        problems.append(
            f"{CLASSIFICATION_PROB_OUTPUT} is required: the model has {len(info.outputs)} outputs "
            f"({_names(info.outputs)}), so the one holding probabilities must be named"
        )
        return None
    probabilities = _named_output(info, prob_name, CLASSIFICATION_PROB_OUTPUT, problems)
    if probabilities is None or (label_name is not None and label_output is None):
        return None
    if probabilities.kind is ValueKind.SEQUENCE_OF_MAPS:
        return _map_labels(info, probabilities)  # the maps carry the labels: nothing else is consulted
    if not _is_float_matrix(probabilities, "the probability output", "nClasses", problems):
        return None
    if label_output is not None:
        return _label_output_choice(info, probabilities, label_output, problems)
    width = _columns(probabilities)
    if labels is None:
        problems.append(
            f"{CLASSIFICATION_LABEL_OUTPUT} is required when there is no {LABELS_NAME}: "
            f"the probability output {probabilities.name!r} carries no class labels"
        )
        return None
    if not _label_count_matches(labels, f"{LABELS_NAME} has", probabilities, width, problems):
        return None
    return _Choice(output=probabilities.name, width=width, label_source=LabelSource.STATIC, labels=labels)


def _label_output_choice(
    info: ModelInfo, probabilities: TensorInfo, label_output: TensorInfo, problems: list[str]
) -> _Choice | None:
    """A named label output: the list of class names, or per-row predictions backed by graph labels.

    label.txt is ignored once a label output is named (spec 8.3 case 3).
    """
    name = label_output.name
    width = _columns(probabilities)
    if label_output.kind is not ValueKind.TENSOR or label_output.element_type not in LABEL_TYPES:
        problems.append(
            f"the label output {name!r} must be a tensor of strings or int64, not {_describe(label_output)}"
        )
        return None
    if label_output.shape is None:
        problems.append(f"the label output {name!r} has an unknown shape; it must hold nClasses labels")
        return None
    if _is_per_row(label_output.shape, probabilities.shape):
        graph_labels = info.class_labels.get(name)
        if graph_labels is None:
            problems.append(
                f"the label output {name!r} (shape {describe_shape(label_output.shape)}) holds one predicted "
                "label per row, not the list of class labels, and the graph has no class label list: "
                f"drop {CLASSIFICATION_LABEL_OUTPUT} and give {LABELS_NAME} "
                "(one label per probability column)"
            )
            return None
        if not _label_count_matches(graph_labels, "the classifier has", probabilities, width, problems):
            return None
        return _Choice(
            output=probabilities.name,
            width=len(graph_labels),
            label_source=LabelSource.STATIC,
            labels=graph_labels,
        )
    count = math.prod(label_output.shape) if min(label_output.shape, default=0) >= 0 else None
    if count is None or (width is not None and count != width):
        columns = "nClasses" if width is None else str(width)
        problems.append(
            f"the label output {name!r} has shape {describe_shape(label_output.shape)}; it must hold "
            f"{columns} labels, one per column of the probability output {probabilities.name!r}"
        )
        return None
    return _Choice(output=probabilities.name, width=count, label_source=LabelSource.OUTPUT, label_output=name)


def _map_labels(info: ModelInfo, probabilities: TensorInfo) -> _Choice:
    """Labels of a sequence-of-maps output: ZipMap's own list when the graph has it, else the map keys."""
    labels = info.class_labels.get(probabilities.name)
    if labels is None:
        return _Choice(output=probabilities.name, label_source=LabelSource.MAP_KEYS)
    return _Choice(
        output=probabilities.name, width=len(labels), label_source=LabelSource.STATIC, labels=labels
    )


def _clustering(
    metadata: Metadata, info: ModelInfo, labels: tuple[str, ...] | None, problems: list[str]
) -> _Choice | None:
    """Spec 8.4: the named float/double ``[batch, nClusters]`` tensor; ids from label.txt, else the index."""
    distance, probability = metadata.clustering_distance_output, metadata.clustering_prob_output
    if (distance is None) == (probability is None):
        return None  # read_metadata reported that exactly one is required
    field, name, measure = (
        (CLUSTERING_DISTANCE_OUTPUT, distance, "distance")
        if distance is not None
        else (CLUSTERING_PROB_OUTPUT, probability, "probability")
    )
    assert name is not None
    output = _named_output(info, name, field, problems)
    if output is None or not _is_float_matrix(
        output, f"the clustering {measure} output", "nClusters", problems
    ):
        return None
    width = _columns(output)
    if labels is None:
        return _Choice(
            output=output.name, width=width, label_source=LabelSource.INDEX, cluster_measure=measure
        )
    if not _label_count_matches(labels, f"{LABELS_NAME} has", output, width, problems):
        return None
    return _Choice(
        output=output.name,
        width=width,
        label_source=LabelSource.STATIC,
        labels=labels,
        cluster_measure=measure,
    )


def _feature_extraction(
    metadata: Metadata, info: ModelInfo, labels: tuple[str, ...] | None, problems: list[str]
) -> _Choice | None:
    """Spec 8.5: the single output, or the only float/double tensor; ``[batch, ...]`` flattened per row."""
    outputs = info.outputs
    if len(outputs) == 1:
        output = outputs[0]
    else:
        floats = [o for o in outputs if o.kind is ValueKind.TENSOR and o.element_type in FLOAT_TYPES]
        if len(floats) != 1:
            problems.append(
                f"feature extraction returns the model's only output or its only float/double tensor output; "
                f"this model has {len(outputs)} outputs ({_names(outputs)}), {len(floats)} of them "
                "float/double "
                "tensors (metadata.json has no field to choose one)"
            )
            return None
        output = floats[0]
    if output.kind is not ValueKind.TENSOR or output.element_type not in FLOAT_TYPES:
        problems.append(
            f"the feature output {output.name!r} must be a float or double tensor, not {_describe(output)}"
        )
        return None
    if output.shape is None or len(output.shape) < 2:
        problems.append(
            f"the feature output {output.name!r} has shape {describe_shape(output.shape)}; "
            "it must be [batch, nFeatures] (higher ranks are flattened per row)"
        )
        return None
    features = output.shape[1:]
    width = math.prod(features) if min(features) >= 0 else None
    return _Choice(output=output.name, width=width)


_FunctionRule = Callable[[Metadata, ModelInfo, tuple[str, ...] | None, list[str]], _Choice | None]
_FUNCTION_RULES: dict[Function, _FunctionRule] = {
    Function.REGRESSION: _regression,
    Function.CLASSIFICATION: _classification,
    Function.CLUSTERING: _clustering,
    Function.FEATURE_EXTRACTION: _feature_extraction,
}


# --- image input ---------------------------------------------------------------------------------


def _image_spec(
    fields: ImageFields, inputs: Sequence[TensorInfo], problems: list[str], max_target_pixels: int
) -> ImageSpec | None:
    """Spec 8.7: the metadata's image fields reconciled with the model's 4-D input.

    height and width come from the input's fixed dims when not given, and given values must agree
    with fixed dims; a fixed channel axis must match ``channel``. Axes are located through
    ``inputTensorDimNames``, so an NHWC model described as NCHW shows up here. Wherever they come
    from, each side is at most ``MAX_IMAGE_SIDE`` and their product at most ``max_target_pixels``.
    """
    if len(inputs) != 1 or inputs[0].shape is None or len(inputs[0].shape) != 4:
        return None  # input_problems reported the rank rule
    image = inputs[0]
    assert image.shape is not None
    if image.element_type in _NON_IMAGE_TYPES:
        problems.append(f"the image input {image.name!r} must hold numbers, not {image.element_type}")
        return None
    axes = {name: index for index, name in enumerate(fields.dim_names)}
    layout = f"{INPUT_TENSOR_DIM_NAMES} {list(fields.dim_names)}"
    found: list[str] = []
    height = _image_side(HEIGHT, fields.height, image, axes[HEIGHT], layout, found)
    width = _image_side(WIDTH, fields.width, image, axes[WIDTH], layout, found)
    fixed_channels = image.shape[axes[CHANNEL]]
    if fixed_channels > 0 and fixed_channels != fields.channel:
        found.append(
            f"channel is {fields.channel} but the image input {image.name!r} (shape "
            f"{describe_shape(image.shape)}) has {fixed_channels} on its channel axis {axes[CHANNEL]} per "
            f"{layout}: set channel, or {INPUT_TENSOR_DIM_NAMES} if the layout is not NCHW"
        )
    if height is not None and width is not None and height * width > max_target_pixels:
        found.append(
            f"the image input size {width}x{height} ({width * height} pixels, from {layout} and the input "
            f"shape {describe_shape(image.shape)}) is over the limit of {max_target_pixels} pixels "
            "(OMLSVC_MAX_IMAGE_TARGET_PIXELS): every image would be resized to it"
        )
    problems += found
    if found or height is None or width is None:
        return None
    return ImageSpec(
        input_name=image.name,
        height=height,
        width=width,
        channel=fields.channel,
        mean=fields.mean,
        scale=fields.scale,
        input_channel=fields.input_channel,
        dim_names=fields.dim_names,
        element_type=image.element_type,
    )


def _image_side(
    name: str, given: int | None, image: TensorInfo, axis: int, layout: str, problems: list[str]
) -> int | None:
    assert image.shape is not None
    fixed = image.shape[axis]
    if fixed > MAX_IMAGE_SIDE:
        problems.append(
            f"the image input {image.name!r} (shape {describe_shape(image.shape)}) fixes {name} to {fixed} "
            f"on axis {axis} per {layout}; at most {MAX_IMAGE_SIDE} pixels are allowed"
        )
        return None
    if fixed > 0:
        if given is not None and given != fixed:
            problems.append(
                f"{name} is {given} but the image input {image.name!r} (shape {describe_shape(image.shape)}) "
                f"fixes it to {fixed} on axis {axis} per {layout}"
            )
            return None
        return fixed
    if given is None:
        problems.append(
            f"{name} is required: the image input {image.name!r} (shape {describe_shape(image.shape)}) "
            f"does not fix it on axis {axis} per {layout}"
        )
    return given


# --- helpers -------------------------------------------------------------------------------------


def _named_output(info: ModelInfo, name: str, field: str, problems: list[str]) -> TensorInfo | None:
    """The output called exactly ``name`` (names are case-sensitive), or None with a problem added."""
    for output in info.outputs:
        if output.name == name:
            return output
    near = [output.name for output in info.outputs if output.name.casefold() == name.casefold()]
    hint = f" (did you mean {near[0]!r}? output names are case-sensitive)" if near else ""
    problems.append(
        f"{field} names {name!r}, which is not an output of the model{hint}; "
        f"its outputs are {_names(info.outputs)}"
    )
    return None


def _is_float_matrix(output: TensorInfo, role: str, columns: str, problems: list[str]) -> bool:
    """Whether ``output`` is a float/double tensor ``[batch, columns]``; adds the reason when not."""
    if output.kind is not ValueKind.TENSOR or output.element_type not in FLOAT_TYPES:
        problems.append(f"{role} {output.name!r} must be a float or double tensor, not {_describe(output)}")
        return False
    if output.shape is None or len(output.shape) != 2:
        problems.append(
            f"{role} {output.name!r} has shape {describe_shape(output.shape)}; it must be [batch, {columns}]"
        )
        return False
    return True


def _label_count_matches(
    labels: Sequence[str], source: str, output: TensorInfo, width: int | None, problems: list[str]
) -> bool:
    if width is None or len(labels) == width:
        return True
    problems.append(f"{source} {len(labels)} labels but the output {output.name!r} has {width} columns")
    return False


def _is_per_row(shape: tuple[int, ...], prob_shape: tuple[int, ...] | None) -> bool:
    """``[batch]`` or ``[batch, 1]``: one predicted label per row rather than a list of class names."""
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        return False
    batch = prob_shape[0] if prob_shape else -1
    return shape[0] < 0 or (batch >= 0 and shape[0] == batch)


def _columns(output: TensorInfo) -> int | None:
    """The fixed second dimension of a ``[batch, n]`` tensor, or None when it is dynamic."""
    if output.shape is None or len(output.shape) < 2 or output.shape[1] < 0:
        return None
    return output.shape[1]


def _describe(value: TensorInfo) -> str:
    if value.kind is ValueKind.TENSOR:
        return f"a {value.element_type} tensor"
    return _KIND_NAMES[value.kind]


def _names(outputs: Sequence[TensorInfo]) -> str:
    return ", ".join(repr(output.name) for output in outputs)
