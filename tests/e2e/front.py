"""The production topology in tests: a plain nginx load balancer in front of several instances, and
HTTP calls that report timing and never hang."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omlsvc.config import Settings
from omlsvc.front.nginx import find_nginx, nginx_command, render_main, render_site
from tests.e2e.server import free_port

JSON = "application/json"


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange: ``status`` 0 when the connection failed (``error`` says how)."""

    status: int
    body: Any
    seconds: float
    error: str = ""


def request(
    url: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: bytes | Mapping[str, Any] | None = None,
    content_type: str = JSON,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Reply:
    """One request on a fresh connection; a refused, reset or timed-out connection is a Reply too."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sent = {"Connection": "close", **(headers or {})}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    payload = json.dumps(body).encode() if isinstance(body, Mapping) else body
    if payload is not None:
        sent["Content-Type"] = content_type
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    started = time.monotonic()
    try:
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        kind = response.getheader("Content-Type", "")
    except TimeoutError:
        return Reply(0, None, time.monotonic() - started, "timeout")
    except (ConnectionError, http.client.HTTPException, OSError) as error:
        return Reply(0, None, time.monotonic() - started, type(error).__name__)
    finally:
        connection.close()
    parsed: Any = json.loads(raw) if kind.startswith(JSON) and raw else raw
    return Reply(response.status, parsed, time.monotonic() - started)


@dataclass
class Balancer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def nginx_balancer(directory: Path, upstreams: Sequence[str]) -> Iterator[Balancer]:
    """A plain nginx on a free loopback port balancing ``upstreams``, with the site of
    ``omlsvc nginx-config --upstream ...`` and a foreground main file, all in ``directory``."""
    port = free_port()
    settings = Settings.for_tests(directory, bind=f"127.0.0.1:{port}", log_level="WARNING")
    (directory / "temp").mkdir(parents=True, exist_ok=True)
    (directory / "site.conf").write_text(render_site(settings, upstreams=upstreams))
    (directory / "nginx.conf").write_text(render_main(settings, directory))
    log_path = directory / "nginx.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            nginx_command(find_nginx("nginx", os.environ), directory), stdout=log, stderr=subprocess.STDOUT
        )
    balancer = Balancer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + 30
        while request(balancer.url, "GET", "/health/live", timeout=2).status != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start:\n{balancer.log()}")
            time.sleep(0.1)
        yield balancer
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def p99(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
