"""Spec 8.7: an image model's metadata reconciled with its one 4-D input, into an :class:`ImageSpec`.

height and width come from the input's fixed dims when not given, and given values must agree
with fixed dims; a fixed channel axis must match ``channel``. Axes are located through
``inputTensorDimNames``, so an NHWC model described as NCHW shows up here. Wherever they come
from, each side is at most ``MAX_IMAGE_SIDE`` and their product at most the image target limit.
"""

from __future__ import annotations

from collections.abc import Sequence

from omlsvc.core.signature import ImageSpec, TensorInfo
from omlsvc.repository.inspect import describe_shape
from omlsvc.repository.layout import METADATA_NAME
from omlsvc.repository.spec import (
    CHANNEL,
    CROP_SIZE,
    HEIGHT,
    INPUT_TENSOR_DIM_NAMES,
    MAX_IMAGE_SIDE,
    MEAN_FILE,
    RESIZE_TYPE,
    WIDTH,
    ImageFields,
)

#: Element types an image tensor cannot be built in.
_NON_IMAGE_TYPES = frozenset({"STRING", "BOOL", "UNKNOWN"})


def image_spec(
    fields: ImageFields,
    inputs: Sequence[TensorInfo],
    problems: list[str],
    max_target_pixels: int,
    *,
    mean_shape: tuple[int, ...] | None = None,
) -> ImageSpec | None:
    """The image input's spec, or None (with every problem added) when the metadata and input disagree.

    ``mean_shape`` is the shape of the array in ``meanFile`` (read from the package), checked against
    the input's height, width and channel."""
    if len(inputs) != 1 or inputs[0].shape is None or len(inputs[0].shape) != 4:
        return None  # input_problems reported the rank rule
    image = inputs[0]
    if image.element_type in _NON_IMAGE_TYPES:
        problems.append(f"the image input {image.name!r} must hold numbers, not {image.element_type}")
        return None
    found: list[str] = []
    height, width = _image_size(fields, image, found)
    if height is not None and width is not None and height * width > max_target_pixels:
        found.append(
            f"the image input size {width}x{height} ({width * height} pixels, from {_layout(fields)} and the "
            f"input shape {describe_shape(image.shape)}) is over the limit of {max_target_pixels} pixels "
            "(OMLSVC_MAX_IMAGE_TARGET_PIXELS): every image would be resized to it"
        )
    if height is not None and width is not None:
        found += preprocessing_problems(fields, height, width, image, mean_shape)
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
        resize_type=fields.resize_type,
        resize_filter=fields.resize_filter,
        crop_size=fields.crop_size,
        fill_color=fields.fill_color,
        pixel_scaling=fields.pixel_scaling,
        mean_file=fields.mean_file,
    )


def preprocessing_problems(
    fields: ImageFields, height: int, width: int, image: TensorInfo, mean_shape: tuple[int, ...] | None
) -> list[str]:
    """Issue 16's options against the input: a crop that fits, a mean file of the input's shape."""
    found = []
    size = f"{width}x{height} (width x height) of the image input {image.name!r}"
    if fields.crop_size is not None and fields.resize_type != "SHORTER_SIDE":
        found.append(
            f"{_field(CROP_SIZE)} applies to {RESIZE_TYPE} SHORTER_SIDE only, not {fields.resize_type}"
        )
    elif fields.crop_size is not None and fields.crop_size < max(height, width):
        found.append(
            f"{_field(CROP_SIZE)} is {fields.crop_size}: the shorter side resized to it is smaller than the "
            f"centre crop of {size}; the crop would be larger than the image"
        )
    if fields.mean_file is not None and mean_shape is not None:
        channel = fields.channel
        allowed = [(channel,), (height, width, channel)] + ([(height, width)] if channel == 1 else [])
        if mean_shape not in allowed:
            found.append(
                f"{_field(MEAN_FILE)} {fields.mean_file!r} holds an array of shape {list(mean_shape)}; it must be "
                f"[{channel}] (one value per channel) or [{height}, {width}, {channel}] (H x W x C, RGB order) "
                f"for {size}"
            )
    return found


def _field(name: str) -> str:
    return f"{METADATA_NAME} field {name!r}"


def _image_size(fields: ImageFields, image: TensorInfo, problems: list[str]) -> tuple[int | None, int | None]:
    """(height, width) from the fields and the input's fixed axes; a fixed channel axis is checked too."""
    assert image.shape is not None
    axes = {name: index for index, name in enumerate(fields.dim_names)}
    layout = _layout(fields)
    height = _image_side(HEIGHT, fields.height, image, axes[HEIGHT], layout, problems)
    width = _image_side(WIDTH, fields.width, image, axes[WIDTH], layout, problems)
    fixed_channels = image.shape[axes[CHANNEL]]
    if fixed_channels > 0 and fixed_channels != fields.channel:
        problems.append(
            f"channel is {fields.channel} but the image input {image.name!r} (shape "
            f"{describe_shape(image.shape)}) has {fixed_channels} on its channel axis {axes[CHANNEL]} per "
            f"{layout}: set channel, or {INPUT_TENSOR_DIM_NAMES} if the layout is not NCHW"
        )
    return height, width


def _layout(fields: ImageFields) -> str:
    return f"{INPUT_TENSOR_DIM_NAMES} {list(fields.dim_names)}"


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
