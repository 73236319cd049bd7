"""KServe's Python model server with onnxruntime (runs in ``bench/.kserve-venv``).

One ``kserve.Model`` per ONNX file named on the command line (``name=path``); ``predict`` takes the
Open Inference Protocol v2 request, runs the session and answers every output. Session options are
omlsvc's (``onnx_session.py``: ``BENCH_INTRA_OP_THREADS`` intra-op threads, one inter-op thread, no
spin-waiting).

    python kserve_server.py --http_port 8080 --workers 2 tabular=/path/tabular.onnx
"""

from __future__ import annotations

import argparse
from typing import Any

import kserve
import numpy as np
import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from onnx_session import make_session


class OnnxModel(Model):  # type: ignore[misc]
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.session: ort.InferenceSession | None = None
        self.ready = True  # the session is made in each worker process on first use

    def __getstate__(self) -> dict[str, Any]:
        # with workers > 1 KServe pickles the model into each worker: sessions do not pickle
        return {**self.__dict__, "session": None}

    def load(self) -> bool:
        self._session()
        return self.ready

    def _session(self) -> ort.InferenceSession:
        if self.session is not None:
            return self.session
        self.session = make_session(self.path)
        self.input = self.session.get_inputs()[0].name
        self.outputs = [o.name for o in self.session.get_outputs()]
        return self.session

    def predict(self, payload: InferRequest, headers: dict[str, str] | None = None) -> InferResponse:
        session = self._session()
        array = payload.inputs[0].as_numpy().astype(np.float32, copy=False)
        values = session.run(self.outputs, {self.input: array})
        outputs = []
        for name, value in zip(self.outputs, values, strict=True):
            value = np.asarray(value)
            output = InferOutput(name=name, shape=list(value.shape), datatype=_datatype(value))
            output.set_data_from_numpy(value, binary_data=False)
            outputs.append(output)
        return InferResponse(model_name=self.name, infer_outputs=outputs, response_id=payload.id or "")


def _datatype(value: Any) -> str:
    return {"float32": "FP32", "int64": "INT64", "float64": "FP64"}.get(str(value.dtype), "BYTES")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("models", nargs="+")
    args, _ = parser.parse_known_args()
    models = [OnnxModel(*spec.split("=", 1)) for spec in args.models]
    ModelServer(http_port=args.http_port, workers=args.workers, enable_grpc=False).start(models)
