"""Real tiny ONNX models packed as OML model packages, for tests at every level.

Every ``make_*_zip`` builds a real model (trained with scikit-learn and converted with skl2onnx, or
written with ``onnx.helper``), packs it with its metadata.json (and label.txt where the model needs
one) into ``directory`` and returns a :class:`ZooModel`: the zip path plus what a test compares
against. Metadata and labels can be overridden to build broken variants of a good package.
Training and conversion are cached per process, so a model costs milliseconds after its first use;
scikit-learn and skl2onnx are imported only when a model needs them (about a second, paid once).

``write_zip`` packs arbitrary bytes for hand-made broken packages; ``make_tabular_model`` and
``make_image_model`` build graphs with exactly the outputs a rule needs (see their docstrings).
"""

from __future__ import annotations

import functools
import io
import json
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: Opsets every zoo model uses: old enough for any onnxruntime the project supports.
OPSET = 17
ML_OPSET = 3
IR_VERSION = 8
IRIS_CLASSES = ("setosa", "versicolor", "virginica")
IMAGE_CLASSES = ("cat", "dog", "fox", "owl")
IMAGE_MEAN = [123.68, 116.779, 103.939]
IMAGE_SCALE = [0.017, 0.017, 0.017]
IMAGE_SIZE = 8
FEATURES = 4

_Metadata = Mapping[str, Any] | bytes
_SKL2ONNX_OPSETS = {"": OPSET, "ai.onnx.ml": ML_OPSET}


@dataclass(frozen=True)
class ZooModel:
    """A packed model and what tests compare against.

    ``sample`` is a small input batch (input name -> array) the model accepts as is; ``classes`` are
    the class names in probability-column order where the model has classes; ``image_png`` is a
    small RGB image for image models.
    """

    zip_path: Path
    onnx_bytes: bytes
    metadata: Mapping[str, Any] | None
    labels: tuple[str, ...] | None
    sample: Mapping[str, np.ndarray]
    classes: tuple[str, ...] | None = None
    image_png: bytes | None = None
    extra_files: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def model(self) -> onnx.ModelProto:
        return onnx.load_from_string(self.onnx_bytes)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(value.name for value in self.model.graph.input)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(value.name for value in self.model.graph.output)


# --- packing ---------------------------------------------------------------------------------------


def write_zip(path: Path, files: Mapping[str, bytes], folder: str | None = None) -> Path:
    """Zip ``files`` (name -> content, names used verbatim) to ``path``, under ``folder/`` if given."""
    prefix = f"{folder}/" if folder else ""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(prefix + name, content)
    return path


def package_files(
    onnx_bytes: bytes,
    metadata: _Metadata | None,
    labels: Sequence[str] | None = None,
    *,
    onnx_name: str = "model.onnx",
    extra_files: Mapping[str, bytes] | None = None,
) -> dict[str, bytes]:
    """The files of a package: the model, metadata.json (a mapping is dumped), label.txt (one per line)."""
    files = {onnx_name: onnx_bytes}
    if metadata is not None:
        files["metadata.json"] = metadata if isinstance(metadata, bytes) else json.dumps(metadata).encode()
    if labels is not None:
        files["label.txt"] = "".join(f"{label}\n" for label in labels).encode()
    files.update(extra_files or {})
    return files


def zip_package(
    directory: Path,
    stem: str,
    model: onnx.ModelProto | bytes,
    metadata: _Metadata | None,
    labels: Sequence[str] | None = None,
    *,
    folder: str | None = None,
    extra_files: Mapping[str, bytes] | None = None,
    sample: Mapping[str, np.ndarray] | None = None,
    classes: Sequence[str] | None = None,
    image_png: bytes | None = None,
) -> ZooModel:
    """Pack ``model`` as ``directory/<stem>.zip`` holding ``<stem>.onnx``; the generic zoo builder."""
    onnx_bytes = model if isinstance(model, bytes) else model.SerializeToString()
    files = package_files(onnx_bytes, metadata, labels, onnx_name=f"{stem}.onnx", extra_files=extra_files)
    return ZooModel(
        zip_path=write_zip(directory / f"{stem}.zip", files, folder),
        onnx_bytes=onnx_bytes,
        metadata=None if metadata is None or isinstance(metadata, bytes) else dict(metadata),
        labels=None if labels is None else tuple(labels),
        sample=dict(sample or {}),
        classes=None if classes is None else tuple(classes),
        image_png=image_png,
        extra_files=dict(extra_files or {}),
    )


# --- scikit-learn models -------------------------------------------------------------------------


def make_regressor_zip(directory: Path, *, metadata: _Metadata | None = None) -> ZooModel:
    """LinearRegression on 3 features; input ``float_input`` [None, 3], one output [None, 1]."""
    x = _iris()[0][:, :3]
    return zip_package(
        directory,
        "regressor",
        _regressor_onnx(),
        {"function": "regression"} if metadata is None else metadata,
        sample={"float_input": x[:2]},
    )


def make_linear_regressor_zip(
    directory: Path, weights: Sequence[float], *, bias: float = 0.0, stem: str | None = None
) -> ZooModel:
    """``float_input @ weights + bias``: input ``float_input`` [None, len(weights)], output
    ``variable`` [None, 1]. Different weights make regressors one tells apart by their answers."""
    width = len(weights)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["float_input", "weights"], ["product"]),
            helper.make_node("Add", ["product", "bias"], ["variable"]),
        ],
        "linear",
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, width])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])],
        [
            numpy_helper.from_array(np.array(weights, np.float32).reshape(width, 1), "weights"),
            numpy_helper.from_array(np.array([bias], np.float32), "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    sample = np.arange(2 * width, dtype=np.float32).reshape(2, width)
    return zip_package(
        directory,
        stem or f"linear_{width}_{abs(hash(tuple(weights))) % 10**6}",
        model,
        {"function": "regression"},
        sample={"float_input": sample},
    )


def make_zipmap_classifier_zip(
    directory: Path, *, metadata: _Metadata | None = None, labels: Sequence[str] | None = None
) -> ZooModel:
    """LogisticRegression on iris with string classes, skl2onnx's default ZipMap output (case 2).

    Outputs: ``output_label`` (string [None]) and ``output_probability`` (seq(map(string, float))).
    """
    return zip_package(
        directory,
        "iris_zipmap",
        _zipmap_classifier_onnx(),
        {"function": "classification"} if metadata is None else metadata,
        labels,
        sample={"float_input": _iris()[0][:2]},
        classes=IRIS_CLASSES,
    )


def make_plain_classifier_zip(
    directory: Path, *, metadata: _Metadata | None = None, labels: Sequence[str] | None = IRIS_CLASSES
) -> ZooModel:
    """LogisticRegression on iris with integer classes, ``zipmap=False``, plus label.txt (case 3).

    Outputs: ``label`` (int64 [None], one prediction per row) and ``probabilities`` (float [None, 3]);
    the classifier node holds ``classlabels_ints`` 0, 1, 2. The default metadata names the
    probability output, so label.txt names the classes.
    """
    model = _plain_classifier_onnx()
    probabilities = _output_named(model, "prob")
    default = {"function": "classification", "classificationProbOutput": probabilities}
    return zip_package(
        directory,
        "iris_plain",
        model,
        default if metadata is None else metadata,
        labels,
        sample={"float_input": _iris()[0][:2]},
        classes=IRIS_CLASSES,
    )


def make_multi_input_pipeline_zip(directory: Path, *, metadata: _Metadata | None = None) -> ZooModel:
    """A pipeline with two inputs, ``cat`` (string [None, 1]) and ``num`` (float [None, 2]), ZipMap output.

    ColumnTransformer(OneHotEncoder on cat, StandardScaler on num) + LogisticRegression, classes no/yes.
    """
    rows = _pipeline_rows()
    return zip_package(
        directory,
        "pipeline",
        _pipeline_onnx(),
        {"function": "classification"} if metadata is None else metadata,
        sample={"cat": rows[0][:2, :1].astype(str), "num": rows[0][:2, 1:].astype(np.float32)},
        classes=("no", "yes"),
    )


def make_kmeans_zip(
    directory: Path, *, metadata: _Metadata | None = None, labels: Sequence[str] | None = None
) -> ZooModel:
    """KMeans (3 clusters) on iris: outputs ``label`` (int64 [None]) and ``scores`` (distances [None, 3])."""
    model = _kmeans_onnx()
    default = {"function": "clustering", "clusteringDistanceOutput": _output_named(model, "score")}
    return zip_package(
        directory,
        "kmeans",
        model,
        default if metadata is None else metadata,
        labels,
        sample={"float_input": _iris()[0][:2]},
    )


def make_gmm_zip(
    directory: Path, *, metadata: _Metadata | None = None, labels: Sequence[str] | None = None
) -> ZooModel:
    """GaussianMixture (3 components) on iris: ``label`` [None, 1], ``probabilities`` [None, 3], and more."""
    model = _gmm_onnx()
    default = {"function": "clustering", "clusteringProbOutput": _output_named(model, "prob")}
    return zip_package(
        directory,
        "gmm",
        model,
        default if metadata is None else metadata,
        labels,
        sample={"float_input": _iris()[0][:2]},
    )


# --- onnx.helper models ----------------------------------------------------------------------------


def make_image_classifier_zip(
    directory: Path,
    *,
    layout: str = "NCHW",
    channel_order: str = "RGB",
    fixed_size: bool = True,
    metadata: _Metadata | None = None,
    labels: Sequence[str] | None = IMAGE_CLASSES,
) -> ZooModel:
    """An image classifier: Conv, Relu, GlobalAveragePool, Gemm, Softmax over 4 classes (case 1).

    Input ``image`` float [None, 3, 8, 8] (NCHW) or [None, 8, 8, 3] (NHWC; height and width dynamic
    when ``fixed_size`` is False, and the metadata then gives them). Output ``probabilities``
    [None, 4]; label.txt names the classes. The metadata uses ImageNet-like mean and scale.
    """
    model = make_image_model(
        layout=layout,
        fixed_size=fixed_size,
        outputs={"probabilities": "probabilities"},
        channel_order=channel_order,
    )
    default: dict[str, Any] = {
        "function": "classification",
        "classificationProbOutput": "probabilities",
        "inputChannel": channel_order,
        "mean": IMAGE_MEAN,
        "scale": IMAGE_SCALE,
    }
    if layout == "NHWC":
        default["inputTensorDimNames"] = ["batch", "height", "width", "channel"]
    if not fixed_size:
        default.update(height=IMAGE_SIZE, width=IMAGE_SIZE)
    return zip_package(
        directory,
        f"image_{layout.lower()}_{channel_order.lower()}",
        model,
        default if metadata is None else metadata,
        labels,
        sample={"image": _image_batch(layout)},
        classes=IMAGE_CLASSES if labels is None else labels,
        image_png=_png(),
    )


def make_feature_extractor_zip(directory: Path, *, metadata: _Metadata | None = None) -> ZooModel:
    """An image embedding model: input ``image`` [None, 3, 8, 8], output ``features`` float [None, 4]."""
    model = make_image_model(outputs={"features": "features"})
    return zip_package(
        directory,
        "embedder",
        model,
        {"function": "feature_extraction"} if metadata is None else metadata,
        sample={"image": _image_batch("NCHW")},
        image_png=_png(),
    )


def make_external_data_zip(
    directory: Path, *, metadata: _Metadata | None = None, location: str = "weights.bin"
) -> ZooModel:
    """A MatMul + Add regressor whose weights live in ``weights.bin`` beside the model (external data).

    Input ``float_input`` [None, 4], output ``prediction`` [None, 1]. ``location`` is written into
    the graph as is (tests pass unsafe ones); the weights file is always packed as weights.bin.
    """
    onnx_bytes, weights = _external_data_model()
    if location != "weights.bin":
        model = onnx.load_from_string(onnx_bytes)
        for tensor in model.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = location
        onnx_bytes = model.SerializeToString()
    return zip_package(
        directory,
        "external",
        onnx_bytes,
        {"function": "regression"} if metadata is None else metadata,
        extra_files={"weights.bin": weights},
        sample={"float_input": _iris()[0][:2]},
    )


def make_runtime_failing_regressor_zip(directory: Path) -> ZooModel:
    """A regressor that loads, validates and scores ordinary rows, but fails inside onnxruntime when
    any value is over 100: its Reshape target then becomes ``[-1, 6]``, impossible for 3 values a
    row, so onnxruntime raises at run time with its C++ source path in the message.

    Input ``float_input`` [None, 3]; output ``row_sums`` [None, 1] (each row's sum).
    """
    nodes = [
        helper.make_node("ReduceMax", ["float_input"], ["largest"], keepdims=0),
        helper.make_node("Greater", ["largest", "limit"], ["too_large"]),
        helper.make_node("Cast", ["too_large"], ["doubling"], to=TensorProto.INT64),
        helper.make_node("Add", ["doubling", "one"], ["factor"]),
        helper.make_node("Mul", ["factor", "three"], ["width"]),
        helper.make_node("Unsqueeze", ["width", "axis0"], ["width_1d"]),
        helper.make_node("Concat", ["minus_one", "width_1d"], ["target"], axis=0),
        helper.make_node("Reshape", ["float_input", "target"], ["reshaped"]),
        helper.make_node("ReduceSum", ["reshaped", "axis1"], ["row_sums"], keepdims=1),
    ]
    initializers = [
        numpy_helper.from_array(np.array(100.0, np.float32), "limit"),
        numpy_helper.from_array(np.array(1, np.int64), "one"),
        numpy_helper.from_array(np.array(3, np.int64), "three"),
        numpy_helper.from_array(np.array([0], np.int64), "axis0"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
    ]
    graph = helper.make_graph(
        nodes,
        "runtime_failing",
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("row_sums", TensorProto.FLOAT, [None, 1])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    return zip_package(
        directory,
        "runtime_failing",
        model,
        {"function": "regression"},
        sample={"float_input": np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)},
    )


def make_tabular_model(
    outputs: Mapping[str, str],
    *,
    input_shape: Sequence[int | None] = (None, FEATURES),
    classes: Sequence[str] = IRIS_CLASSES,
    opset: int = OPSET,
) -> onnx.ModelProto:
    """A loadable model over input ``float_input`` whose outputs are exactly ``outputs`` (name -> kind).

    Kinds (k = len(classes)):

    - ``probabilities``: float [N, k], a softmax;
    - ``scores``: float [N, k] without softmax; ``values``: float [N, 1]; ``row_values``: float [N];
    - ``double_probabilities``: double [N, k]; ``int_scores``: int64 [N, k];
    - ``predicted``: int64 [N], the arg max; ``predicted_column``: int64 [N, 1];
    - ``class_names``: string [k], a constant; ``class_names_row``: string [1, k];
      ``too_few_class_names``: string [k - 1];
    - ``prob_maps``: seq(map(string, float)) from ZipMap with ``classlabels_strings`` = classes;
      ``int_prob_maps``: seq(map(int64, float)) with ``classlabels_int64s`` 0 .. k-1;
    - ``unknown_rank``: float with no shape information (the ONNX checker rejects it).
    """
    weights = np.random.default_rng(7).normal(size=(FEATURES, len(classes))).astype(np.float32)
    nodes = [
        helper.make_node("Flatten", ["float_input"], ["flat_out"], axis=1),
        helper.make_node("MatMul", ["flat_out", "weights"], ["scores_out"]),
        helper.make_node("Softmax", ["scores_out"], ["softmax_out"], axis=1),
    ]
    initializers = [numpy_helper.from_array(weights, "weights")]
    graph_outputs = []
    k = len(classes)
    for name, kind in outputs.items():
        new_nodes, value = _tabular_output(name, kind, classes)
        nodes += new_nodes
        graph_outputs.append(value)
    if any(kind in ("values", "row_values") for kind in outputs.values()):
        initializers.append(numpy_helper.from_array(np.ones((k, 1), np.float32), "column_weights"))
        initializers.append(numpy_helper.from_array(np.ones(k, np.float32), "column_vector"))
    graph = helper.make_graph(
        nodes,
        "tabular",
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, list(input_shape))],
        graph_outputs,
        initializers,
    )
    opsets = [helper.make_opsetid("", opset), helper.make_opsetid("ai.onnx.ml", ML_OPSET)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=IR_VERSION)


def make_image_model(
    *,
    layout: str = "NCHW",
    fixed_size: bool = True,
    channels: int = 3,
    outputs: Mapping[str, str],
    n_classes: int = len(IMAGE_CLASSES),
    channel_order: str = "RGB",
) -> onnx.ModelProto:
    """A loadable image model over one 4-D float input ``image`` with the ``outputs`` asked for.

    Kinds: ``probabilities`` (float [N, n_classes]), ``features`` (float [N, 4]), ``feature_maps``
    (float [N, 4, 8, 8]), ``predicted`` (int64 [N]). Layout ``NHWC`` transposes to NCHW first.
    Every variant is the same network: a ``BGR`` model has its first layer's input channels
    reversed, so it computes for a BGR image what the RGB model computes for the RGB image.
    """
    rng = np.random.default_rng(11)
    side: int | None = IMAGE_SIZE if fixed_size else None
    shape = [None, channels, side, side] if layout == "NCHW" else [None, side, side, channels]
    nodes = []
    source = "image"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["image"], ["nchw_out"], perm=[0, 3, 1, 2]))
        source = "nchw_out"
    nodes += [
        helper.make_node(
            "Conv", [source, "conv_w", "conv_b"], ["conv_out"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]
        ),
        helper.make_node("Relu", ["conv_out"], ["relu_out"]),
        helper.make_node("GlobalAveragePool", ["relu_out"], ["pooled_out"]),
        helper.make_node("Flatten", ["pooled_out"], ["embedding_out"], axis=1),
        helper.make_node("Gemm", ["embedding_out", "dense_w", "dense_b"], ["logits_out"]),
        helper.make_node("Softmax", ["logits_out"], ["softmax_out"], axis=1),
    ]
    conv_w = rng.normal(size=(4, channels, 3, 3)).astype(np.float32)
    if channel_order == "BGR":
        conv_w = np.ascontiguousarray(conv_w[:, ::-1])
    initializers = [
        numpy_helper.from_array(conv_w, "conv_w"),
        numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "conv_b"),
        numpy_helper.from_array(rng.normal(size=(4, n_classes)).astype(np.float32), "dense_w"),
        numpy_helper.from_array(rng.normal(size=n_classes).astype(np.float32), "dense_b"),
    ]
    sources = {
        "probabilities": ("softmax_out", TensorProto.FLOAT, [None, n_classes]),
        "features": ("embedding_out", TensorProto.FLOAT, [None, 4]),
        "feature_maps": ("relu_out", TensorProto.FLOAT, [None, 4, side, side]),
    }
    graph_outputs = []
    for name, kind in outputs.items():
        if kind == "predicted":
            nodes.append(helper.make_node("ArgMax", ["softmax_out"], [name], axis=1, keepdims=0))
            graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.INT64, [None]))
            continue
        value, element_type, out_shape = sources[kind]
        nodes.append(helper.make_node("Identity", [value], [name]))
        graph_outputs.append(helper.make_tensor_value_info(name, element_type, out_shape))
    graph = helper.make_graph(
        nodes,
        "image",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        graph_outputs,
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)


# --- models large enough to shrink (issue 15: variants) --------------------------------------------


def make_cnn_zip(directory: Path, *, channels: int = 32) -> ZooModel:
    """A small CNN whose weights dominate its file, so half precision and int8 shrink it: two 3x3
    convolutions of ``channels`` filters with Relu, GlobalAveragePool, Gemm, Softmax over 4 classes.
    Input ``image`` float [None, 3, 8, 8], output ``probabilities`` [None, 4]; label.txt names them."""
    rng = np.random.default_rng(5)
    nodes = [
        helper.make_node("Conv", ["image", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "dense_w", "dense_b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    weights = {
        "w1": rng.normal(scale=0.3, size=(channels, 3, 3, 3)),
        "b1": rng.normal(scale=0.1, size=channels),
        "w2": rng.normal(scale=0.1, size=(channels, channels, 3, 3)),
        "b2": rng.normal(scale=0.1, size=channels),
        "dense_w": rng.normal(size=(channels, len(IMAGE_CLASSES))),
        "dense_b": rng.normal(scale=0.1, size=len(IMAGE_CLASSES)),
    }
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 3, IMAGE_SIZE, IMAGE_SIZE])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, len(IMAGE_CLASSES)])],
        [numpy_helper.from_array(value.astype(np.float32), name) for name, value in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    metadata = {
        "function": "classification",
        "classificationProbOutput": "probabilities",
        "inputChannel": "RGB",
        "mean": IMAGE_MEAN,
        "scale": IMAGE_SCALE,
    }
    return zip_package(
        directory,
        "cnn",
        model,
        metadata,
        IMAGE_CLASSES,
        sample={"image": _image_batch("NCHW")},
        classes=IMAGE_CLASSES,
        image_png=_png(),
    )


def make_mlp_classifier_zip(directory: Path) -> ZooModel:
    """scikit-learn's MLPClassifier (two hidden layers of 64) on iris with string classes, skl2onnx's
    ZipMap output; its MatMul weights make int8 and half precision worth having."""
    return zip_package(
        directory,
        "iris_mlp",
        _mlp_classifier_onnx(),
        {"function": "classification"},
        sample={"float_input": _iris()[0][:4]},
        classes=IRIS_CLASSES,
    )


@functools.cache
def _mlp_classifier_onnx() -> bytes:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x, y = _iris()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=200, random_state=0)
        model.fit(x, np.array(IRIS_CLASSES)[y])
    return _convert(model, [("float_input", _float_type(4))])


# --- cached training and conversion ----------------------------------------------------------------


@functools.cache
def _iris() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y.astype(np.int64)


@functools.cache
def _regressor_onnx() -> bytes:
    from sklearn.linear_model import LinearRegression

    x, _ = _iris()
    model = LinearRegression().fit(x[:, :3], x[:, 3])
    return _convert(model, [("float_input", _float_type(3))])


@functools.cache
def _zipmap_classifier_onnx() -> bytes:
    from sklearn.linear_model import LogisticRegression

    x, y = _iris()
    model = LogisticRegression(max_iter=1000).fit(x, np.array(IRIS_CLASSES)[y])
    return _convert(model, [("float_input", _float_type(4))])


@functools.cache
def _plain_classifier_onnx() -> bytes:
    from sklearn.linear_model import LogisticRegression

    x, y = _iris()
    model = LogisticRegression(max_iter=1000).fit(x, y)
    return _convert(model, [("float_input", _float_type(4))], options={"zipmap": False})


@functools.cache
def _kmeans_onnx() -> bytes:
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=3, n_init=1, random_state=0).fit(_iris()[0])
    return _convert(model, [("float_input", _float_type(4))])


@functools.cache
def _gmm_onnx() -> bytes:
    from sklearn.mixture import GaussianMixture

    model = GaussianMixture(n_components=3, random_state=0).fit(_iris()[0])
    return _convert(model, [("float_input", _float_type(4))])


@functools.cache
def _pipeline_rows() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    colours = rng.choice(["red", "green", "blue"], size=60)
    numbers = rng.normal(size=(60, 2))
    rows = np.empty((60, 3), dtype=object)
    rows[:, 0] = colours
    rows[:, 1:] = numbers
    target = np.where(numbers[:, 0] + (colours == "red") > 0.5, "yes", "no")
    return rows, target


@functools.cache
def _pipeline_onnx() -> bytes:
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), [0]), ("num", StandardScaler(), [1, 2])]
    )
    pipeline = Pipeline([("columns", columns), ("classifier", LogisticRegression())]).fit(*_pipeline_rows())
    return _convert(pipeline, [("cat", StringTensorType([None, 1])), ("num", _float_type(2))])


@functools.cache
def _external_data_model() -> tuple[bytes, bytes]:
    """(model bytes referring to weights.bin, weights.bin), made by onnx's own external-data writer."""
    rng = np.random.default_rng(5)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["float_input", "coefficients"], ["product"]),
            helper.make_node("Add", ["product", "intercept"], ["prediction"]),
        ],
        "external",
        [helper.make_tensor_value_info("float_input", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("prediction", TensorProto.FLOAT, [None, 1])],
        [
            numpy_helper.from_array(rng.normal(size=(4, 1)).astype(np.float32), "coefficients"),
            numpy_helper.from_array(rng.normal(size=1).astype(np.float32), "intercept"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        onnx.save_model(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location="weights.bin",
            size_threshold=0,
        )
        return path.read_bytes(), (Path(folder) / "weights.bin").read_bytes()


def _convert(
    model: object, initial_types: list[tuple[str, Any]], options: dict[str, Any] | None = None
) -> bytes:
    from skl2onnx import convert_sklearn

    onnx_model = convert_sklearn(
        model,
        initial_types=initial_types,
        options={id(model): options} if options else None,
        target_opset=_SKL2ONNX_OPSETS,
    )
    return onnx_model.SerializeToString()


def _float_type(width: int) -> Any:
    from skl2onnx.common.data_types import FloatTensorType

    return FloatTensorType([None, width])


def _output_named(model: bytes, fragment: str) -> str:
    """The output whose name contains ``fragment``: zoo metadata reads names, never assumes them."""
    names = [value.name for value in onnx.load_from_string(model).graph.output]
    return next(name for name in names if fragment in name)


def _tabular_output(name: str, kind: str, classes: Sequence[str]) -> tuple[list[onnx.NodeProto], Any]:
    k = len(classes)
    float_matrix = helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, k])
    if kind == "probabilities":
        return [helper.make_node("Identity", ["softmax_out"], [name])], float_matrix
    if kind == "scores":
        return [helper.make_node("Identity", ["scores_out"], [name])], float_matrix
    if kind == "values":
        node = helper.make_node("MatMul", ["softmax_out", "column_weights"], [name])
        return [node], helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, 1])
    if kind == "row_values":
        node = helper.make_node("MatMul", ["softmax_out", "column_vector"], [name])
        return [node], helper.make_tensor_value_info(name, TensorProto.FLOAT, [None])
    if kind == "double_probabilities":
        node = helper.make_node("Cast", ["softmax_out"], [name], to=TensorProto.DOUBLE)
        return [node], helper.make_tensor_value_info(name, TensorProto.DOUBLE, [None, k])
    if kind == "int_scores":
        node = helper.make_node("Cast", ["scores_out"], [name], to=TensorProto.INT64)
        return [node], helper.make_tensor_value_info(name, TensorProto.INT64, [None, k])
    if kind == "predicted":
        node = helper.make_node("ArgMax", ["softmax_out"], [name], axis=1, keepdims=0)
        return [node], helper.make_tensor_value_info(name, TensorProto.INT64, [None])
    if kind == "predicted_column":
        node = helper.make_node("ArgMax", ["softmax_out"], [name], axis=1, keepdims=1)
        return [node], helper.make_tensor_value_info(name, TensorProto.INT64, [None, 1])
    if kind in ("class_names", "class_names_row", "too_few_class_names"):
        names = list(classes)[:-1] if kind == "too_few_class_names" else list(classes)
        shape = [1, k] if kind == "class_names_row" else [len(names)]
        values = np.array(names, dtype=object).reshape(shape)
        return [_constant(name, values)], helper.make_tensor_value_info(name, TensorProto.STRING, shape)
    if kind in ("prob_maps", "int_prob_maps"):
        node = helper.make_node("ZipMap", ["softmax_out"], [name], domain="ai.onnx.ml")
        if kind == "prob_maps":
            key_type, labels = TensorProto.STRING, helper.make_attribute("classlabels_strings", list(classes))
        else:
            key_type, labels = TensorProto.INT64, helper.make_attribute("classlabels_int64s", list(range(k)))
        node.attribute.append(labels)
        value_type = helper.make_tensor_type_proto(TensorProto.FLOAT, None)
        map_type = helper.make_map_type_proto(key_type, value_type)
        maps = helper.make_value_info(name, helper.make_sequence_type_proto(map_type))
        return [node], maps
    if kind == "unknown_rank":
        return [helper.make_node("Identity", ["softmax_out"], [name])], helper.make_tensor_value_info(
            name, TensorProto.FLOAT, None
        )
    raise ValueError(f"unknown output kind {kind!r}")


def _constant(name: str, values: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(values, name))


def _image_batch(layout: str) -> np.ndarray:
    batch = np.random.default_rng(13).random((2, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    return batch if layout == "NCHW" else batch.transpose(0, 2, 3, 1).copy()


@functools.cache
def _png() -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(17).integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
