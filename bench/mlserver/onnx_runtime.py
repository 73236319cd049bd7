"""A small custom MLServer runtime serving one ONNX model with onnxruntime (the bench's peer).

It runs inside MLServer's own virtualenv (``bench/.mlserver-venv``), so it imports only what that
environment has: mlserver, onnxruntime, numpy. The session gets the same options omlsvc gives its
sessions: ``BENCH_INTRA_OP_THREADS`` intra-op threads (cores / workers), one inter-op thread, no
spin-waiting, all graph optimisations. ``predict`` decodes the first input with MLServer's NumPy
codec, runs the session and encodes every output: the least a runtime can do.
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri


class OnnxRuntime(MLModel):
    async def load(self) -> bool:
        path = await get_model_uri(self._settings)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("BENCH_INTRA_OP_THREADS", "1"))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self._session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._outputs = [output.name for output in self._session.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        array = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32, copy=False)
        values = self._session.run(self._outputs, {self._input: array})
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                NumpyCodec.encode_output(name, value)
                for name, value in zip(self._outputs, values, strict=True)
            ],
        )
