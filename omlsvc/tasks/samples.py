"""Synthetic inputs built from a model's signature: what variants are compared on and profiles run on.

Deterministic (a seeded generator), so a variant's recorded distance from its source can be checked
again by anyone with the same model; images get random pixel values over the preprocessed range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: onnxruntime's ``NodeArg.type`` strings and the numpy types their tensors take.
NUMPY_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.str_,
}
SAMPLE_SEED = 20260
SAMPLE_ROWS = 16


def input_shape(shape: Sequence[Any], rows: int, fixed: Sequence[int] | None = None) -> list[int]:
    """A concrete shape: the first dimension is the batch, other unknown ones come from ``fixed`` (an
    image's height and width, as its metadata gives them) or are 1."""
    concrete = []
    for axis, dim in enumerate(shape):
        if axis == 0:
            concrete.append(rows)
        elif isinstance(dim, int) and dim > 0:
            concrete.append(dim)
        elif fixed is not None and axis < len(fixed) and fixed[axis] > 0:
            concrete.append(int(fixed[axis]))
        else:
            concrete.append(1)
    return concrete or [rows]


def synthetic_inputs(
    inputs: Sequence[Any],
    rows: int,
    *,
    fixed_shapes: Mapping[str, Sequence[int]] | None = None,
    seed: int = SAMPLE_SEED,
) -> dict[str, np.ndarray]:
    """One batch of ``rows`` for a session's inputs (onnxruntime ``NodeArg`` values: name, type, shape)."""
    rng = np.random.default_rng(seed)
    batch: dict[str, np.ndarray] = {}
    for arg in inputs:
        shape = input_shape(arg.shape or [None], rows, (fixed_shapes or {}).get(arg.name))
        dtype = NUMPY_TYPES.get(arg.type)
        if dtype is None:
            raise ValueError(f"input {arg.name!r} of type {arg.type} cannot be made up")
        if dtype is np.str_:
            batch[arg.name] = np.full(shape, "a", dtype=object)
        elif dtype is np.bool_:
            batch[arg.name] = rng.random(shape) > 0.5
        elif np.issubdtype(dtype, np.integer):
            batch[arg.name] = rng.integers(0, 4, size=shape).astype(dtype)
        else:
            batch[arg.name] = rng.normal(size=shape).astype(dtype)
    return batch
