"""A BentoML service with onnxruntime (runs in ``bench/.bentoml-venv``): the tabular model behind
``POST /predict`` taking ``{"input": [[...]]}`` and answering the probabilities.

``BENCH_MODEL`` names the .onnx file, ``BENCH_WORKERS`` the worker processes (omlsvc's count, one
per core as BentoML's docs recommend for CPU-bound models), ``BENCH_INTRA_OP_THREADS`` the session's
threads (``onnx_session.py``).

    bentoml serve bentoml_service:Tabular --port 8080
"""

from __future__ import annotations

import os
from typing import Any

import bentoml
import numpy as np
from onnx_session import make_session


@bentoml.service(workers=int(os.environ.get("BENCH_WORKERS", "2")))
class Tabular:
    def __init__(self) -> None:
        self.session = make_session(os.environ["BENCH_MODEL"])
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]

    @bentoml.api
    def predict(self, input: np.ndarray) -> dict[str, Any]:
        values = self.session.run(self.outputs, {self.input: input.astype(np.float32, copy=False)})
        return {name: np.asarray(value).tolist() for name, value in zip(self.outputs, values, strict=True)}
