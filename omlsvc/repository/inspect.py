"""The ONNX side of package validation: is the graph sound and loadable here, and what is its signature.

Everything here works on a model already extracted to a private folder (see ``archive``), because
onnxruntime only finds external data when loading from a path. The graph's inputs and outputs are
described as :class:`TensorInfo` values, the vocabulary of ``ScoringSpec``; the function-specific
rules (which output is which) live in ``validation``. Each check returns problem strings instead of
raising, so that every problem of a package reaches the client in one response.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import onnx
import onnx.defs
import onnxruntime
from onnxruntime.capi import onnxruntime_pybind11_state

from omlsvc.core.ortmessages import ALLOCATION_FAILURE, onnxruntime_message
from omlsvc.core.signature import ELEMENT_TYPES, ModelType, TensorInfo, ValueKind
from omlsvc.repository.external_data import external_data_locations
from omlsvc.repository.zipsafety import unsafe_name_reason

ONNX_DOMAIN = ""
ONNX_ML_DOMAIN = "ai.onnx.ml"
#: Element types a label tensor may have (spec section 8.3, mirroring Oracle's in-database rule).
LABEL_TYPES = frozenset({"STRING", "INT64"})
#: Element types of probability, distance, regression and feature outputs.
FLOAT_TYPES = frozenset({"FLOAT", "DOUBLE"})

#: Ops that forward their first input's values unchanged (as far as class labels go).
_PASS_THROUGH_OPS = frozenset({"Identity", "Cast", "CastLike", "Reshape", "Squeeze", "Unsqueeze", "Flatten"})
_STRING_LABELS = "classlabels_strings"
_INT_LABELS = frozenset({"classlabels_ints", "classlabels_int64s"})
_MAX_MESSAGE = 600


@dataclass(frozen=True)
class ModelInfo:
    """What validation needs to know about a parsed graph.

    ``opset`` is the default-domain (``ai.onnx``) opset version. ``class_labels`` maps an output name
    to the class labels the graph itself holds for it (ZipMap or an ai.onnx.ml classifier's
    ``classlabels_*``; integer labels rendered as strings), for outputs that have them.
    """

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    opset: int | None
    class_labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def inspect_model(
    onnx_path: Path, model: onnx.ModelProto, model_type: ModelType
) -> tuple[ModelInfo, list[str]]:
    """Check the extracted model at ``onnx_path`` (``model`` is its graph, parsed once by the caller).

    Runs the ONNX checker, compares opsets with the installed onnxruntime, applies the input rank
    rules of spec section 8.6 and finally creates a CPU session once to prove that the model loads.
    The session is skipped when the checker or opset check already failed (it would only repeat
    them less clearly). External data must already be extracted beside the model.
    """
    problems = _checker_problems(onnx_path) + _opset_problems(model)
    if not problems:
        problems += _session_problems(onnx_path)
    inputs, outputs = signature(model)
    problems += input_problems(inputs, model_type)
    if not outputs:
        problems.append("the model has no outputs")
    info = ModelInfo(
        inputs=inputs,
        outputs=outputs,
        opset=default_opset(model),
        class_labels=_class_labels(model.graph, outputs),
    )
    return info, problems


def external_data_problems(model: onnx.ModelProto, available: Collection[str]) -> list[str]:
    """Every external-data location must be a plain relative name of a file in the package.

    Checked before anything is extracted or loaded: onnxruntime would otherwise open whatever path
    the graph names.
    """
    problems = []
    for location in external_data_locations(model):
        reason = unsafe_name_reason(location)
        if reason is not None:
            problems.append(f"external data location {location!r} {reason}")
        elif location not in available:
            problems.append(f"external data file {location!r} is not in the archive")
    return problems


def signature(model: onnx.ModelProto) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...]]:
    """The graph's (inputs, outputs); initializers listed as inputs (IR < 4) are not inputs."""
    initializers = {tensor.name for tensor in model.graph.initializer}
    inputs = tuple(_value_info(value) for value in model.graph.input if value.name not in initializers)
    outputs = tuple(_value_info(value) for value in model.graph.output)
    return inputs, outputs


def input_problems(inputs: Iterable[TensorInfo], model_type: ModelType) -> list[str]:
    """Spec 8.6: every ONNX input is ``[batch, n]``; an ONNX_IMG model has one 4-D image input."""
    inputs = tuple(inputs)
    if not inputs:
        return ["the model has no inputs"]
    problems = []
    if model_type is ModelType.ONNX_IMG and len(inputs) != 1:
        names = ", ".join(repr(t.name) for t in inputs)
        problems.append(f"an ONNX_IMG model must have exactly one input (the image); this one has {names}")
    rank = 4 if model_type is ModelType.ONNX_IMG else 2
    layout = "a 4-D image tensor" if rank == 4 else "[batch, features]"
    for tensor in inputs:
        if tensor.kind is not ValueKind.TENSOR:
            problems.append(
                f"input {tensor.name!r} is not a tensor; {model_type.value} inputs must be {layout}"
            )
        elif tensor.element_type == "UNKNOWN":
            problems.append(f"input {tensor.name!r} has an element type that cannot be fed from JSON")
        elif tensor.shape is None or len(tensor.shape) != rank:
            problems.append(
                f"input {tensor.name!r} has shape {describe_shape(tensor.shape)}; "
                f"{model_type.value} inputs must have rank {rank} ({layout})"
            )
    return problems


def default_opset(model: onnx.ModelProto) -> int | None:
    versions = [entry.version for entry in model.opset_import if _domain(entry.domain) == ONNX_DOMAIN]
    return max(versions) if versions else None


@functools.cache
def supported_opsets() -> Mapping[str, int]:
    """Highest opset per domain for which the installed onnxruntime knows operators.

    Read from onnxruntime's own schema registry where the build exposes it, else from the onnx
    package. It can be one above what onnxruntime officially supports (an opset under development);
    session creation then reports that precisely.
    """
    schemas = getattr(onnxruntime_pybind11_state, "get_all_operator_schema", None)
    if schemas is None:
        return {
            ONNX_DOMAIN: onnx.defs.onnx_opset_version(),
            ONNX_ML_DOMAIN: onnx.defs.onnx_ml_opset_version(),
        }
    versions: dict[str, int] = {}
    for schema in schemas():
        domain = _domain(schema.domain)
        versions[domain] = max(versions.get(domain, 0), schema.since_version)
    return versions


def describe_shape(shape: tuple[int, ...] | None) -> str:
    """``[?, 4]`` for messages: ``?`` is a dynamic dimension."""
    if shape is None:
        return "unknown"
    return "[" + ", ".join("?" if dim < 0 else str(dim) for dim in shape) + "]"


def _checker_problems(onnx_path: Path) -> list[str]:
    try:
        # From the path, so that the checker sees external data and models over 2 GB.
        onnx.checker.check_model(str(onnx_path))
    except Exception as exc:  # ValidationError, or anything the C++ checker throws
        return [f"the ONNX checker rejects the model: {_short(str(exc))}"]
    return []


def _opset_problems(model: onnx.ModelProto) -> list[str]:
    supported = supported_opsets()
    problems = []
    for entry in model.opset_import:
        domain = _domain(entry.domain)
        if domain in (ONNX_DOMAIN, ONNX_ML_DOMAIN) and entry.version > supported.get(domain, 0):
            problems.append(
                f"the model uses opset {entry.version} of {domain or 'ai.onnx'}, newer than onnxruntime "
                f"{onnxruntime.__version__} supports (up to {supported.get(domain, 0)})"
            )
    return problems


def _session_problems(onnx_path: Path) -> list[str]:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        onnxruntime.InferenceSession(str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])
    except MemoryError:
        return [memory_problem("loading the model")]
    except Exception as exc:  # onnxruntime's pybind errors (Fail, InvalidGraph, ...) share no useful base
        if ALLOCATION_FAILURE.search(str(exc)):  # constant folding computes constant subgraphs at load
            return [memory_problem("loading the model")]
        return [f"onnxruntime cannot load the model: {onnxruntime_message(str(exc))}"]
    return []


def memory_problem(what: str) -> str:
    """The problem of a model that needs more memory than validation allows to load or run once."""
    return (
        f"{what} needs more memory than validation allows (OMLSVC_VALIDATION_MEMORY): the graph "
        "allocates a very large tensor (ConstantOfShape, Expand, Tile...)"
    )


def _value_info(value: onnx.ValueInfoProto) -> TensorInfo:
    kind = value.type.WhichOneof("value")
    if kind == "tensor_type":
        tensor = value.type.tensor_type
        shape = tuple(_dim(dim) for dim in tensor.shape.dim) if tensor.HasField("shape") else None
        return TensorInfo(value.name, ValueKind.TENSOR, _element_type(tensor.elem_type), shape)
    if kind == "sequence_type" and value.type.sequence_type.elem_type.WhichOneof("value") == "map_type":
        mapping = value.type.sequence_type.elem_type.map_type
        key_type = _element_type(mapping.key_type)
        values = mapping.value_type
        value_type = _element_type(values.tensor_type.elem_type) if values.HasField("tensor_type") else ""
        if key_type in LABEL_TYPES and value_type in FLOAT_TYPES:
            return TensorInfo(value.name, ValueKind.SEQUENCE_OF_MAPS, value_type, None, key_type=key_type)
    return TensorInfo(value.name, ValueKind.OTHER, "UNKNOWN", None)


def _dim(dim: onnx.TensorShapeProto.Dimension) -> int:
    return dim.dim_value if dim.HasField("dim_value") else -1


def _element_type(code: int) -> str:
    try:
        name = onnx.TensorProto.DataType.Name(code)
    except ValueError:
        return "UNKNOWN"
    return name if name in ELEMENT_TYPES else "UNKNOWN"


def _class_labels(graph: onnx.GraphProto, outputs: Iterable[TensorInfo]) -> dict[str, tuple[str, ...]]:
    """Class labels per output: traced back to a labelled node, else the graph's only label list.

    The trace follows pass-through ops (Identity, Cast, Reshape...) from the output to a ZipMap or
    ai.onnx.ml classifier. The fallback covers graphs that route labels through other ops; it is used
    only when every labelled node agrees, so it never guesses between two lists.
    """
    producers = {name: node for node in graph.node for name in node.output if name}
    distinct = {labels for node in graph.node if (labels := _node_labels(node)) is not None}
    fallback = next(iter(distinct)) if len(distinct) == 1 else None
    found = {}
    for output in outputs:
        labels = _traced_labels(output.name, producers) or fallback
        if labels:
            found[output.name] = labels
    return found


def _traced_labels(name: str, producers: Mapping[str, onnx.NodeProto]) -> tuple[str, ...] | None:
    visited = set()
    while name in producers and name not in visited:
        visited.add(name)
        node = producers[name]
        labels = _node_labels(node)
        if labels is not None:
            return labels
        if node.op_type not in _PASS_THROUGH_OPS or _domain(node.domain) != ONNX_DOMAIN or not node.input:
            return None
        name = node.input[0]
    return None


def _node_labels(node: onnx.NodeProto) -> tuple[str, ...] | None:
    if node.domain != ONNX_ML_DOMAIN:
        return None
    for attribute in node.attribute:
        if attribute.name == _STRING_LABELS and attribute.strings:
            return tuple(label.decode("utf-8", "replace") for label in attribute.strings)
        if attribute.name in _INT_LABELS and attribute.ints:
            return tuple(str(label) for label in attribute.ints)
    return None


def _domain(domain: str) -> str:
    return ONNX_DOMAIN if domain in ("", "ai.onnx") else domain


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."
