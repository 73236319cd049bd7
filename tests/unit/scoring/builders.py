"""Tiny real ONNX models and hand-made ScoringSpecs for the scoring tests.

The repository validator is what produces a ScoringSpec in the service; these helpers build the same
thing directly from the graph so the scoring core can be tested on its own.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from omlsvc.core.signature import (
    Function,
    ImageSpec,
    LabelSource,
    ModelType,
    ScoringSpec,
    TensorInfo,
    ValueKind,
)

OPSETS = {"": 17, "ai.onnx.ml": 3}
IRIS_NAMES = ("setosa", "versicolor", "virginica")


@dataclass(frozen=True)
class BuiltModel:
    """A model file plus the spec the validator would derive from it."""

    path: Path
    spec: ScoringSpec

    def session(self) -> ort.InferenceSession:
        return ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])


def tensor_infos(values: Any) -> tuple[TensorInfo, ...]:
    """TensorInfo for graph inputs/outputs, as the validator records them."""
    infos = []
    for value in values:
        type_proto = value.type
        if type_proto.HasField("tensor_type"):
            tensor = type_proto.tensor_type
            shape = None
            if tensor.HasField("shape"):
                shape = tuple(d.dim_value if d.dim_value > 0 else -1 for d in tensor.shape.dim)
            infos.append(
                TensorInfo(value.name, ValueKind.TENSOR, TensorProto.DataType.Name(tensor.elem_type), shape)
            )
        elif type_proto.HasField("sequence_type") and type_proto.sequence_type.elem_type.HasField("map_type"):
            map_type = type_proto.sequence_type.elem_type.map_type
            infos.append(
                TensorInfo(
                    value.name,
                    ValueKind.SEQUENCE_OF_MAPS,
                    TensorProto.DataType.Name(map_type.value_type.tensor_type.elem_type),
                    None,
                    key_type=TensorProto.DataType.Name(map_type.key_type),
                )
            )
        else:
            infos.append(TensorInfo(value.name, ValueKind.OTHER, "UNKNOWN", None))
    return tuple(infos)


def make_spec(model: onnx.ModelProto, function: Function, output: str, **fields: Any) -> ScoringSpec:
    model_type = ModelType.ONNX_IMG if fields.get("image") is not None else ModelType.ONNX
    return ScoringSpec(
        model_type=model_type,
        function=function,
        inputs=tensor_infos(model.graph.input),
        outputs=tensor_infos(model.graph.output),
        output=output,
        **fields,
    )


def save(model: onnx.ModelProto, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


# -- sklearn models ------------------------------------------------------------------------------


def iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    features, target = load_iris(return_X_y=True)
    return features.astype(np.float32), target


def _to_onnx(estimator: Any, sample: np.ndarray, options: dict[str, Any] | None = None) -> onnx.ModelProto:
    from skl2onnx import to_onnx

    kwargs: dict[str, Any] = {"target_opset": OPSETS}
    if options:
        kwargs["options"] = {id(estimator): options}
    return to_onnx(estimator, sample, **kwargs)


def make_regressor(folder: Path) -> BuiltModel:
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    features = rng.normal(size=(50, 3)).astype(np.float32)
    target = features @ np.array([1.5, -2.0, 0.5]) + 3.0
    model = _to_onnx(LinearRegression().fit(features, target), features[:1])
    return BuiltModel(save(model, folder, "regressor"), make_spec(model, Function.REGRESSION, "variable"))


def make_zipmap_classifier(folder: Path, *, string_labels: bool) -> BuiltModel:
    from sklearn.linear_model import LogisticRegression

    features, target = iris()
    labels = np.array(IRIS_NAMES)[target] if string_labels else target
    model = _to_onnx(LogisticRegression(max_iter=500).fit(features, labels), features[:1])
    name = "zipmap_str" if string_labels else "zipmap_int"
    spec = make_spec(model, Function.CLASSIFICATION, "output_probability", label_source=LabelSource.MAP_KEYS)
    return BuiltModel(save(model, folder, name), spec)


def make_static_label_classifier(folder: Path) -> BuiltModel:
    """zipmap=False: a probability tensor, labels from label.txt (STATIC)."""
    from sklearn.linear_model import LogisticRegression

    features, target = iris()
    model = _to_onnx(LogisticRegression(max_iter=500).fit(features, target), features[:1], {"zipmap": False})
    spec = make_spec(
        model,
        Function.CLASSIFICATION,
        "probabilities",
        label_source=LabelSource.STATIC,
        labels=IRIS_NAMES,
        width=3,
    )
    return BuiltModel(save(model, folder, "static_labels"), spec)


def make_kmeans(folder: Path, *, labels: tuple[str, ...] | None = None) -> BuiltModel:
    from sklearn.cluster import KMeans

    features, _ = iris()
    model = _to_onnx(KMeans(3, n_init=2, random_state=0).fit(features), features[:1])
    spec = make_spec(
        model,
        Function.CLUSTERING,
        "scores",
        cluster_measure="distance",
        label_source=LabelSource.STATIC if labels else LabelSource.INDEX,
        labels=labels,
    )
    return BuiltModel(save(model, folder, "kmeans" if labels is None else "kmeans_labels"), spec)


def make_gmm(folder: Path) -> BuiltModel:
    from sklearn.mixture import GaussianMixture

    features, _ = iris()
    model = _to_onnx(GaussianMixture(3, random_state=0).fit(features), features[:1])
    spec = make_spec(
        model,
        Function.CLUSTERING,
        "probabilities",
        cluster_measure="probability",
        label_source=LabelSource.INDEX,
    )
    return BuiltModel(save(model, folder, "gmm"), spec)


# -- onnx.helper models --------------------------------------------------------------------------


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(domain, version) for domain, version in OPSETS.items()]
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_multi_input_classifier(folder: Path) -> BuiltModel:
    """A string input ``colour`` [N,1] and a float input ``size`` [N,2] -> softmax over no/yes."""
    encoder = helper.make_node(
        "LabelEncoder",
        ["colour"],
        ["colour_code"],
        domain="ai.onnx.ml",
        keys_strings=["red", "green", "blue"],
        values_floats=[1.0, 2.0, 3.0],
        default_float=0.0,
    )
    weights = numpy_helper.from_array(np.array([[0.8, -0.8], [0.3, 0.1], [-0.5, 0.7]], np.float32), "W")
    nodes = [
        encoder,
        helper.make_node("Concat", ["colour_code", "size"], ["joined"], axis=1),
        helper.make_node("MatMul", ["joined", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "multi_input",
        [
            helper.make_tensor_value_info("colour", TensorProto.STRING, [None, 1]),
            helper.make_tensor_value_info("size", TensorProto.FLOAT, [None, 2]),
        ],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2])],
        [weights],
    )
    model = _model(graph)
    spec = make_spec(
        model, Function.CLASSIFICATION, "probabilities", label_source=LabelSource.STATIC, labels=("no", "yes")
    )
    return BuiltModel(save(model, folder, "multi_input"), spec)


def make_label_output_classifier(folder: Path, *, int_labels: bool = False) -> BuiltModel:
    """Softmax probabilities plus a constant label tensor output (LabelSource.OUTPUT)."""
    if int_labels:
        label_tensor = numpy_helper.from_array(np.array([10, 20, 30], np.int64), "label_values")
    else:
        label_tensor = helper.make_tensor(
            "label_values",
            TensorProto.STRING,
            [3],
            [b"low", b"mid", b"high"],  # type: ignore[list-item]
        )
    weights = numpy_helper.from_array(np.array([[1.0, 0.0, -1.0], [0.5, 1.0, 0.0]], np.float32), "W")
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        helper.make_node("Constant", [], ["labels"], value=label_tensor),
    ]
    graph = helper.make_graph(
        nodes,
        "label_output",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, [None, 3]),
            helper.make_tensor_value_info(
                "labels", TensorProto.INT64 if int_labels else TensorProto.STRING, [3]
            ),
        ],
        [weights],
    )
    model = _model(graph)
    spec = make_spec(
        model, Function.CLASSIFICATION, "probs", label_source=LabelSource.OUTPUT, label_output="labels"
    )
    return BuiltModel(save(model, folder, "label_output_int" if int_labels else "label_output"), spec)


def make_typed_identity(folder: Path, element_type: int, name: str, width: int = 2) -> BuiltModel:
    """``x`` [N, width] of any type -> ``y`` = x (for input coercion tests)."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        name,
        [helper.make_tensor_value_info("x", element_type, [None, width])],
        [helper.make_tensor_value_info("y", element_type, [None, width])],
    )
    model = _model(graph)
    return BuiltModel(save(model, folder, name), make_spec(model, Function.REGRESSION, "y"))


IMAGE_SIZE = 16
IMAGE_CLASSES = ("cat", "dog", "bird", "fish")
IMAGE_MEAN = (123.68, 116.779, 103.939)
IMAGE_SCALE = (0.017, 0.018, 0.019)


def _image_weights() -> np.ndarray:
    rng = np.random.default_rng(42)
    return (rng.normal(size=(3 * IMAGE_SIZE * IMAGE_SIZE, len(IMAGE_CLASSES))) * 0.05).astype(np.float32)


def make_image_classifier(folder: Path, *, layout: str = "NCHW", batch: int | None = None) -> BuiltModel:
    """Flatten -> MatMul -> Softmax; ``NHWC`` is the same network exported for BGR, NHWC input.

    The NHWC/BGR weights are the NCHW/RGB ones transposed: weight row (c, h, w) moves to (h, w, 2 - c),
    so both models give the same probabilities for the same image.
    """
    size = IMAGE_SIZE
    weights = _image_weights()
    if layout == "NCHW":
        shape = [batch, 3, size, size]
        dim_names = ("batch", "channel", "height", "width")
        input_channel = "RGB"
    else:
        per_pixel = weights.reshape(3, size, size, -1).transpose(1, 2, 0, 3)[:, :, ::-1, :]
        weights = np.ascontiguousarray(per_pixel).reshape(3 * size * size, -1)
        shape = [batch, size, size, 3]
        dim_names = ("batch", "height", "width", "channel")
        input_channel = "BGR"
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        f"image_{layout}",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, len(IMAGE_CLASSES)])],
        [numpy_helper.from_array(weights, "W")],
    )
    model = _model(graph)
    image = ImageSpec(
        input_name="image",
        height=size,
        width=size,
        channel=3,
        mean=IMAGE_MEAN,
        scale=IMAGE_SCALE,
        input_channel=input_channel,
        dim_names=dim_names,
    )
    spec = make_spec(
        model,
        Function.CLASSIFICATION,
        "probs",
        label_source=LabelSource.STATIC,
        labels=IMAGE_CLASSES,
        image=image,
    )
    suffix = "" if batch is None else f"_b{batch}"
    return BuiltModel(save(model, folder, f"image_{layout.lower()}{suffix}"), spec)


def make_feature_extractor(folder: Path) -> BuiltModel:
    """Per-channel mean and max over the image, as a ``[N, 2, 3, 1]`` output (flattened per row)."""
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["avg"], axes=[2, 3], keepdims=1),
        helper.make_node("ReduceMax", ["image"], ["top"], axes=[2, 3], keepdims=1),
        helper.make_node("Concat", ["avg", "top"], ["both"], axis=3),
        helper.make_node("Transpose", ["both"], ["features"], perm=[0, 3, 1, 2]),
    ]
    size = IMAGE_SIZE
    graph = helper.make_graph(
        nodes,
        "features",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 3, size, size])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 2, 3, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    image = ImageSpec(input_name="image", height=size, width=size, channel=3, mean=(0.0,), scale=(1 / 255,))
    spec = make_spec(model, Function.FEATURE_EXTRACTION, "features", image=image)
    return BuiltModel(save(model, folder, "features"), spec)


# -- images --------------------------------------------------------------------------------------


def gradient_image(width: int, height: int, *, mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A smooth but asymmetric test picture (so flips, rotations and channel swaps all show)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    red = 255 * xs / max(width - 1, 1)
    green = 255 * ys / max(height - 1, 1)
    blue = 127 + 100 * np.sin(xs / 3.0) * np.cos(ys / 5.0)
    pixels = np.stack([red, green, blue], axis=-1) + rng.normal(0, 4, size=(height, width, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    return image if mode == "RGB" else image.convert(mode)


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()
