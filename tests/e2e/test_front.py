"""``omlsvc serve --front nginx``: nginx on OMLSVC_BIND in front of gunicorn on a unix socket.

Slow clients (a header sent a byte at a time, a body declared and never sent) are held by nginx, so
gunicorn's threads only ever see whole requests and keep answering; nginx and gunicorn start and stop
together; what nginx refuses itself is JSON like every other error.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import modelzoo
from tests.api.forms import multipart
from tests.e2e.front import p99, request
from tests.e2e.server import ADMIN_PASSWORD, command_line, free_port, is_alive, running_service

FRONT = ("--front", "nginx")
ATTACK_S = 30.0
DRIP_INTERVAL_S = 2.0


def test_a_missing_nginx_is_a_one_line_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMLSVC_")}
    env.update(
        {
            "OMLSVC_DATA_DIR": str(tmp_path / "data"),
            "OMLSVC_BIND": f"127.0.0.1:{free_port()}",
            "OMLSVC_NGINX": "omlsvc-test-no-such-nginx",
            "OMLSVC_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "omlsvc.cli", "serve", *FRONT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""  # refused before the database is touched
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("omlsvc: nginx not found ('omlsvc-test-no-such-nginx' is not on PATH")
    assert "apt-get install nginx" in done.stderr


def wait_until_gone(pids: list[int], timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while any(is_alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@dataclass
class SlowClients:
    """``count`` connections sending a request header a byte every ``DRIP_INTERVAL_S`` seconds, and
    ``count`` declaring a body they never send; each reconnects as soon as nginx drops it."""

    url: str
    count: int
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    open_now: int = 0
    most_open: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {"drip": 0, "body": 0})
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for kind in ("drip", "body"):
            for _ in range(self.count):
                thread = threading.Thread(target=self._hold, args=(kind,), daemon=True)
                thread.start()
                self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _hold(self, kind: str) -> None:
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        while not self.stop.is_set():
            with socket.create_connection((host, int(port)), timeout=5) as connection:
                self._opened(1)
                try:
                    if kind == "drip":
                        self._drip(connection)
                    else:
                        self._never_send_the_body(connection)
                except OSError:
                    pass
                finally:
                    self._opened(-1)
            if not self.stop.is_set():
                with self.lock:
                    self.dropped[kind] += 1

    def _drip(self, connection: socket.socket) -> None:
        connection.sendall(b"GET /slow-loris HTTP/1.1\r\nHost: slow\r\n")
        for byte in b"X-Slow: " + b"a" * 10_000:
            if self.stop.wait(DRIP_INTERVAL_S):
                return
            connection.sendall(bytes([byte]))

    def _never_send_the_body(self, connection: socket.socket) -> None:
        connection.sendall(
            b"POST /omlmod/v1/deployment/slow-loris/score HTTP/1.1\r\nHost: slow\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        )
        connection.settimeout(0.5)
        while not self.stop.is_set():
            try:
                if connection.recv(4096) == b"":
                    return  # nginx gave up on the body
            except TimeoutError:
                continue

    def _opened(self, delta: int) -> None:
        with self.lock:
            self.open_now += delta
            self.most_open = max(self.most_open, self.open_now)


@pytest.mark.slow
def test_slow_clients_cannot_starve_health_or_scoring_behind_nginx(tmp_path: Path) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    score = {"inputRecords": [{"float_input": zoo.sample["float_input"].tolist()}]}
    with running_service(tmp_path / "data", workers=1, threads=4, args=FRONT) as service:
        token = service.token()
        body, content_type = multipart(
            {"modelName": "house", "modelType": "ONNX", "version": "1.0"},
            {"modelData": ("m.zip", zoo.zip_path.read_bytes())},
        )
        stored = request(
            service.url, "POST", "/omlmod/v1/models", token=token, body=body, content_type=content_type
        )
        assert stored.status == 201, stored.body
        deployed = request(
            service.url,
            "POST",
            "/omlmod/v1/deployment",
            token=token,
            body={"modelId": stored.body["modelId"], "uri": "house"},
        )
        assert deployed.status == 201, deployed.body
        expected = request(service.url, "POST", "/omlmod/v1/deployment/house/score", token=token, body=score)
        assert expected.status == 200, expected.body

        attackers = SlowClients(service.url, count=8)
        attackers.start()
        health, scores = [], []
        try:
            deadline = time.monotonic() + ATTACK_S
            while time.monotonic() < deadline:
                live = request(service.url, "GET", "/health/live", timeout=10)
                assert live.status == 200, live
                health.append(live.seconds)
                scored = request(
                    service.url,
                    "POST",
                    "/omlmod/v1/deployment/house/score",
                    token=token,
                    body=score,
                    timeout=10,
                )
                assert scored.status == 200, scored
                assert scored.body == expected.body
                scores.append(scored.seconds)
                time.sleep(0.02)
            held = attackers.open_now
        finally:
            attackers.finish()
        started = service.process_tree()
        # issue 18: nginx dates each request (X-Request-Start) for the scoring queue phase; a client's
        # own header is replaced, never believed
        forged = {"X-Request-Start": f"t={time.time() - 30:.3f}"}
        scored = request(
            service.url, "POST", "/omlmod/v1/deployment/house/score", token=token, body=score, headers=forged
        )
        assert scored.status == 200, scored
        queue = _queue_phase(request(service.url, "GET", "/metrics", token=token))
        assert queue["count"] == len(scores) + 2
        assert 0 < queue["sum"] < 10

        assert attackers.most_open == 16 and held >= 14  # they were there all along
        assert attackers.dropped["drip"] >= 8  # nginx drops an unfinished header after 10 s
        assert len(health) >= 100
        assert p99(health) < 0.1, sorted(health)[-10:]
        assert p99(scores) < 0.1, sorted(scores)[-10:]
        assert "/health/live" in service.log()
        assert "slow-loris" not in service.log()  # no slow request ever reached gunicorn
    assert service.process.returncode == 0  # SIGTERM stopped both
    assert len(started) >= 5  # omlsvc, gunicorn's master and worker, nginx's master and workers
    assert wait_until_gone(started)


@pytest.mark.slow
def test_nginx_and_gunicorn_live_and_die_together_and_nginx_refuses_in_json(tmp_path: Path) -> None:
    limits = {"OMLSVC_MAX_UPLOAD_BYTES": "1000", "OMLSVC_MAX_REQUEST_BYTES": "1000"}
    with running_service(tmp_path / "data", workers=1, threads=2, args=FRONT, environ=limits) as service:
        token = service.token()
        host = service.url.removeprefix("http://")
        too_large = request(
            service.url,
            "POST",
            "/omlmod/v1/models",
            token=token,
            body=b"",
            headers={"Content-Length": str(3 * 1024 * 1024)},
        )
        assert too_large.status == 413
        assert too_large.body == {
            "code": "PAYLOAD_TOO_LARGE",
            "message": f"The request body is larger than {1000 + 1024 * 1024} bytes.",
        }
        listing = request(service.url, "GET", "/omlmod/v1/models", token=token)
        assert listing.status == 200
        assert listing.body["links"][0]["href"].startswith(f"http://{host}/omlmod/v1/models")

        started = service.process_tree()
        nginx = next(pid for pid in started if command_line(pid).startswith("nginx: master"))
        os.kill(nginx, signal.SIGKILL)
        assert service.process.wait(timeout=60) == 1
        lines = [line for line in service.log().splitlines() if line.startswith("omlsvc: ")]
        assert lines == ["omlsvc: nginx was killed by SIGKILL; stopped the rest"]
        assert wait_until_gone(started)  # gunicorn stopped, nginx's orphaned workers too
        assert request(service.url, "GET", "/health/live", timeout=5).error == "ConnectionRefusedError"


def _queue_phase(scraped: Any) -> dict[str, float]:
    """``count`` and ``sum`` of the score requests' ``queue`` phase in a scrape."""
    from prometheus_client.parser import text_string_to_metric_families

    text = scraped.body.decode() if isinstance(scraped.body, bytes) else str(scraped.body)
    found = {"count": 0.0, "sum": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("phase") == "queue" and sample.name.endswith(("_count", "_sum")):
                found[sample.name.rsplit("_", 1)[1]] += sample.value
    return found
