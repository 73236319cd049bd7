"""metadata.json: the rules of spec section 8 that need only the document and the model type.

The document is parsed strictly (UTF-8, plain JSON: no NaN or Infinity) and read into
:class:`Metadata`, with defaults applied to the image fields. Keys the spec does not name are
ignored, as are fields that do not apply to the chosen function or model type. Output names are kept
exactly as written (they are case-sensitive); ``function`` is case-insensitive. Rules that need the
graph (named outputs exist, shapes agree with ``height``...) live in ``validation``.

Reading returns the problems found alongside a best-effort :class:`Metadata`, so that the caller can
go on to check the model against it and report every problem at once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omlsvc.core.signature import Function, ModelType
from omlsvc.repository.layout import METADATA_NAME

FUNCTION = "function"
REGRESSION_OUTPUT = "regressionOutput"
CLASSIFICATION_PROB_OUTPUT = "classificationProbOutput"
CLASSIFICATION_LABEL_OUTPUT = "classificationLabelOutput"
CLUSTERING_DISTANCE_OUTPUT = "clusteringDistanceOutput"
CLUSTERING_PROB_OUTPUT = "clusteringProbOutput"
HEIGHT = "height"
WIDTH = "width"
CHANNEL = "channel"
MEAN = "mean"
SCALE = "scale"
INPUT_CHANNEL = "inputChannel"
INPUT_TENSOR_DIM_NAMES = "inputTensorDimNames"
# issue 16: richer image preprocessing (all optional; the defaults are the OML behaviour)
RESIZE_TYPE = "resizeType"
RESIZE_FILTER = "resizeFilter"
CROP_SIZE = "cropSize"
FILL_COLOR = "fillColor"
PIXEL_SCALING = "pixelScaling"
MEAN_FILE = "meanFile"
DIMENSION_ORDER = "dimensionOrder"
RESIZE_TYPES = ("SQUASH", "CROP", "FILL", "SHORTER_SIDE")
RESIZE_FILTERS = ("BILINEAR", "BICUBIC", "LANCZOS", "NEAREST")
DIMENSION_ORDERS = {
    "NCHW": ("batch", "channel", "height", "width"),
    "NHWC": ("batch", "height", "width", "channel"),
}
MEAN_FILE_SUFFIX = ".npy"

#: The axes an image input may have, in the default (NCHW) order.
DIM_NAMES = ("batch", "channel", "height", "width")
CHANNEL_ORDERS = ("RGB", "BGR", "L")
CHANNEL_COUNTS = (1, 3)
DEFAULT_CHANNEL = 3
#: Largest height or width accepted: a resize target beyond this is a mistake or a memory attack.
MAX_IMAGE_SIDE = 16384

FUNCTION_NAMES = {function.value.lower(): function for function in Function}
#: Spec 8.4-8.6: functions allowed per model type.
FUNCTIONS_BY_MODEL_TYPE = {
    ModelType.ONNX: (Function.CLASSIFICATION, Function.REGRESSION, Function.CLUSTERING),
    ModelType.ONNX_IMG: (Function.CLASSIFICATION, Function.FEATURE_EXTRACTION),
}
_OUTPUT_FIELDS = {
    Function.REGRESSION: (REGRESSION_OUTPUT,),
    Function.CLASSIFICATION: (CLASSIFICATION_PROB_OUTPUT, CLASSIFICATION_LABEL_OUTPUT),
    Function.CLUSTERING: (CLUSTERING_DISTANCE_OUTPUT, CLUSTERING_PROB_OUTPUT),
    Function.FEATURE_EXTRACTION: (),
}


@dataclass(frozen=True)
class ImageFields:
    """Image preprocessing fields with the spec's defaults applied (section 8.1).

    ``height`` and ``width`` stay None when not given: the model's fixed input shape may supply
    them. ``mean`` and ``scale`` have one value per channel; ``dim_names`` starts with ``batch``.
    """

    height: int | None = None
    width: int | None = None
    channel: int = DEFAULT_CHANNEL
    mean: tuple[float, ...] = (0.0,) * DEFAULT_CHANNEL
    scale: tuple[float, ...] = (1.0,) * DEFAULT_CHANNEL
    input_channel: str = "RGB"
    dim_names: tuple[str, ...] = DIM_NAMES
    resize_type: str = "SQUASH"
    resize_filter: str = "BILINEAR"
    crop_size: int | None = None
    fill_color: tuple[int, ...] = ()
    pixel_scaling: float | None = None
    mean_file: str | None = None


@dataclass(frozen=True)
class Metadata:
    """The fields of metadata.json that apply to the model's function and type.

    Output names are None when not given; whether they are then required depends on the graph.
    ``image`` is set for ONNX_IMG models only.
    """

    function: Function
    regression_output: str | None = None
    classification_prob_output: str | None = None
    classification_label_output: str | None = None
    clustering_distance_output: str | None = None
    clustering_prob_output: str | None = None
    image: ImageFields | None = None


def parse_metadata_json(data: bytes) -> tuple[dict[str, Any] | None, list[str]]:
    """The JSON object in metadata.json, or None and the reason it cannot be read.

    A UTF-8 byte order mark is tolerated (Windows editors write one); NaN and Infinity, which
    Python's json accepts but JSON does not, are refused.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [f"{METADATA_NAME} is not UTF-8 text (invalid byte at offset {exc.start})"]
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        return None, [f"{METADATA_NAME} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"]
    except ValueError as exc:
        return None, [f"{METADATA_NAME} is not valid JSON: {exc}"]
    except RecursionError:
        return None, [f"{METADATA_NAME} is nested too deeply"]
    if not isinstance(document, dict):
        return None, [f"{METADATA_NAME} must hold a JSON object, not {_json_type(document)}"]
    return document, []


def read_metadata(document: Mapping[str, Any], model_type: ModelType) -> tuple[Metadata | None, list[str]]:
    """Apply the document-only rules; Metadata is None only when ``function`` itself is unusable."""
    problems: list[str] = []
    function = _function(document.get(FUNCTION), problems)
    if function is None:
        return None, problems
    allowed = FUNCTIONS_BY_MODEL_TYPE[model_type]
    if function not in allowed:
        names = " and ".join(f.value.lower() for f in allowed)
        problems.append(
            f"function {function.value.lower()} is not supported for modelType {model_type.value}, "
            f"which supports {names}"
        )
    outputs = {name: _output_name(document, name, problems) for name in _OUTPUT_FIELDS[function]}
    if function is Function.CLUSTERING:
        given = [name for name, value in outputs.items() if value is not None]
        if len(given) != 1:
            state = "both are given" if given else "neither is given"
            problems.append(
                f"clustering needs exactly one of {CLUSTERING_DISTANCE_OUTPUT} and "
                f"{CLUSTERING_PROB_OUTPUT}; {state}"
            )
    image = _image_fields(document, problems) if model_type is ModelType.ONNX_IMG else None
    metadata = Metadata(
        function=function,
        regression_output=outputs.get(REGRESSION_OUTPUT),
        classification_prob_output=outputs.get(CLASSIFICATION_PROB_OUTPUT),
        classification_label_output=outputs.get(CLASSIFICATION_LABEL_OUTPUT),
        clustering_distance_output=outputs.get(CLUSTERING_DISTANCE_OUTPUT),
        clustering_prob_output=outputs.get(CLUSTERING_PROB_OUTPUT),
        image=image,
    )
    return metadata, problems


def _function(value: object, problems: list[str]) -> Function | None:
    choices = ", ".join(FUNCTION_NAMES)
    if value is None:
        problems.append(f"{_field(FUNCTION)} is required (one of {choices})")
        return None
    function = FUNCTION_NAMES.get(value.lower()) if isinstance(value, str) else None
    if function is None:
        problems.append(f"{_field(FUNCTION)} must be one of {choices}, not {json.dumps(value)}")
    return function


def _output_name(document: Mapping[str, Any], name: str, problems: list[str]) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problems.append(
            f"{_field(name)} must be an output name (a non-empty string), not {json.dumps(value)}"
        )
        return None
    return value


def _image_fields(document: Mapping[str, Any], problems: list[str]) -> ImageFields:
    """Each field checked on its own; a bad field falls back to its default so the others still count."""
    defaults = ImageFields()
    input_channel = _input_channel(document.get(INPUT_CHANNEL), problems) or defaults.input_channel
    # inputChannel L names a one-channel model: channel defaults to 1 then
    channel_value = document.get(CHANNEL)
    if channel_value is None and input_channel == "L":
        channel_value = 1
    channel = _channel(channel_value, problems)
    if input_channel == "L" and channel != 1:
        problems.append(f"{_field(INPUT_CHANNEL)} L (grey) needs {_field(CHANNEL)} 1, not {channel}")
    resize_type = _choice(document, RESIZE_TYPE, RESIZE_TYPES, problems) or defaults.resize_type
    mean_file = _mean_file(document.get(MEAN_FILE), problems)
    if mean_file is not None and document.get(MEAN) is not None:
        problems.append(f"{_field(MEAN_FILE)} and {_field(MEAN)} cannot both be given")
    crop_size = _side(document, CROP_SIZE, problems)
    if resize_type == "SHORTER_SIDE" and crop_size is None and document.get(CROP_SIZE) is None:
        problems.append(
            f"{_field(CROP_SIZE)} is required with {RESIZE_TYPE} SHORTER_SIDE: the length the shorter side "
            "is resized to before the centre crop of height x width"
        )
    return ImageFields(
        height=_side(document, HEIGHT, problems),
        width=_side(document, WIDTH, problems),
        channel=channel,
        mean=_per_channel(document, MEAN, channel, 0.0, problems),
        scale=_per_channel(document, SCALE, channel, 1.0, problems),
        input_channel=input_channel,
        dim_names=_layout_names(document, problems) or defaults.dim_names,
        resize_type=resize_type,
        resize_filter=_choice(document, RESIZE_FILTER, RESIZE_FILTERS, problems) or defaults.resize_filter,
        crop_size=crop_size,
        fill_color=_fill_color(document.get(FILL_COLOR), channel, problems),
        pixel_scaling=_pixel_scaling(document.get(PIXEL_SCALING), problems),
        mean_file=mean_file,
    )


def _layout_names(document: Mapping[str, Any], problems: list[str]) -> tuple[str, ...] | None:
    """``inputTensorDimNames``, or ``dimensionOrder`` (NCHW or NHWC) as a shorter way to say it."""
    names = _dim_names(document.get(INPUT_TENSOR_DIM_NAMES), problems)
    order = document.get(DIMENSION_ORDER)
    if order is None:
        return names
    layout = DIMENSION_ORDERS.get(order.upper()) if isinstance(order, str) else None
    if layout is None:
        problems.append(f"{_field(DIMENSION_ORDER)} must be NCHW or NHWC, not {json.dumps(order)}")
        return names
    if names is not None and names != layout:
        problems.append(
            f"{_field(DIMENSION_ORDER)} {order.upper()} disagrees with {_field(INPUT_TENSOR_DIM_NAMES)} "
            f"{list(names)}; give one of them"
        )
        return None
    return layout


def _choice(
    document: Mapping[str, Any], name: str, choices: tuple[str, ...], problems: list[str]
) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value.upper() in choices:
        return value.upper()
    problems.append(f"{_field(name)} must be one of {', '.join(choices)}, not {json.dumps(value)}")
    return None


def _mean_file(value: object, problems: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.endswith(MEAN_FILE_SUFFIX) or len(value) > 255:
        problems.append(
            f"{_field(MEAN_FILE)} must name a {MEAN_FILE_SUFFIX} file in the archive, not {json.dumps(value)}"
        )
        return None
    return value


def _fill_color(value: object, channel: int, problems: list[str]) -> tuple[int, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    colour = [_integer(item) for item in items]
    if len(colour) not in (1, channel) or any(c is None or not 0 <= c <= 255 for c in colour):
        problems.append(
            f"{_field(FILL_COLOR)} must be one 0-255 value, or one per channel, not {json.dumps(value)}"
        )
        return ()
    return tuple(c for c in colour if c is not None)


def _pixel_scaling(value: object, problems: list[str]) -> float | None:
    if value is None:
        return None
    if not _is_number(value) or not 0 < value <= 1e6:  # type: ignore[operator]
        problems.append(f"{_field(PIXEL_SCALING)} must be a number above 0, not {json.dumps(value)}")
        return None
    return float(value)  # type: ignore[arg-type]


def _side(document: Mapping[str, Any], name: str, problems: list[str]) -> int | None:
    value = document.get(name)
    if value is None:
        return None
    side = _integer(value)
    if side is None or not 1 <= side <= MAX_IMAGE_SIDE:
        problems.append(
            f"{_field(name)} must be a whole number of pixels from 1 to {MAX_IMAGE_SIDE}, not {value!r}"
        )
        return None
    return side


def _channel(value: object, problems: list[str]) -> int:
    if value is None:
        return DEFAULT_CHANNEL
    channel = _integer(value)
    if channel not in CHANNEL_COUNTS:
        problems.append(f"{_field(CHANNEL)} must be 1 (grayscale) or 3 (color), not {value!r}")
        return DEFAULT_CHANNEL
    return channel


def _per_channel(
    document: Mapping[str, Any], name: str, channel: int, default: float, problems: list[str]
) -> tuple[float, ...]:
    value = document.get(name)
    if value is None:
        return (default,) * channel
    numbers = value if isinstance(value, list) else []
    if not (isinstance(value, list) and all(_is_number(item) for item in numbers)) or len(numbers) != channel:
        problems.append(
            f"{_field(name)} must list {channel} number{'s' if channel > 1 else ''} "
            f"(one per channel), not {json.dumps(value)}"
        )
        return (default,) * channel
    return tuple(float(item) for item in numbers)


def _input_channel(value: object, problems: list[str]) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.upper() in CHANNEL_ORDERS:
        return value.upper()
    problems.append(f"{_field(INPUT_CHANNEL)} must be RGB, BGR or L (grey), not {json.dumps(value)}")
    return None


def _dim_names(value: object, problems: list[str]) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(item.lower() for item in value if isinstance(item, str)) if isinstance(value, list) else ()
    if not isinstance(value, list) or len(names) != len(value) or sorted(names) != sorted(DIM_NAMES):
        problems.append(
            f"{_field(INPUT_TENSOR_DIM_NAMES)} must list each of {', '.join(DIM_NAMES)} once, "
            f"not {json.dumps(value)}"
        )
        return None
    if names[0] != "batch":
        problems.append(f"{_field(INPUT_TENSOR_DIM_NAMES)} must start with batch (dim 0 is the batch)")
        return None
    return names


def _integer(value: object) -> int | None:
    """An int from a JSON number that is whole (224 or 224.0); None for anything else, bools included."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _json_type(value: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _field(name: str) -> str:
    return f"{METADATA_NAME} field {name!r}"
