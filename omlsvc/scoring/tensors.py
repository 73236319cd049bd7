"""Any value of a graph by name: what a model's tensors are, and the graph that returns some of them.

OML's score answer has four fixed shapes; clients that reuse a network (its probabilities and its
pool5 features in one call, a classifier cut into a feature extractor) ask for values by name. A
value in the middle of a graph is not an output onnxruntime returns, so it is *added* as a graph
output: the model is read once with onnx (external data left where it is), the names are appended to
``graph.output``, and the result is written beside the original ``.onnx`` so that onnxruntime resolves
external-data files exactly as for the original. The session built from it is cached like any other
(:class:`omlsvc.scoring.sessions.SessionCache`, keyed by the model and the set of names), so the
rewrite is paid once per worker per set of names, never per request.

:func:`describe_tensors` lists the values a client may ask for, with the element types and shapes
``onnx.shape_inference`` knows: graph inputs (listed, never returned), every value a node computes,
and the graph outputs.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, shape_inference

from omlsvc.core.errors import InvalidInput, ResponseTooLarge
from omlsvc.core.limits import MAX_OUTPUT_TENSORS, MAX_TENSOR_NAME
from omlsvc.core.signature import Function, ScoringSpec

logger = logging.getLogger(__name__)

#: A model this large (bytes of ``.onnx``) is listed without shape inference (it would hold a second
#: copy of its weights in memory only to learn shapes).
MAX_INFERENCE_BYTES = 1 << 30

#: kinds of a listed tensor
INPUT, INTERMEDIATE, OUTPUT = "input", "intermediate", "output"


@dataclass(frozen=True)
class TensorDescription:
    """One named value of a graph: ``kind`` is input, intermediate or output; ``shape`` has ``-1`` for
    a dimension shape inference does not know and is None when even the rank is unknown;
    ``element_type`` is the ONNX name (``FLOAT``) or ``UNKNOWN``; ``producer`` the operator type of
    the node that computes it (None for a graph input)."""

    name: str
    kind: str
    element_type: str
    shape: tuple[int, ...] | None
    producer: str | None = None

    @property
    def returnable(self) -> bool:
        """Whether a score may return it: computed by the graph and a tensor (not a sequence or map)."""
        return self.kind != INPUT and self.element_type != "UNKNOWN"

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "datatype": self.element_type,
            "shape": None if self.shape is None else list(self.shape),
            "operator": self.producer,
        }


@dataclass(frozen=True)
class GraphTensors:
    """The tensors of one model graph, in graph order (inputs, then node outputs, outputs last)."""

    tensors: tuple[TensorDescription, ...]

    def find(self, name: str) -> TensorDescription | None:
        return next((t for t in self.tensors if t.name == name), None)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tensors if t.kind == OUTPUT)

    def check(self, names: Sequence[str], field: str) -> list[str]:
        """Every problem with ``names`` as values to return, each naming ``field``."""
        problems = []
        for name in names:
            found = self.find(name)
            if found is None:
                problems.append(
                    f"{field}: the model has no tensor named {name!r} (GET .../tensors lists them)"
                )
            elif found.kind == INPUT:
                problems.append(
                    f"{field}: {name!r} is a graph input, not a value the graph computes; name a node's output"
                )
            elif found.element_type == "UNKNOWN":
                problems.append(
                    f"{field}: {name!r} is not a tensor of numbers, strings or booleans (a sequence or map "
                    "cannot be returned)"
                )
        return problems


def parse_tensor_names(value: object, field: str = "outputTensors") -> tuple[str, ...]:
    """A request's list of tensor names: 1 to :data:`MAX_OUTPUT_TENSORS` distinct non-empty strings."""
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and 0 < len(item) <= MAX_TENSOR_NAME for item in value)
    ):
        raise InvalidInput(
            f"{field} must be a list of 1 to {MAX_OUTPUT_TENSORS} tensor names (strings of 1 to "
            f"{MAX_TENSOR_NAME} characters)."
        )
    if len(value) > MAX_OUTPUT_TENSORS:
        raise InvalidInput(f"{field} names {len(value)} tensors; at most {MAX_OUTPUT_TENSORS} are allowed.")
    if len(set(value)) != len(value):
        raise InvalidInput(f"{field} names a tensor twice.")
    return tuple(value)


def describe_tensors(onnx_path: Path) -> GraphTensors:
    """List the tensors of the model at ``onnx_path`` (its external data is not read)."""
    model = onnx.load(str(onnx_path), load_external_data=False)
    if onnx_path.stat().st_size <= MAX_INFERENCE_BYTES:
        try:
            model = shape_inference.infer_shapes(model)
        except Exception as exc:  # a graph onnx cannot infer is still listed, with the types it declares
            logger.info("shape inference failed on %s: %s", onnx_path.name, exc)
    graph = model.graph
    known = {v.name: v for v in [*graph.value_info, *graph.input, *graph.output]}
    initializers = {t.name for t in graph.initializer}
    tensors: list[TensorDescription] = []
    seen: set[str] = set()
    for value in graph.input:
        if value.name not in initializers and value.name not in seen:
            seen.add(value.name)
            tensors.append(_description(value.name, INPUT, known.get(value.name), None))
    outputs = {v.name for v in graph.output}
    for node in graph.node:
        for name in node.output:
            if name and name not in seen and name not in outputs:
                seen.add(name)
                tensors.append(_description(name, INTERMEDIATE, known.get(name), node.op_type))
    producers = {name: node.op_type for node in graph.node for name in node.output}
    for value in graph.output:
        if value.name not in seen:
            seen.add(value.name)
            tensors.append(_description(value.name, OUTPUT, value, producers.get(value.name)))
    return GraphTensors(tuple(tensors))


def write_extended_model(onnx_path: Path, names: Iterable[str]) -> Path:
    """Write, beside ``onnx_path``, the model with ``names`` added as graph outputs; return its path.

    The caller removes the file once its session is built. Names already outputs are not added twice;
    no type is declared for the added ones (onnxruntime infers them).
    """
    model = onnx.load(str(onnx_path), load_external_data=False)
    present = {v.name for v in model.graph.output}
    for name in names:
        if name not in present:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
            present.add(name)
    handle, temp = tempfile.mkstemp(prefix="extended-", suffix=".onnx", dir=onnx_path.parent)
    os.close(handle)
    path = Path(temp)
    onnx.save(model, str(path))
    return path


def _description(
    name: str, kind: str, value: onnx.ValueInfoProto | None, producer: str | None
) -> TensorDescription:
    if value is None or not value.type.WhichOneof("value"):
        # shape inference could not type it: most likely a tensor still, so it stays returnable under
        # a type learnt only at run time (onnxruntime refuses it then if it is not).
        return TensorDescription(name, kind, "TENSOR", None, producer)
    if not value.type.HasField("tensor_type"):
        return TensorDescription(name, kind, "UNKNOWN", None, producer)  # a sequence, map or optional
    tensor = value.type.tensor_type
    element = _element_type(tensor.elem_type)
    if not tensor.HasField("shape"):
        return TensorDescription(name, kind, element, None, producer)
    shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim)
    return TensorDescription(name, kind, element, shape, producer)


def _element_type(code: int) -> str:
    if code == 0:
        return "TENSOR"
    try:
        return str(onnx.TensorProto.DataType.Name(code))
    except ValueError:
        return "UNKNOWN"


#: The fewest bytes one value takes in a JSON answer (``0,``).
MIN_VALUE_BYTES = 2


def tensor_answer(
    arrays: dict[str, np.ndarray], names: Sequence[str], limit: int | None
) -> list[dict[str, Any]]:
    """``{"name", "shape", "datatype", "data"}`` per name, in the order asked, ``data`` row-major.

    With a ``limit`` (bytes of JSON), values that could not fit are refused before they are built.
    """
    if limit is not None:
        least = sum(arrays[name].size for name in names) * MIN_VALUE_BYTES
        if least > limit:
            raise ResponseTooLarge(
                f"The tensors asked for hold {least // MIN_VALUE_BYTES} values, at least {least} bytes, over "
                f"the response limit of {limit} bytes (OMLSVC_MAX_RESPONSE_BYTES); ask for fewer tensors or "
                "send fewer rows."
            )
    answer = []
    for name in names:
        array = arrays[name]
        answer.append(
            {
                "name": name,
                "shape": list(array.shape),
                "datatype": datatype(array.dtype),
                "data": _values(array),
            }
        )
    return answer


def datatype(dtype: np.dtype[Any]) -> str:
    """The ONNX element type name of a numpy dtype (``FLOAT``), ``STRING`` for text."""
    if dtype.kind in "OUS":
        return "STRING"
    try:
        return str(onnx.TensorProto.DataType.Name(helper.np_dtype_to_tensor_dtype(dtype)))
    except (KeyError, ValueError):
        return "UNKNOWN"


def _values(array: np.ndarray) -> list[Any]:
    flat = array.reshape(-1)
    if flat.dtype.kind in "OUS":
        return [item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in flat]
    return flat.tolist()


def cut_spec(spec: ScoringSpec, tensor: str) -> ScoringSpec:
    """The spec of a model cut at ``tensor`` (a deployment's ``outputTensor``): feature extraction on
    that value, flattened per row; inputs and image preprocessing are the model's own."""
    return replace(
        spec,
        function=Function.FEATURE_EXTRACTION,
        output=tensor,
        label_source=None,
        label_output=None,
        labels=None,
        cluster_measure=None,
        width=None,
    )
