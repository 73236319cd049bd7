"""Deriving a variant of an ONNX graph with well-kept tools, and measuring how far it drifts.

* ``fp16``: onnxconverter-common's float16 conversion, inputs and outputs kept float32
  (``keep_io_types``), so the variant takes and returns what its source does; operators it cannot
  run in half precision (the ``ai.onnx.ml`` ones, ZipMap, ...) stay float32 behind casts;
* ``int8``: onnxruntime's dynamic quantization (weights int8 ahead of time, activations at run time);
* ``optimized``: onnxruntime's offline graph optimisation (basic level: constant folding, redundant
  nodes removed, standard fusions), whose output is plain ONNX any onnxruntime loads.

The functions here run in a child process (:mod:`omlsvc.tasks.isolated`): a converter that crashes or
runs away costs the child. A variant is compared with its source on a deterministic sample batch
(:mod:`omlsvc.tasks.samples`): the largest absolute difference over every numeric output, and for
classifiers the share of rows whose top class agrees. An ``fp16`` or ``int8`` variant that is not
smaller than its source is refused: its tool found nothing to shrink, and storing it would claim a
gain it does not have.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime

from omlsvc.core.errors import InvalidInput
from omlsvc.core.signature import ImageSpec
from omlsvc.tasks.samples import SAMPLE_ROWS, SAMPLE_SEED, synthetic_inputs

FP16 = "fp16"
INT8 = "int8"
OPTIMIZED = "optimized"


def derive(source: Path, kind: str, target: Path, image: ImageSpec | None = None) -> dict[str, Any]:
    """Write the ``kind`` variant of the model at ``source`` to ``target``; returns the comparison."""
    if kind == FP16:
        _fp16(source, target)
    elif kind == INT8:
        _int8(source, target)
    elif kind == OPTIMIZED:
        _optimized(source, target)
    else:
        raise InvalidInput(f"Unknown variant kind {kind!r}.")
    source_bytes, target_bytes = source.stat().st_size, target.stat().st_size
    if kind in (FP16, INT8) and target_bytes >= source_bytes:
        ops = sorted({node.op_type for node in onnx.load(str(source)).graph.node})
        raise InvalidInput(
            f"The {kind} variant would not be smaller than its source ({target_bytes} >= {source_bytes} "
            f"bytes): {_tool(kind)} finds no weights to shrink in this graph (operators: "
            f"{', '.join(ops)[:500]})."
        )
    comparison = compare(source, target, image)
    comparison.update(sourceOnnxBytes=source_bytes, variantOnnxBytes=target_bytes)
    return comparison


def _tool(kind: str) -> str:
    return (
        "onnxconverter-common's float16 conversion" if kind == FP16 else "onnxruntime's dynamic quantization"
    )


def _fp16(source: Path, target: Path) -> None:
    from onnxconverter_common import float16

    # The basic optimisation first drops casts to the type a value already has (skl2onnx starts with
    # one): the converter keeps a Cast's target type, so such a cast would feed float32 into a
    # float16 MatMul.
    basic = target.with_suffix(".basic.onnx")
    _optimized(source, basic)
    model = onnx.load(str(basic))
    basic.unlink()
    try:
        converted = float16.convert_float_to_float16(model, keep_io_types=True)
    except Exception as exc:  # the converter's own errors name no class of theirs to catch
        raise InvalidInput(f"The float16 conversion failed for this graph: {str(exc)[:500]}") from None
    onnx.save(converted, str(target))


def _int8(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        quantize_dynamic(source, target, weight_type=QuantType.QUInt8)
    except Exception as exc:
        raise InvalidInput(f"Dynamic quantization failed for this graph: {str(exc)[:500]}") from None


def _optimized(source: Path, target: Path) -> None:
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(target)
    onnxruntime.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def compare(source: Path, target: Path, image: ImageSpec | None = None) -> dict[str, Any]:
    """``maxAbsDiff`` over every numeric output on the sample batch, ``top1Agreement`` (a share of
    rows, None when no output holds class scores), and the sample's size and seed."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    reference = onnxruntime.InferenceSession(str(source), options, providers=providers)
    try:
        variant = onnxruntime.InferenceSession(str(target), options, providers=providers)
    except Exception as exc:
        raise InvalidInput(f"onnxruntime cannot load the variant: {str(exc)[:500]}") from None
    batch = synthetic_inputs(reference.get_inputs(), SAMPLE_ROWS, image=image)
    expected = reference.run(None, batch)
    try:
        got = variant.run(None, batch)
    except Exception as exc:
        raise InvalidInput(f"onnxruntime cannot run the variant: {str(exc)[:500]}") from None
    max_diff = 0.0
    agreements: list[float] = []
    for want, have in zip(expected, got, strict=True):
        scores_want, scores_have = _scores(want), _scores(have)
        if scores_want is not None and scores_have is not None:
            max_diff = max(max_diff, float(np.max(np.abs(scores_want - scores_have), initial=0.0)))
            if scores_want.ndim == 2 and scores_want.shape[1] > 1:
                agreements.append(float(np.mean(scores_want.argmax(axis=1) == scores_have.argmax(axis=1))))
    return {
        "maxAbsDiff": max_diff,
        "top1Agreement": min(agreements) if agreements else None,
        "sampleRows": SAMPLE_ROWS,
        "sampleSeed": SAMPLE_SEED,
    }


def _scores(value: Any) -> np.ndarray | None:
    """A numeric output as float64 (a ZipMap's list of maps as a matrix in key order); None otherwise."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        keys = sorted(value[0])
        return np.array([[row[k] for k in keys] for row in value], dtype=np.float64)
    array = np.asarray(value)
    if array.dtype.kind in "fiub":
        return array.astype(np.float64)
    return None
