"""Synthetic inputs built from a model's signature: what variants are compared on and profiles run on.

Deterministic (a seeded generator), so a variant's recorded distance from its source can be checked
again by anyone with the same model. An image input gets random pixels (:func:`sample_pixels`) put
through the model's own preprocessing (:class:`~omlsvc.scoring.images.ImagePreprocessor`), so the
sample is what scoring the same pixels as images feeds the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from omlsvc.core.signature import ImageSpec
from omlsvc.scoring.images import ImagePreprocessor

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


def input_shape(shape: Sequence[Any], rows: int) -> list[int]:
    """A concrete shape: the first dimension is the batch, other unknown ones are 1."""
    concrete = []
    for axis, dim in enumerate(shape):
        if axis == 0:
            concrete.append(rows)
        elif isinstance(dim, int) and dim > 0:
            concrete.append(dim)
        else:
            concrete.append(1)
    return concrete or [rows]


def sample_pixels(rows: int, height: int, width: int, channels: int, seed: int = SAMPLE_SEED) -> np.ndarray:
    """``rows`` random 8-bit images, ``[rows, height, width, channels]`` (RGB or grey)."""
    return np.random.default_rng(seed).integers(0, 256, size=(rows, height, width, channels), dtype=np.uint8)


def image_batch(spec: ImageSpec, rows: int, seed: int = SAMPLE_SEED) -> np.ndarray:
    """The model input for :func:`sample_pixels` images, preprocessed as scoring preprocesses them."""
    preprocessor = ImagePreprocessor(spec)
    pixels = sample_pixels(rows, spec.height, spec.width, spec.channel, seed)
    mode = "RGB" if spec.channel == 3 else "L"
    images = [Image.fromarray(p if spec.channel == 3 else p[:, :, 0], mode) for p in pixels]
    return np.concatenate([preprocessor.to_array(image) for image in images])


def synthetic_inputs(
    inputs: Sequence[Any],
    rows: int,
    *,
    image: ImageSpec | None = None,
    seed: int = SAMPLE_SEED,
) -> dict[str, np.ndarray]:
    """One batch of ``rows`` for a session's inputs (onnxruntime ``NodeArg`` values: name, type, shape);
    ``image``: the model's image input, made of random pixels."""
    rng = np.random.default_rng(seed)
    batch: dict[str, np.ndarray] = {}
    for arg in inputs:
        if image is not None and arg.name == image.input_name:
            batch[arg.name] = image_batch(image, rows, seed)
            continue
        shape = input_shape(arg.shape or [None], rows)
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
