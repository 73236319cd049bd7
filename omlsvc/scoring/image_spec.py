"""What a model's :class:`ImageSpec` asks of the image pipeline, checked once per model.

:class:`~omlsvc.scoring.images.ImagePreprocessor` is built from these: the element type and axes of
the input, the resize mode and filter, the normalisation vectors and the FILL colour, each refused
with :class:`ScoringFailed` when the spec names something the pipeline cannot do. Kept apart from
the per-image work (decoding, orienting, resizing) so that module reads as the pipeline itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from omlsvc.core.errors import ScoringFailed
from omlsvc.core.signature import ImageSpec

#: ONNX element type name -> numpy dtype, for the types an image input may have.
IMAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FLOAT": np.dtype(np.float32),
    "DOUBLE": np.dtype(np.float64),
    "FLOAT16": np.dtype(np.float16),
    "UINT8": np.dtype(np.uint8),
    "INT8": np.dtype(np.int8),
    "UINT16": np.dtype(np.uint16),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
}

SOURCE_AXES = ("batch", "height", "width", "channel")


#: metadata.json ``resizeType`` values (issue 16); SQUASH is the OML behaviour.
RESIZE_TYPES = ("SQUASH", "CROP", "FILL", "SHORTER_SIDE")
#: metadata.json ``resizeFilter`` values (issue 16) and their Pillow filters.
RESIZE_FILTERS = {
    "BILINEAR": Image.Resampling.BILINEAR,
    "BICUBIC": Image.Resampling.BICUBIC,
    "LANCZOS": Image.Resampling.LANCZOS,
    "NEAREST": Image.Resampling.NEAREST,
}


def checked_dtype(spec: ImageSpec, max_target_pixels: int) -> np.dtype[Any]:
    """The numpy type of the spec's input, after checking its channels, size and axes."""
    if spec.channel not in (1, 3):
        raise ScoringFailed(f"image input {spec.input_name!r}: channel must be 1 or 3, not {spec.channel}")
    if spec.height < 1 or spec.width < 1:
        raise ScoringFailed(f"image input {spec.input_name!r}: height and width must be positive")
    if spec.height * spec.width > max_target_pixels:
        raise ScoringFailed(
            f"image input {spec.input_name!r}: the model's input size {spec.width}x{spec.height} is over "
            f"the limit of {max_target_pixels} pixels (OMLSVC_MAX_IMAGE_TARGET_PIXELS)"
        )
    if sorted(spec.dim_names) != sorted(SOURCE_AXES):
        raise ScoringFailed(
            f"image input {spec.input_name!r}: dim_names {list(spec.dim_names)} is not a permutation "
            f"of {list(SOURCE_AXES)}"
        )
    dtype = IMAGE_DTYPES.get(spec.element_type)
    if dtype is None:
        raise ScoringFailed(
            f"image input {spec.input_name!r}: element type {spec.element_type} is not supported"
        )
    return dtype


def resize_mode(spec: ImageSpec) -> tuple[str, Image.Resampling]:
    """The spec's resize type (upper case) and Pillow filter, checked."""
    resize_type = spec.resize_type.upper()
    if resize_type not in RESIZE_TYPES:
        raise ScoringFailed(f"image input {spec.input_name!r}: unknown resize type {spec.resize_type!r}")
    filter_ = RESIZE_FILTERS.get(spec.resize_filter.upper())
    if filter_ is None:
        raise ScoringFailed(f"image input {spec.input_name!r}: unknown resize filter {spec.resize_filter!r}")
    if resize_type == "SHORTER_SIDE" and (
        spec.crop_size is None or spec.crop_size < max(spec.height, spec.width)
    ):
        raise ScoringFailed(f"image input {spec.input_name!r}: cropSize must be at least the input's sides")
    return resize_type, filter_


def resized_size(
    resize_type: str, width: int, height: int, target_w: int, target_h: int, crop_size: int | None
) -> tuple[int, int]:
    """The size an image of ``width`` x ``height`` is resized to before the crop or pad of its mode.

    CROP covers the target (the larger scale), FILL fits in it (the smaller scale), both rounding to
    the nearest pixel and never crossing the target; SHORTER_SIDE follows torchvision's ``Resize(N)``:
    the shorter side becomes N, the longer ``int(N * long / short)``.
    """
    if resize_type == "SHORTER_SIDE":
        assert crop_size is not None
        if width <= height:
            return crop_size, max(crop_size, int(crop_size * height / width))
        return max(crop_size, int(crop_size * width / height)), crop_size
    if resize_type == "CROP":
        scale = max(target_w / width, target_h / height)
        return max(target_w, round(width * scale)), max(target_h, round(height * scale))
    scale = min(target_w / width, target_h / height)
    return (
        min(target_w, max(1, round(width * scale))),
        min(target_h, max(1, round(height * scale))),
    )


def cast_pixels(pixels: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """Cast float pixels to the model's element type: integers are rounded and clipped, not wrapped."""
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        pixels = np.clip(np.rint(pixels), info.min, info.max)
    return np.ascontiguousarray(pixels, dtype=dtype)


def per_channel(values: tuple[float, ...], channel: int, default: float, what: str, name: str) -> np.ndarray:
    if not values:
        return np.full(channel, default, dtype=np.float32)
    if len(values) == 1:
        return np.full(channel, values[0], dtype=np.float32)
    if len(values) != channel:
        raise ScoringFailed(f"image input {name!r}: {what} has {len(values)} values for {channel} channels")
    return np.asarray(values, dtype=np.float32)


def checked_mean(array: np.ndarray | None, spec: ImageSpec) -> np.ndarray:
    """The mean file's array, checked again (validation checked it at store time) and made to
    broadcast over an H x W x C image."""
    name = spec.input_name
    if array is None:
        raise ScoringFailed(f"image input {name!r}: the mean file {spec.mean_file!r} was not loaded")
    mean = np.asarray(array, dtype=np.float32)
    if mean.ndim == 2 and spec.channel == 1:
        mean = mean[:, :, np.newaxis]
    if mean.shape not in ((spec.channel,), (spec.height, spec.width, spec.channel)):
        raise ScoringFailed(
            f"image input {name!r}: the mean file has shape {list(mean.shape)}, not "
            f"[{spec.channel}] or [{spec.height}, {spec.width}, {spec.channel}]"
        )
    return mean


def fill_color(values: tuple[int, ...], channel: int) -> int | tuple[int, ...]:
    """Pillow's colour for the FILL padding: white by default."""
    if not values:
        return 255 if channel == 1 else (255, 255, 255)
    if channel == 1:
        return values[0]
    return values if len(values) == 3 else (values[0],) * 3
