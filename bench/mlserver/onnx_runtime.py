"""A small custom MLServer runtime serving one ONNX model with onnxruntime (the bench's peer).

It runs inside MLServer's own virtualenv (``bench/.mlserver-venv``), so it imports only what that
environment has: mlserver, onnxruntime, numpy, and ``bench/peers/onnx_session.py`` (on its
``PYTHONPATH``), which gives the session the options omlsvc gives its sessions, as for every peer.
``predict`` decodes the first input with MLServer's NumPy codec, runs the session and encodes every
output: the least a runtime can do.
"""

from __future__ import annotations

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri
from onnx_session import make_session


class OnnxRuntime(MLModel):
    async def load(self) -> bool:
        path = await get_model_uri(self._settings)
        self._session = make_session(path)
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
