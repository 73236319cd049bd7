"""Seldon MLServer 1.7 with the custom onnxruntime runtime in ``onnx_runtime.py``: the bench's peer.

MLServer lives in its own virtualenv (``bench/.mlserver-venv``, git-ignored), created on first use
by :func:`bench.peers.ensure_venv` with pinned versions and the same onnxruntime and numpy versions
as omlsvc's, so both servers run identical kernels. ``running_mlserver`` writes a model repository
(``settings.json`` plus one folder per model with its ``model-settings.json``) and runs
``mlserver start`` with :func:`bench.peers.running_peer` until the block ends.

Settings: ``parallel_workers`` = omlsvc's worker count (MLServer then runs inference in that many
worker processes behind one uvicorn front end), ``debug`` off (no access log; MLServer's production
setting), everything else at MLServer's defaults (metrics endpoint on, gzip middleware on).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench.peers import HERE as PEERS
from bench.peers import RunningPeer, ensure_venv, running_peer
from tests.e2e.server import free_port

HERE = Path(__file__).resolve().parent
RUNTIME = HERE / "onnx_runtime.py"


@contextmanager
def running_mlserver(
    folder: Path, models: Sequence[tuple[str, Path]], *, workers: int, intra_op_threads: int
) -> Iterator[RunningPeer]:
    """Serve ``models`` (name, .onnx path) until the block ends; ready once every model is."""
    python = ensure_venv("mlserver")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copy(RUNTIME, folder / RUNTIME.name)
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    settings = {
        "debug": False,
        "parallel_workers": workers,
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    for name, onnx_path in models:
        model_dir = folder / name
        model_dir.mkdir()
        os.symlink(onnx_path, model_dir / "model.onnx")
        model_settings = {
            "name": name,
            "implementation": "onnx_runtime.OnnxRuntime",
            "parameters": {"uri": "./model.onnx"},
        }
        (model_dir / "model-settings.json").write_text(json.dumps(model_settings))
    with running_peer(
        "mlserver",
        [str(python.parent / "mlserver"), "start", str(folder)],
        url=f"http://127.0.0.1:{http_port}",
        ready_paths=[f"/v2/models/{name}/ready" for name, _ in models],
        log_path=folder / "mlserver.log",
        env={
            "BENCH_INTRA_OP_THREADS": str(intra_op_threads),
            "PYTHONPATH": os.pathsep.join([str(folder), str(PEERS)]),
        },
        cwd=folder,
    ) as peer:
        yield peer
