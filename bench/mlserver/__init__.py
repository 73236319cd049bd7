"""Seldon MLServer 1.7 with the custom onnxruntime runtime in ``onnx_runtime.py``: the bench's peer.

MLServer lives in its own virtualenv (``bench/.mlserver-venv``, git-ignored), created on first use
with the same onnxruntime and numpy versions as omlsvc's, so both servers run identical kernels.
``running_mlserver`` writes a model repository (``settings.json`` plus one folder per model with its
``model-settings.json``), starts ``mlserver start`` in its own process group and stops it after.

Settings: ``parallel_workers`` = omlsvc's worker count (MLServer then runs inference in that many
worker processes behind one uvicorn front end), ``debug`` off (no access log; MLServer's production
setting), everything else at MLServer's defaults (metrics endpoint on, gzip middleware on).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from tests.e2e.server import free_port

HERE = Path(__file__).resolve().parent
VENV = HERE.parent / ".mlserver-venv"
MLSERVER_VERSION = "1.7.1"
RUNTIME = HERE / "onnx_runtime.py"


@dataclass
class RunningMLServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def infer_url(self, model: str) -> str:
        return f"{self.url}/v2/models/{model}/infer"

    def pids(self) -> list[int]:
        """The main process and every descendant (the inference workers)."""
        found, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            children = Path(f"/proc/{pid}/task/{pid}/children")
            if children.exists():
                queue.extend(int(child) for child in children.read_text().split())
        return found


def ensure_venv(out: object = sys.stderr) -> Path:
    """The MLServer virtualenv's python, installed on first use (about a minute with a warm pip cache)."""
    python = VENV / "bin" / "python"
    marker = VENV / f".installed-{MLSERVER_VERSION}-uvloop-0.21"
    if marker.exists():
        return python
    print(f"installing MLServer {MLSERVER_VERSION} into {VENV} (once) ...", file=out, flush=True)  # type: ignore[call-overload]
    if VENV.exists():
        shutil.rmtree(VENV)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pins = [
        f"mlserver=={MLSERVER_VERSION}",
        f"onnxruntime=={metadata.version('onnxruntime')}",
        f"numpy=={metadata.version('numpy')}",
        # uvloop 0.22 breaks MLServer 1.7's parallel workers (SeldonIO/MLServer#2286, not fixed in 1.7.1).
        "uvloop==0.21.0",
    ]
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *pins], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip could not install MLServer:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    marker.touch()
    return python


@contextmanager
def running_mlserver(
    folder: Path, models: Sequence[tuple[str, Path]], *, workers: int, intra_op_threads: int
) -> Iterator[RunningMLServer]:
    """Serve ``models`` (name, .onnx path) until the block ends."""
    python = ensure_venv()
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
    env = {**os.environ, "BENCH_INTRA_OP_THREADS": str(intra_op_threads), "PYTHONPATH": str(folder)}
    env.pop("VIRTUAL_ENV", None)
    log_path = folder / "mlserver.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(python.parent / "mlserver"), "start", str(folder)],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the inference workers stop with it
        )
    server = RunningMLServer(f"http://127.0.0.1:{http_port}", process, log_path)
    try:
        _wait_ready(server, [name for name, _ in models])
        yield server
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_ready(server: RunningMLServer, names: Sequence[str], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    pending = list(names)
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"MLServer exited with {server.process.returncode}:\n{server.log_path.read_text()}"
            )
        try:
            while pending:
                with urllib.request.urlopen(f"{server.url}/v2/models/{pending[0]}/ready", timeout=2):  # noqa: S310
                    pending.pop(0)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"MLServer did not become ready in {timeout_s} s:\n{server.log_path.read_text()}")
