"""A real omlsvc under gunicorn on a free loopback port, for end-to-end tests and benchmarks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ADMIN_PASSWORD = "admin-password-for-tests"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningService:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: children of the master process (a child of ``serve --front nginx``)."""
        master = self.process.pid
        if "gunicorn" not in command_line(master):
            master = next((pid for pid in children_of(master) if "gunicorn" in command_line(pid)), -1)
        return children_of(master)

    def process_tree(self) -> list[int]:
        """Every live process started for this service: the one started and its descendants."""
        found, pending = [], [self.process.pid]
        while pending:
            pid = pending.pop()
            if is_alive(pid):
                found.append(pid)
                pending.extend(children_of(pid))
        return found

    def token(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
        body = json.dumps({"grant_type": "password", "username": username, "password": password}).encode()
        request = urllib.request.Request(
            self.url + "/omlusers/api/oauth2/v1/token",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.load(response)["accessToken"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def children_of(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(child) for child in children.read_text().split()]
    except OSError:
        return []


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def is_alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@contextmanager
def running_service(
    data_dir: Path,
    *,
    workers: int = 1,
    threads: int = 4,
    environ: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    own_process_group: bool = False,
) -> Iterator[RunningService]:
    """Initialise the database (creating ``admin``) and serve until the block ends.

    ``args`` go to ``omlsvc serve`` (``["--front", "nginx"]``); ``own_process_group`` starts it as the
    leader of a new process group, which a test may then kill whole (``os.killpg``).
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMLSVC_")}
    env.update(
        {
            "OMLSVC_DATA_DIR": str(data_dir),
            "OMLSVC_BIND": f"127.0.0.1:{port}",
            "OMLSVC_WORKERS": str(workers),
            "OMLSVC_THREADS": str(threads),
            "OMLSVC_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "OMLSVC_LOG_LEVEL": "WARNING",
        }
    )
    env.update(environ or {})
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # exec'd directly, so killing it kills gunicorn's master
            [sys.executable, "-m", "omlsvc.cli", "serve", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=own_process_group,
        )
    service = RunningService(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_ready(service, workers)
        yield service
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(service: RunningService, workers: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"omlsvc exited with {service.process.returncode}:\n{service.log()}")
        try:
            with urllib.request.urlopen(service.url + "/health/ready", timeout=2):
                if len(service.worker_pids()) >= workers:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"omlsvc did not become ready in {timeout_s} s:\n{service.log()}")
