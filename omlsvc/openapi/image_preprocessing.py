"""A deployment document's words for an image model's preprocessing (issue 16): the prose of the
operation's description and the ``x-omlsvc-image-preprocessing`` options, both from metadata.json.
"""

from __future__ import annotations

from typing import Any

from omlsvc.core.signature import ImageSpec


def preprocessing_text(image: ImageSpec) -> str:
    """How an image file becomes the model's input, every option of metadata.json spelled out."""
    axes = "".join(name[0].upper() for name in image.dim_names)
    resize = {
        "SQUASH": f"resized to {image.width}x{image.height} (width x height) ignoring its aspect ratio",
        "CROP": f"resized to cover {image.width}x{image.height} keeping its aspect ratio, then centre-cropped",
        "FILL": (
            f"resized to fit in {image.width}x{image.height} keeping its aspect ratio, then padded with "
            f"{list(image.fill_color) or 'white'}"
        ),
        "SHORTER_SIDE": (
            f"resized so that its shorter side is {image.crop_size}, then centre-cropped to "
            f"{image.width}x{image.height}"
        ),
    }.get(image.resize_type, image.resize_type)
    scaling = "" if image.pixel_scaling is None else f"scaled from [0, 255] to [0, {image.pixel_scaling:g}], "
    mean = (
        f"minus the mean array of {image.mean_file}"
        if image.mean_file is not None
        else f"minus mean {list(image.mean)}"
    )
    return (
        f"Image preprocessing (resizeType {image.resize_type}, resizeFilter {image.resize_filter}): each image "
        f"is decoded (EXIF orientation applied), converted to {'L (grey)' if image.channel == 1 else 'RGB'}, "
        f"{resize} with the {image.resize_filter} filter; pixels are {scaling}{mean} (RGB order), times scale "
        f"{list(image.scale)}, in {image.input_channel if image.channel == 3 else 'L'} channel order, laid out as {axes} ({image.element_type})."
    )


def preprocessing_options(image: ImageSpec) -> dict[str, Any]:
    """The image options in metadata.json's words (issue 16), for clients that read them as data."""
    options: dict[str, Any] = {
        "height": image.height,
        "width": image.width,
        "channel": image.channel,
        "inputChannel": image.input_channel if image.channel == 3 else "L",
        "inputTensorDimNames": list(image.dim_names),
        "resizeType": image.resize_type,
        "resizeFilter": image.resize_filter,
        "scale": list(image.scale),
    }
    if image.mean_file is not None:
        options["meanFile"] = image.mean_file
    else:
        options["mean"] = list(image.mean)
    if image.crop_size is not None:
        options["cropSize"] = image.crop_size
    if image.resize_type == "FILL":
        options["fillColor"] = list(image.fill_color) or [255] * image.channel
    if image.pixel_scaling is not None:
        options["pixelScaling"] = image.pixel_scaling
    return options
