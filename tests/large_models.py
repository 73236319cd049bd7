"""Large but trivial models, for memory and streaming tests (built in a few seconds)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def make_large_regressor_zip(directory: Path, megabytes: int = 100, seed: int = 7) -> Path:
    """A regressor whose single weight matrix is ``megabytes`` of random float32 (incompressible).

    ``x [N, k] @ W [k, k]`` averaged per row gives ``[N, 1]``; the zip stores entries uncompressed
    so the upload is as large as the model.
    """
    side = int((megabytes * 1024 * 1024 / 4) ** 0.5)
    weights = np.random.default_rng(seed).standard_normal((side, side), dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["h"]),
            helper.make_node("ReduceMean", ["h"], ["y"], axes=[1], keepdims=1),
        ],
        "large_regressor",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", side])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = directory / f"large_{megabytes}mb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("large.onnx", model.SerializeToString())
        archive.writestr("metadata.json", json.dumps({"function": "regression"}))
    return path
