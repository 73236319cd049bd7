"""What a stored model is, in the words scoring and documentation need.

A :class:`ScoringSpec` is produced once, when a model is stored and validated
(``omlsvc.repository``), kept as JSON in the model's row, and read back by scoring, the
per-deployment OpenAPI generator and the metadata endpoint. It is the only contract between those
packages, so it holds plain values and round-trips through :meth:`ScoringSpec.to_json` /
:meth:`ScoringSpec.from_json` without loss.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any


class ModelType(enum.StrEnum):
    ONNX = "ONNX"
    ONNX_IMG = "ONNX_IMG"


class Function(enum.StrEnum):
    CLASSIFICATION = "CLASSIFICATION"
    REGRESSION = "REGRESSION"
    CLUSTERING = "CLUSTERING"
    FEATURE_EXTRACTION = "FEATURE_EXTRACTION"


class ValueKind(enum.StrEnum):
    TENSOR = "tensor"
    #: skl2onnx's ZipMap output: a sequence (one per row) of maps label -> probability.
    SEQUENCE_OF_MAPS = "sequence_of_maps"
    #: anything else onnxruntime can return (sequences of tensors, optional, ...); never scored.
    OTHER = "other"


class LabelSource(enum.StrEnum):
    #: ``labels`` holds the class (or cluster) names in column order: from label.txt, or read from
    #: the graph (ZipMap / ai.onnx.ml classifier ``classlabels_*`` attributes).
    STATIC = "static"
    #: the class names are read at score time from ``label_output`` (a tensor of nClasses names).
    OUTPUT = "output"
    #: the class names are the keys of each ZipMap map (``output`` is a sequence of maps).
    MAP_KEYS = "map_keys"
    #: no names: the column index, as a string, is the label (clustering without label.txt).
    INDEX = "index"


#: ONNX element type names as the OML metadata endpoint spells them (``attributeType``).
ELEMENT_TYPES = (
    "FLOAT",
    "DOUBLE",
    "FLOAT16",
    "BFLOAT16",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "BOOL",
    "STRING",
    "UNKNOWN",
)


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output.

    ``shape`` uses ``-1`` for a dynamic dimension and is ``None`` when even the rank is unknown.
    For ``SEQUENCE_OF_MAPS`` values, ``element_type`` is the map's value type and ``key_type`` its
    key type (``STRING`` or ``INT64``); ``shape`` is then ``None``.
    """

    name: str
    kind: ValueKind
    element_type: str
    shape: tuple[int, ...] | None
    key_type: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorInfo:
        shape = data.get("shape")
        return cls(
            name=data["name"],
            kind=ValueKind(data["kind"]),
            element_type=data["element_type"],
            shape=None if shape is None else tuple(int(d) for d in shape),
            key_type=data.get("key_type"),
        )


@dataclass(frozen=True)
class ImageSpec:
    """How an image file becomes the model's 4-D input (spec section 8.7, ARCHITECTURE decisions).

    ``mean`` and ``scale`` are listed in RGB order (one value when ``channel`` is 1) and applied as
    ``(pixel - mean[c]) * scale[c]`` before channels are reordered to ``input_channel``.
    ``dim_names`` names the input's axes in order, a permutation of batch/channel/height/width.
    """

    input_name: str
    height: int
    width: int
    channel: int
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    input_channel: str = "RGB"
    dim_names: tuple[str, ...] = ("batch", "channel", "height", "width")
    element_type: str = "FLOAT"
    # -- issue 16: richer preprocessing; the defaults are the OML behaviour ------------------------
    #: SQUASH (resize to height x width), CROP (cover, centre crop), FILL (fit, pad with
    #: ``fill_color``), SHORTER_SIDE (shorter side to ``crop_size``, centre crop height x width).
    resize_type: str = "SQUASH"
    #: the Pillow filter of the resize: BILINEAR, BICUBIC, LANCZOS or NEAREST.
    resize_filter: str = "BILINEAR"
    #: SHORTER_SIDE: the length the shorter side is resized to before the centre crop.
    crop_size: int | None = None
    #: FILL: the padding colour, one 0-255 value per channel of the decoded image (RGB order).
    fill_color: tuple[int, ...] = ()
    #: pixels are scaled from [0, 255] to [0, pixel_scaling] before the mean is subtracted.
    pixel_scaling: float | None = None
    #: a ``.npy`` in the package (H x W x C, or C; RGB order) subtracted instead of ``mean``.
    mean_file: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageSpec:
        crop = data.get("crop_size")
        scaling = data.get("pixel_scaling")
        return cls(
            input_name=data["input_name"],
            height=int(data["height"]),
            width=int(data["width"]),
            channel=int(data["channel"]),
            mean=tuple(float(v) for v in data["mean"]),
            scale=tuple(float(v) for v in data["scale"]),
            input_channel=data.get("input_channel", "RGB"),
            dim_names=tuple(data.get("dim_names", ("batch", "channel", "height", "width"))),
            element_type=data.get("element_type", "FLOAT"),
            resize_type=data.get("resize_type", "SQUASH"),
            resize_filter=data.get("resize_filter", "BILINEAR"),
            crop_size=None if crop is None else int(crop),
            fill_color=tuple(int(v) for v in data.get("fill_color") or ()),
            pixel_scaling=None if scaling is None else float(scaling),
            mean_file=data.get("mean_file"),
        )


@dataclass(frozen=True)
class ScoringSpec:
    """Everything needed to turn requests into tensors and tensors into ``scoringResults``.

    ``output`` is the graph output that carries the result: the probability output for
    classification, the regression output, the distance or probability output for clustering
    (``cluster_measure`` says which), the feature output for feature extraction.
    ``labels`` holds class or cluster names when ``label_source`` is ``STATIC``.
    """

    model_type: ModelType
    function: Function
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    output: str
    label_source: LabelSource | None = None
    label_output: str | None = None
    labels: tuple[str, ...] | None = None
    #: "probability" or "distance" for clustering, else None.
    cluster_measure: str | None = None
    image: ImageSpec | None = None
    #: number of classes, clusters or features when the graph fixes it, else None.
    width: int | None = None
    opset: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def input(self, name: str) -> TensorInfo:
        return next(t for t in self.inputs if t.name == name)

    def output_info(self, name: str) -> TensorInfo:
        return next(t for t in self.outputs if t.name == name)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=_enum_value)

    @classmethod
    def from_json(cls, text: str) -> ScoringSpec:
        data = json.loads(text)
        return cls(
            model_type=ModelType(data["model_type"]),
            function=Function(data["function"]),
            inputs=tuple(TensorInfo.from_dict(t) for t in data["inputs"]),
            outputs=tuple(TensorInfo.from_dict(t) for t in data["outputs"]),
            output=data["output"],
            label_source=LabelSource(data["label_source"]) if data.get("label_source") else None,
            label_output=data.get("label_output"),
            labels=tuple(data["labels"]) if data.get("labels") is not None else None,
            cluster_measure=data.get("cluster_measure"),
            image=ImageSpec.from_dict(data["image"]) if data.get("image") else None,
            width=data.get("width"),
            opset=data.get("opset"),
            extra=dict(data.get("extra") or {}),
        )


def _enum_value(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
