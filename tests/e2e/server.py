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
from collections.abc import Iterator, Mapping
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
        """The gunicorn workers: children of the master process."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

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


@contextmanager
def running_service(
    data_dir: Path, *, workers: int = 1, threads: int = 4, environ: Mapping[str, str] | None = None
) -> Iterator[RunningService]:
    """Initialise the database (creating ``admin``) and serve until the block ends."""
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
            [sys.executable, "-m", "omlsvc.cli", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
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
