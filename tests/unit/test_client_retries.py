"""What the client sends again and what it never does, against a real local HTTP server that fails on
purpose: idempotent requests are retried after a 503 or a dropped connection, a POST never is (unless
it is marked safe to send twice, as logins and score calls are)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from omlsvc.client.errors import TransportError, UnavailableError
from omlsvc.client.transport import Http


@dataclass
class Script:
    """How the server answers: the first ``failures`` requests fail (``mode``), the rest succeed."""

    failures: int = 0
    mode: str = "503"
    seen: list[str] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            script.seen.append(self.command)
            if len(script.seen) <= script.failures:
                if script.mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                body = json.dumps({"code": "UNAVAILABLE", "message": "try later"}).encode()
                self.send_response(503)
                self.send_header("Retry-After", "0")
            else:
                body = b'{"ok": true}'
                self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_idempotent_requests_are_retried_after_a_503(server: tuple[str, Script], method: str) -> None:
    url, script = server
    script.failures = 2
    http = Http(url, retries=3)
    assert http.json(method, "/x", authenticated=False) == {"ok": True}
    assert script.seen == [method] * 3


def test_a_post_is_never_sent_twice(server: tuple[str, Script]) -> None:
    url, script = server
    script.failures = 2
    http = Http(url, retries=3)
    with pytest.raises(UnavailableError) as refused:
        http.json("POST", "/x", json_body={"a": 1}, authenticated=False)
    assert refused.value.code == "UNAVAILABLE" and script.seen == ["POST"]


def test_a_dropped_connection_is_retried_only_where_sending_twice_is_safe(server: tuple[str, Script]) -> None:
    url, script = server
    script.failures, script.mode = 1, "drop"
    http = Http(url, retries=3)
    assert http.json("GET", "/x", authenticated=False) == {"ok": True}
    assert script.seen == ["GET", "GET"]

    script.seen.clear()
    script.failures = 1
    assert http.json("POST", "/score", json_body={}, authenticated=False, replay_safe=True) == {"ok": True}
    assert script.seen == ["POST", "POST"]

    script.seen.clear()
    script.failures = 1
    with pytest.raises(TransportError):
        http.json("POST", "/models", json_body={}, authenticated=False)
    assert script.seen == ["POST"]
