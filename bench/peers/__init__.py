"""The servers the side-by-side bench (``python -m bench.side_by_side``, issue 20) compares omlsvc with.

Each peer runs from its own virtualenv under ``bench/`` (git-ignored), created on first use with
pinned versions that install on Python 3.11 and the same onnxruntime and numpy versions as omlsvc's,
so every server runs identical kernels:

* ``floor``: the HTTP floor, a bare Falcon app on gunicorn with omlsvc's worker settings that parses
  the JSON body and answers a constant (``floor_app.py``; omlsvc's own virtualenv);
* ``mlserver``: Seldon MLServer with a small onnxruntime runtime (``bench/mlserver``,
  ``bench/.mlserver-venv``);
* ``kserve``: KServe's Python model server, a ``kserve.Model`` with onnxruntime answering the Open
  Inference Protocol v2 (``kserve_server.py``, ``bench/.kserve-venv``);
* ``bentoml``: a BentoML service with onnxruntime (``bentoml_service.py``, ``bench/.bentoml-venv``),
  with the worker count omlsvc has (BentoML's docs recommend one worker per core for CPU models).

Every peer builds its session with ``onnx_session.make_session``, omlsvc's session options.
``running_peer`` starts a peer's command as the leader of its own process group, waits until its
readiness URLs answer 200, and stops the whole group after the block.
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

#: Peer -> (virtualenv folder, pinned packages besides onnxruntime and numpy). The pins are versions
#: that install together on Python 3.11; changing one reinstalls that virtualenv on its next use.
VENVS: dict[str, tuple[Path, tuple[str, ...]]] = {
    # uvloop 0.22 breaks MLServer 1.7's parallel workers (SeldonIO/MLServer#2286, not fixed in 1.7.1).
    "mlserver": (BENCH / ".mlserver-venv", ("mlserver==1.7.1", "uvloop==0.21.0")),
    "kserve": (BENCH / ".kserve-venv", ("kserve==0.21.0",)),
    "bentoml": (BENCH / ".bentoml-venv", ("bentoml==1.4.40",)),
}


def ensure_venv(peer: str, out: object = sys.stderr) -> Path:
    """The peer's python, its virtualenv installed on first use (minutes: these are large packages).

    The virtualenv records what it was installed with; a different pin list makes a fresh one, so a
    half-finished or outdated install is never measured.
    """
    folder, packages = VENVS[peer]
    python = folder / "bin" / "python"
    pins = [
        *packages,
        f"onnxruntime=={metadata.version('onnxruntime')}",
        f"numpy=={metadata.version('numpy')}",
    ]
    marker = folder / ".installed"
    if marker.exists() and marker.read_text().split() == pins:
        return python
    print(f"installing {' '.join(pins)} into {folder} (once) ...", file=out, flush=True)  # type: ignore[call-overload]
    if folder.exists():
        shutil.rmtree(folder)
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *pins], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip could not install {peer}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    marker.write_text("\n".join(pins) + "\n")
    return python


@dataclass
class RunningPeer:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def pids(self) -> list[int]:
        """The main process and every descendant (workers), for memory figures."""
        found, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            children = Path(f"/proc/{pid}/task/{pid}/children")
            if children.exists():
                queue.extend(int(child) for child in children.read_text().split())
        return found


@contextmanager
def running_peer(
    name: str,
    command: Sequence[str],
    *,
    url: str,
    ready_paths: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 180,
) -> Iterator[RunningPeer]:
    """Run ``command`` until the block ends; ready once every ``url + path`` of ``ready_paths`` answers 200."""
    environ = {**os.environ, **(env or {})}
    environ.pop("VIRTUAL_ENV", None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=environ, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    peer = RunningPeer(name, url, process, log_path)
    try:
        deadline = time.monotonic() + timeout_s
        for path in ready_paths:
            _wait_ready(peer, url + path, deadline)
        yield peer
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_ready(peer: RunningPeer, url: str, deadline: float) -> None:
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
    raise RuntimeError(f"{peer.name} did not answer {url} in time:\n{peer.log_path.read_text()[-4000:]}")
