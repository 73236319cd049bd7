"""The function rules of spec sections 8.2-8.7: metadata.json tied to the graph, the ScoringSpec decided.

Each function has one rule (classification's three cases live in ``classification``, the image
input's reconciliation in ``image_input``); a rule picks the output that carries the result and
where labels come from, or adds the problems that stop it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from omlsvc.core.signature import Function, LabelSource, ModelType, ScoringSpec, ValueKind
from omlsvc.repository.classification import classification
from omlsvc.repository.image_input import image_spec
from omlsvc.repository.inspect import FLOAT_TYPES, ModelInfo, describe_shape
from omlsvc.repository.layout import LABELS_NAME
from omlsvc.repository.limits import DEFAULT_MAX_IMAGE_TARGET_PIXELS
from omlsvc.repository.outputs import (
    Choice,
    column_count,
    describe,
    is_float_matrix,
    label_count_matches,
    named_output,
    names,
)
from omlsvc.repository.spec import (
    CLUSTERING_DISTANCE_OUTPUT,
    CLUSTERING_PROB_OUTPUT,
    REGRESSION_OUTPUT,
    ImageFields,
    Metadata,
)


def build_spec(
    metadata: Metadata,
    info: ModelInfo,
    labels: tuple[str, ...] | None,
    model_type: ModelType,
    problems: list[str],
    *,
    max_target_pixels: int = DEFAULT_MAX_IMAGE_TARGET_PIXELS,
    mean_shape: tuple[int, ...] | None = None,
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
        image = image_spec(
            metadata.image or ImageFields(), info.inputs, problems, max_target_pixels, mean_shape=mean_shape
        )
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


def _regression(
    metadata: Metadata, info: ModelInfo, labels: tuple[str, ...] | None, problems: list[str]
) -> Choice | None:
    """Spec 8.2: the only output, else the named one; a float/double ``[batch, 1]`` tensor."""
    name = metadata.regression_output
    if name is None:
        if len(info.outputs) != 1:
            problems.append(
                f"{REGRESSION_OUTPUT} is required: the model has {len(info.outputs)} outputs "
                f"({names(info.outputs)})"
            )
            return None
        name = info.outputs[0].name
    output = named_output(info, name, REGRESSION_OUTPUT, problems)
    if output is None or not is_float_matrix(output, "the regression output", "1", problems):
        return None
    if column_count(output) not in (None, 1):
        problems.append(
            f"the regression output {output.name!r} has shape {describe_shape(output.shape)}; "
            "it must be [batch, 1] (one number per row)"
        )
        return None
    return Choice(output=output.name)


def _clustering(
    metadata: Metadata, info: ModelInfo, labels: tuple[str, ...] | None, problems: list[str]
) -> Choice | None:
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
    output = named_output(info, name, field, problems)
    if output is None or not is_float_matrix(
        output, f"the clustering {measure} output", "nClusters", problems
    ):
        return None
    width = column_count(output)
    if labels is None:
        return Choice(
            output=output.name, width=width, label_source=LabelSource.INDEX, cluster_measure=measure
        )
    if not label_count_matches(labels, f"{LABELS_NAME} has", output, width, problems):
        return None
    return Choice(
        output=output.name,
        width=width,
        label_source=LabelSource.STATIC,
        labels=labels,
        cluster_measure=measure,
    )


def _feature_extraction(
    metadata: Metadata, info: ModelInfo, labels: tuple[str, ...] | None, problems: list[str]
) -> Choice | None:
    """Spec 8.5: the single output, or the only float/double tensor; ``[batch, ...]`` flattened per row."""
    outputs = info.outputs
    if len(outputs) == 1:
        output = outputs[0]
    else:
        floats = [o for o in outputs if o.kind is ValueKind.TENSOR and o.element_type in FLOAT_TYPES]
        if len(floats) != 1:
            problems.append(
                f"feature extraction returns the model's only output or its only float/double tensor output; "
                f"this model has {len(outputs)} outputs ({names(outputs)}), {len(floats)} of them "
                "float/double "
                "tensors (metadata.json has no field to choose one)"
            )
            return None
        output = floats[0]
    if output.kind is not ValueKind.TENSOR or output.element_type not in FLOAT_TYPES:
        problems.append(
            f"the feature output {output.name!r} must be a float or double tensor, not {describe(output)}"
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
    return Choice(output=output.name, width=width)


_FunctionRule = Callable[[Metadata, ModelInfo, tuple[str, ...] | None, list[str]], Choice | None]
_FUNCTION_RULES: dict[Function, _FunctionRule] = {
    Function.REGRESSION: _regression,
    Function.CLASSIFICATION: classification,
    Function.CLUSTERING: _clustering,
    Function.FEATURE_EXTRACTION: _feature_extraction,
}
