"""The models and pictures the scoring bench serves, built from scratch in a scratch folder.

* ``tabular``: a scikit-learn RandomForest (100 trees, depth 8) on 20 features and 3 classes,
  converted with skl2onnx (``zipmap=False``: ``label`` int64 [N] and ``probabilities`` float [N, 3]),
  classes named by label.txt: the typical "small model behind a REST call".
* ``small_cnn``: a CIFAR-sized CNN (3 conv blocks, about 25 k weights) on float [N, 3, 32, 32], an
  ``ONNX_IMG`` model scored with already-preprocessed 4-D JSON arrays (OML's tensor form; ``ONNX``
  models take rank-2 inputs only): the "payload is bigger than the model" case.
* ``resnet50``: the ResNet-50 v1.5 topology (bottleneck blocks 3-4-6-3, batch norm folded into the
  convolutions, 25.5 M random weights, 4.1 GFLOP per image) on float [N, 3, 224, 224], written with
  ``onnx.helper`` (torch is not needed) and served as an ``ONNX_IMG`` model with ImageNet
  mean/scale, so JPEG uploads are decoded and preprocessed by the service.

Each model comes with a zipped OML package (metadata.json, label.txt) and the sample inputs the
bench sends. ``make_jpeg`` draws a smooth 3 MP photo-like picture (gradients and shapes; noise
would make the JPEG unrealistically large and slow to decode).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IMAGENET_MEAN = [123.675, 116.28, 103.53]
IMAGENET_SCALE = [1 / 58.395, 1 / 57.12, 1 / 57.375]
TABULAR_FEATURES = 20
TABULAR_CLASSES = ("bronze", "silver", "gold")


@dataclass(frozen=True)
class BenchModel:
    """One model of the bench: where its ONNX file and OML package are, and how it is scored."""

    key: str
    title: str
    onnx_path: Path
    zip_path: Path
    model_type: str
    input_name: str
    output_names: tuple[str, ...]
    #: one row of input (batch axis included), repeated to build bigger batches.
    row: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    labels: tuple[str, ...] = ()

    def batch(self, size: int) -> np.ndarray:
        return np.repeat(self.row, size, axis=0)

    def variant_zip(self, folder: Path, tag: str) -> Path:
        """The same model in a package with a different sha256 (a doc string differs), so that a
        new deployment of it is really cold for the service's caches."""
        model = onnx.load(str(self.onnx_path))
        model.doc_string = f"bench variant {tag}"
        return _package(
            folder / f"{self.key}-{tag}.zip", model.SerializeToString(), self.metadata, list(self.labels)
        )


def build_models(folder: Path, *, resnet: bool = True) -> dict[str, BenchModel]:
    folder.mkdir(parents=True, exist_ok=True)
    models = {"tabular": _tabular(folder), "small_cnn": _small_cnn(folder)}
    if resnet:
        models["resnet50"] = _resnet50(folder)
    return models


def make_jpeg(width: int = 2048, height: int = 1536, quality: int = 90) -> bytes:
    from PIL import Image, ImageDraw

    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 127 + 100 * np.sin(x / 97.0) * np.cos(y / 131.0)
    green = 127 + 100 * np.sin((x + y) / 211.0)
    blue = 255 * x / width
    pixels = np.stack([red, green, blue], axis=-1).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(7)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, width - 200)), int(rng.integers(0, height - 200))
        size = int(rng.integers(40, 400))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.ellipse((x0, y0, x0 + size, y0 + size), fill=colour)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


# --- tabular ---------------------------------------------------------------------------------------


def _tabular(folder: Path) -> BenchModel:
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, TABULAR_FEATURES)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(np.int64) + (x[:, 3] > 1).astype(np.int64)
    forest = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0).fit(x, y)
    onnx_model = to_onnx(
        forest,
        x[:1],
        options={"zipmap": False},
        target_opset={"": OPSET, "ai.onnx.ml": 3},
    )
    names = [o.name for o in onnx_model.graph.output]
    probabilities = next(n for n in names if "prob" in n)
    label = next(n for n in names if n != probabilities)
    input_name = onnx_model.graph.input[0].name
    metadata = {"function": "classification", "classificationProbOutput": probabilities}
    return _write(
        folder,
        "tabular",
        "RandomForest 100 trees, 20 features",
        onnx_model.SerializeToString(),
        metadata,
        list(TABULAR_CLASSES),
        "ONNX",
        input_name,
        (label, probabilities),
        x[:1],
    )


# --- CNNs with onnx.helper -------------------------------------------------------------------------


class _Graph:
    """A tiny builder for conv stacks: adds nodes and random initialisers with unique names."""

    def __init__(self, seed: int) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self._rng = np.random.default_rng(seed)
        self._count = 0

    def name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def weight(self, shape: tuple[int, ...], std: float) -> str:
        name = self.name("w")
        values = (self._rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)
        self.weights.append(numpy_helper.from_array(values, name))
        return name

    def conv(
        self, x: str, c_in: int, c_out: int, k: int, stride: int = 1, *, relu: bool = True, gain: float = 1.0
    ) -> str:
        std = gain * (2.0 / (c_in * k * k)) ** 0.5
        w = self.weight((c_out, c_in, k, k), std)
        b = self.weight((c_out,), 0.01)
        out = self.name("conv")
        pad = k // 2
        self.nodes.append(
            helper.make_node(
                "Conv", [x, w, b], [out], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4
            )
        )
        return self.relu(out) if relu else out

    def relu(self, x: str) -> str:
        out = self.name("relu")
        self.nodes.append(helper.make_node("Relu", [x], [out]))
        return out

    def add(self, a: str, b: str) -> str:
        out = self.name("add")
        self.nodes.append(helper.make_node("Add", [a, b], [out]))
        return out

    def max_pool(self, x: str, k: int, stride: int) -> str:
        out = self.name("pool")
        pads = [k // 2] * 4 if k % 2 else [0] * 4
        self.nodes.append(
            helper.make_node("MaxPool", [x], [out], kernel_shape=[k, k], strides=[stride, stride], pads=pads)
        )
        return out

    def head(self, x: str, features: int, classes: int, output: str) -> None:
        pooled, flat, logits = self.name("gap"), self.name("flat"), self.name("logits")
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], [pooled]))
        self.nodes.append(helper.make_node("Flatten", [pooled], [flat], axis=1))
        w = self.weight((classes, features), (1.0 / features) ** 0.5)
        b = self.weight((classes,), 0.01)
        self.nodes.append(helper.make_node("Gemm", [flat, w, b], [logits], transB=1))
        self.nodes.append(helper.make_node("Softmax", [logits], [output], axis=1))

    def model(
        self, name: str, input_name: str, input_shape: list[Any], output: str, classes: int
    ) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", classes])],
            self.weights,
        )
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="omlsvc-bench"
        )
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def _small_cnn(folder: Path, size: int = 32) -> BenchModel:
    """The small CNN on ``size`` x ``size`` inputs (its head pools globally, so any size works)."""
    g = _Graph(seed=1)
    x = g.conv("input", 3, 16, 3)
    x = g.max_pool(x, 2, 2)
    x = g.conv(x, 16, 32, 3)
    x = g.max_pool(x, 2, 2)
    x = g.conv(x, 32, 64, 3)
    g.head(x, 64, 10, "probabilities")
    model = g.model("small_cnn", "input", ["batch", 3, size, size], "probabilities", 10)
    row = np.random.default_rng(2).random((1, 3, size, size), dtype=np.float32)
    metadata = {"function": "classification", "classificationProbOutput": "probabilities"}
    labels = [f"class_{i}" for i in range(10)]
    return _write(
        folder,
        "small_cnn" if size == 32 else f"small_cnn_{size}",
        f"CNN 3 conv blocks, 3x{size}x{size} JSON tensor",
        model.SerializeToString(),
        metadata,
        labels,
        "ONNX_IMG",
        "input",
        ("probabilities",),
        row,
    )


def _resnet50(folder: Path) -> BenchModel:
    g = _Graph(seed=3)
    x = g.conv("image", 3, 64, 7, 2)
    x = g.max_pool(x, 3, 2)
    channels = 64
    for stage, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True)):
        for block in range(blocks):
            stride = 2 if block == 0 and stage > 0 else 1
            out_channels = width * 4
            y = g.conv(x, channels, width, 1)
            y = g.conv(y, width, width, 3, stride)  # v1.5: the stride sits on the 3x3 convolution
            y = g.conv(y, width, out_channels, 1, relu=False, gain=0.2)
            shortcut = x if block > 0 else g.conv(x, channels, out_channels, 1, stride, relu=False)
            x = g.relu(g.add(y, shortcut))
            channels = out_channels
    g.head(x, channels, 1000, "probabilities")
    model = g.model("resnet50", "image", ["batch", 3, 224, 224], "probabilities", 1000)
    row = np.random.default_rng(4).standard_normal((1, 3, 224, 224), dtype=np.float32)
    metadata = {
        "function": "classification",
        "classificationProbOutput": "probabilities",
        "inputChannel": "RGB",
        "mean": IMAGENET_MEAN,
        "scale": IMAGENET_SCALE,
    }
    labels = [f"class_{i}" for i in range(1000)]
    return _write(
        folder,
        "resnet50",
        "ResNet-50 size (25.5 M weights), JPEG upload",
        model.SerializeToString(),
        metadata,
        labels,
        "ONNX_IMG",
        "image",
        ("probabilities",),
        row,
    )


# --- packing ---------------------------------------------------------------------------------------


def _write(
    folder: Path,
    key: str,
    title: str,
    onnx_bytes: bytes,
    metadata: dict[str, Any],
    labels: list[str],
    model_type: str,
    input_name: str,
    outputs: tuple[str, ...],
    row: np.ndarray,
) -> BenchModel:
    onnx_path = folder / f"{key}.onnx"
    onnx_path.write_bytes(onnx_bytes)
    zip_path = _package(folder / f"{key}.zip", onnx_bytes, metadata, labels)
    return BenchModel(
        key, title, onnx_path, zip_path, model_type, input_name, outputs, row, metadata, tuple(labels)
    )


def _package(path: Path, onnx_bytes: bytes, metadata: dict[str, Any], labels: list[str]) -> Path:
    # Deflate at level 1: float weights barely compress, and level 6 would only slow the bench down.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("model.onnx", onnx_bytes)
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("label.txt", "".join(f"{label}\n" for label in labels))
    return path
