"""The servers the side-by-side bench (``python -m bench.side_by_side``, issue 20) compares omlsvc with.

Each peer runs from its own virtualenv under ``bench/`` (git-ignored), created on first use with the
same onnxruntime and numpy versions as omlsvc's, so every server runs identical kernels:

* ``floor``: the HTTP floor, a bare Falcon app on gunicorn with omlsvc's worker settings that parses
  the JSON body and answers a constant (``floor_app.py``; omlsvc's own virtualenv);
* ``mlserver``: Seldon MLServer (``bench/mlserver``, ``bench/.mlserver-venv``);
* ``kserve``: KServe's Python model server, a ``kserve.Model`` with onnxruntime answering the Open
  Inference Protocol v2 (``kserve_server.py``, ``bench/.kserve-venv``);
* ``bentoml``: a BentoML service with onnxruntime (``bentoml_service.py``, ``bench/.bentoml-venv``),
  with the worker count omlsvc has (BentoML's docs recommend one worker per core for CPU models).

``running_peer`` starts a peer's command as the leader of its own process group, waits until its
readiness URL answers 200, and stops the whole group after the block.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent

#: Peer -> (virtualenv folder, packages besides onnxruntime and numpy).
VENVS: dict[str, tuple[Path, tuple[str, ...]]] = {
    "kserve": (BENCH / ".kserve-venv", ("kserve",)),
    "bentoml": (BENCH / ".bentoml-venv", ("bentoml",)),
}


def ensure_venv(peer: str, out: object = sys.stderr) -> Path:
    """The peer's python, its virtualenv installed on first use (minutes: these are large packages)."""
    folder, packages = VENVS[peer]
    python = folder / "bin" / "python"
    marker = folder / ".installed"
    if marker.exists():
        return python
    print(f"installing {peer} into {folder} (once) ...", file=out, flush=True)  # type: ignore[call-overload]
    if folder.exists():
        shutil.rmtree(folder)
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    pins = [
        *packages,
        f"onnxruntime=={metadata.version('onnxruntime')}",
        f"numpy=={metadata.version('numpy')}",
    ]
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *pins], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip could not install {peer}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    marker.touch()
    return python


@dataclass
class RunningPeer:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


@contextmanager
def running_peer(
    name: str,
    command: Sequence[str],
    *,
    url: str,
    ready_path: str,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 180,
) -> Iterator[RunningPeer]:
    """Run ``command`` until the block ends; ready once ``url + ready_path`` answers 200."""
    environ = {**os.environ, **(env or {})}
    environ.pop("VIRTUAL_ENV", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    peer = RunningPeer(name, url, process, log_path)
    try:
        _wait_ready(peer, url + ready_path, timeout_s)
        yield peer
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_ready(peer: RunningPeer, url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if peer.process.poll() is not None:
            raise RuntimeError(
                f"{peer.name} exited with {peer.process.returncode}:\n{peer.log_path.read_text()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"{peer.name} did not become ready in {timeout_s} s:\n{peer.log_path.read_text()[-4000:]}"
    )
