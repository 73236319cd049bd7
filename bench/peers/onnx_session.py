"""The onnxruntime session every peer serves its model with: omlsvc's session options, one place.

Imported by the peers' own code inside their virtualenvs (``kserve_server.py``, ``bentoml_service.py``,
``bench/mlserver/onnx_runtime.py``), so it needs nothing but onnxruntime. The options are those of
``omlsvc.scoring.sessions.make_session_options``: ``BENCH_INTRA_OP_THREADS`` intra-op threads (the
cores divided among the workers, set by the bench), one inter-op thread, sequential execution, all
graph optimisations, no spin-waiting. The side by side compares servers, not kernel settings.
"""

from __future__ import annotations

import os

import onnxruntime as ort


def make_session(path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(os.environ.get("BENCH_INTRA_OP_THREADS", "1"))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
