"""A BentoML service with onnxruntime (runs in ``bench/.bentoml-venv``): the tabular model behind
``POST /predict`` taking ``{"input": [[...]]}`` and answering the probabilities.

``BENCH_MODEL`` names the .onnx file, ``BENCH_WORKERS`` the worker processes (omlsvc's count, one
per core as BentoML's docs recommend for CPU-bound models), ``BENCH_INTRA_OP_THREADS`` the session's
threads.

    bentoml serve bentoml_service:Tabular --port 8080
"""

from __future__ import annotations

import os
from typing import Any

import bentoml
import numpy as np
import onnxruntime as ort


@bentoml.service(workers=int(os.environ.get("BENCH_WORKERS", "2")))
class Tabular:
    def __init__(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("BENCH_INTRA_OP_THREADS", "1"))
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            os.environ["BENCH_MODEL"], sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]

    @bentoml.api
    def predict(self, input: np.ndarray) -> dict[str, Any]:
        values = self.session.run(self.outputs, {self.input: input.astype(np.float32, copy=False)})
        return {name: np.asarray(value).tolist() for name, value in zip(self.outputs, values, strict=True)}
