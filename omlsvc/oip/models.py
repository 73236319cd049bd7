"""A deployed model as the Open Inference Protocol sees it, read from its stored signature.

The metadata (names, datatypes, shapes with ``-1`` for dynamic dimensions) and the Triton-style
configuration that ``perf_analyzer`` asks for come from the :class:`ScoringSpec` written when the
model was stored, never from a session. :func:`check_inputs` holds a request to that signature
before anything reaches onnxruntime; :func:`wire_outputs` turns what onnxruntime returned into
protocol tensors (skl2onnx's ZipMap, a list of maps per row, becomes a ``FP32 [rows, classes]``
tensor whose columns follow the class order).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omlsvc.core.errors import InvalidInput, PayloadTooLarge
from omlsvc.core.signature import Function, LabelSource, ScoringSpec, TensorInfo, ValueKind
from omlsvc.oip.codec import classify
from omlsvc.oip.tensors import DATATYPE_OF_ELEMENT, NUMPY_OF, InferRequest, OutputTensor

#: The version every deployment answers as: a URI serves one model at a time.
MODEL_VERSION = "1"
PLATFORM = "onnxruntime_onnx"


def _datatype(info: TensorInfo) -> str | None:
    return DATATYPE_OF_ELEMENT.get(info.element_type)


def _class_count(spec: ScoringSpec) -> int:
    if spec.labels is not None:
        return len(spec.labels)
    return spec.width or -1


def tensor_metadata(spec: ScoringSpec, info: TensorInfo) -> dict[str, Any] | None:
    """``{"name", "datatype", "shape"}`` of one graph value; None for values the protocol cannot
    carry (sequences of tensors, maps of other types)."""
    if info.kind is ValueKind.SEQUENCE_OF_MAPS:
        return {"name": info.name, "datatype": "FP32", "shape": [-1, _class_count(spec)]}
    datatype = _datatype(info)
    if info.kind is not ValueKind.TENSOR or datatype is None:
        return None
    shape = [-1] if info.shape is None else list(info.shape)
    return {"name": info.name, "datatype": datatype, "shape": shape}


def model_metadata(name: str, spec: ScoringSpec) -> dict[str, Any]:
    """``GET /v2/models/{name}``."""
    return {
        "name": name,
        "versions": [MODEL_VERSION],
        "platform": PLATFORM,
        "inputs": [m for info in spec.inputs if (m := tensor_metadata(spec, info)) is not None],
        "outputs": [m for info in spec.outputs if (m := tensor_metadata(spec, info)) is not None],
    }


def _batched(spec: ScoringSpec) -> bool:
    """Every input's first dimension is dynamic: the model takes any batch (Triton's ``max_batch_size``)."""
    return all(info.shape and info.shape[0] == -1 for info in spec.inputs)


def model_config(name: str, spec: ScoringSpec, max_rows: int) -> dict[str, Any]:
    """``GET /v2/models/{name}/config``: the part of Triton's model configuration clients read
    (``perf_analyzer`` takes the batch axis and the shapes from it)."""
    batched = _batched(spec)

    def entry(info: TensorInfo) -> dict[str, Any] | None:
        meta = tensor_metadata(spec, info)
        if meta is None:
            return None
        dims = meta["shape"][1:] if batched and len(meta["shape"]) > 1 else meta["shape"]
        return {"name": meta["name"], "data_type": f"TYPE_{_config_type(meta['datatype'])}", "dims": dims}

    return {
        "name": name,
        "platform": PLATFORM,
        "backend": "onnxruntime",
        "max_batch_size": max_rows if batched else 0,
        "input": [e for info in spec.inputs if (e := entry(info)) is not None],
        "output": [e for info in spec.outputs if (e := entry(info)) is not None],
    }


def _config_type(datatype: str) -> str:
    return "STRING" if datatype == "BYTES" else datatype


@dataclass(frozen=True)
class Signature:
    """What every inference request is held to, derived from a model's stored signature once per
    worker (not per request): the graph inputs with their protocol datatypes, the outputs the
    protocol can carry, and the class names of the declared output."""

    inputs: tuple[tuple[TensorInfo, str | None], ...]
    input_names: frozenset[str]
    carried: tuple[str, ...]
    static_labels: tuple[str, ...] | None


#: Signatures kept per worker: one per model a worker serves, far more than it holds sessions for.
MAX_SIGNATURES = 256
_signatures: OrderedDict[int, tuple[ScoringSpec, Signature]] = OrderedDict()
_signatures_lock = threading.Lock()


def signature_of(spec: ScoringSpec) -> Signature:
    """The :class:`Signature` of ``spec``, built once per spec object: a prepared model keeps its
    spec, so the requests it serves find it by identity (the spec is kept with it, so its id is
    never reused while the entry lives)."""
    key = id(spec)
    found = _signatures.get(key)
    if found is not None and found[0] is spec:
        return found[1]
    static = None
    if (
        spec.function in (Function.CLASSIFICATION, Function.CLUSTERING)
        and spec.label_source in (LabelSource.STATIC, None)
        and spec.labels is not None
    ):
        static = tuple(spec.labels)
    signature = Signature(
        inputs=tuple((info, _datatype(info)) for info in spec.inputs),
        input_names=frozenset(info.name for info in spec.inputs),
        carried=tuple(info.name for info in spec.outputs if tensor_metadata(spec, info) is not None),
        static_labels=static,
    )
    with _signatures_lock:
        _signatures[key] = (spec, signature)
        while len(_signatures) > MAX_SIGNATURES:
            _signatures.popitem(last=False)
    return signature


def check_inputs(spec: ScoringSpec, request: InferRequest, max_rows: int) -> dict[str, np.ndarray]:
    """The feeds for onnxruntime, once every input is the model's: each graph input sent once, of
    its datatype, of its rank, fixed dimensions equal and one batch across inputs."""
    signature = signature_of(spec)
    sent = {tensor.name: tensor for tensor in request.inputs}
    if len(sent) != len(signature.inputs) or not signature.input_names.issuperset(sent):
        _refuse_names(spec, sent)
    feeds: dict[str, np.ndarray] = {}
    batch: int | None = None
    for info, datatype in signature.inputs:
        name = info.name
        tensor = sent[name]
        if tensor.datatype != datatype:
            raise InvalidInput(f"Input {name!r} must be {datatype}, not {tensor.datatype}.")
        if info.shape is not None:
            if len(tensor.shape) != len(info.shape):
                raise InvalidInput(
                    f"Input {name!r} must have {len(info.shape)} dimensions {list(info.shape)}, "
                    f"not {list(tensor.shape)}."
                )
            for axis, (want, got) in enumerate(zip(info.shape, tensor.shape, strict=True)):
                if want > 0 and want != got:
                    raise InvalidInput(
                        f"Dimension {axis} of input {name!r} must be {want} (shape {list(info.shape)}), "
                        f"not {got}."
                    )
        if tensor.shape:
            if batch is not None and tensor.shape[0] != batch:
                raise InvalidInput(
                    f"Input {name!r} has a batch of {tensor.shape[0]}; the other inputs {batch}."
                )
            batch = tensor.shape[0]
        feeds[name] = _feed(tensor.array, tensor.datatype)
    if batch is not None and batch > max_rows:
        raise PayloadTooLarge(
            f"The batch of {batch} rows is over the limit of {max_rows} (OMLSVC_MAX_SCORE_ROWS)."
        )
    return feeds


def _refuse_names(spec: ScoringSpec, sent: Mapping[str, Any]) -> None:
    """The inputs sent are not the model's: name the unknown and the missing ones."""
    expected = {info.name: info for info in spec.inputs}
    unknown = sorted(set(sent) - set(expected))
    missing = [name for name in expected if name not in sent]
    if unknown or missing:
        problems = [f"unknown input {name!r}" for name in unknown] + [
            f"missing input {name!r}" for name in missing
        ]
        raise InvalidInput(
            f"{'; '.join(problems)} (the model's inputs are {', '.join(map(repr, expected))})."
        )


def _feed(array: np.ndarray, datatype: str) -> np.ndarray:
    """onnxruntime takes strings as str objects; every other array goes as it is (a view of the body)."""
    if datatype != "BYTES":
        return array
    texts = np.empty(array.shape, dtype=np.object_)
    try:
        texts.reshape(-1)[:] = [value.decode("utf-8") for value in array.reshape(-1)]
    except UnicodeDecodeError:
        raise InvalidInput("BYTES inputs of this model must be UTF-8 text.") from None
    return texts


def output_names(spec: ScoringSpec, request: InferRequest) -> list[str]:
    """The graph outputs to run: those asked for (each must be one the protocol can carry), or all."""
    carried = signature_of(spec).carried
    if request.outputs is None:
        return list(carried)
    for output in request.outputs:
        if output.name not in carried:
            raise InvalidInput(
                f"Unknown output {output.name!r} (the model's outputs are {', '.join(map(repr, carried))})."
            )
    return [output.name for output in request.outputs]


def wire_outputs(spec: ScoringSpec, request: InferRequest, values: Mapping[str, Any]) -> list[OutputTensor]:
    """What onnxruntime returned, as the protocol's output tensors, classified where asked."""
    if request.outputs is None:
        asked = [(name, request.binary_output, 0) for name in values]
    else:
        asked = [(o.name, o.binary, o.class_count) for o in request.outputs]
    tensors = []
    for name, binary, class_count in asked:
        value = values[name]
        labels = _labels(spec, name, value)
        array = _as_array(value, labels)
        if class_count:
            array = classify(array, class_count, labels)
        tensors.append(OutputTensor(name, array, binary))
    return tensors


def _labels(spec: ScoringSpec, name: str, value: Any) -> Sequence[str] | None:
    """Class names for the columns of an output, when the signature knows them."""
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return [str(key) for key in value[0]]
    if name == spec.output:
        return signature_of(spec).static_labels
    return None


def _as_array(value: Any, labels: Sequence[str] | None) -> np.ndarray:
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "U" or value.dtype.kind == "S":
            return value.astype(np.object_)
        return value
    if isinstance(value, list) and (not value or isinstance(value[0], Mapping)):
        width = len(labels or ())
        array = np.empty((len(value), width), dtype=NUMPY_OF["FP32"])
        for row, entry in enumerate(value):
            array[row] = list(entry.values())
        return array
    raise InvalidInput("The output cannot be sent as a tensor.")
