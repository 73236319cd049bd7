"""A local HTTP server that serves files the way import tests need: as they are, missing, too slowly,
through a redirect, or stalling half way (issue 15); over TLS too, with a certificate a test issued."""

from __future__ import annotations

import ssl
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme


class Source:
    """``files`` (path -> bytes) served at ``url(path)``; ``/stall/<path>`` sends half the file and
    then nothing for ``stall_s``; ``/redirect/<path>`` answers 302 to ``<path>``; ``/slow/<path>``
    sends the file in ``slow_blocks`` pieces over ``slow_s`` seconds. ``hits`` counts requests per path."""

    def __init__(self, server: ThreadingHTTPServer, scheme: str = "http") -> None:
        self.server = server
        self.scheme = scheme
        self.files: dict[str, bytes] = {}
        #: path -> the Location a 302 sends (any URL)
        self.redirects: dict[str, str] = {}
        self.hits: dict[str, int] = {}
        self.stall_s = 5.0
        self.slow_s = 0.0

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"{self.scheme}://{host}:{port}{path}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ssl.SSLError):  # a client that refused our certificate
            super().handle_error(request, client_address)


@contextmanager
def serving(host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> Iterator[Source]:
    """Serve until the block ends; with ``tls`` (a server context holding a certificate) over https."""
    source: Source

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path
            source.hits[path] = source.hits.get(path, 0) + 1
            if path in source.redirects:
                self.send_response(302)
                self.send_header("Location", source.redirects[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if path.startswith("/redirect/"):
                self.send_response(302)
                self.send_header("Location", path[len("/redirect") :])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            mode = ""
            for prefix in ("/stall", "/slow"):
                if path.startswith(prefix + "/"):
                    mode, path = prefix, path[len(prefix) :]
            data = source.files.get(path)
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                if mode == "/stall":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    time.sleep(source.stall_s)
                elif mode == "/slow" and source.slow_s > 0:
                    step = max(1, len(data) // 20)
                    for start in range(0, len(data), step):
                        self.wfile.write(data[start : start + step])
                        self.wfile.flush()
                        time.sleep(source.slow_s / 20)
                else:
                    self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = _Server((host, 0), Handler)
    if tls is not None:
        # the handshake happens on the request's own thread, at its first read: a client that fails
        # it does not stall the server
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    source = Source(server, "https" if tls is not None else "http")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield source
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serving_https(issuer: trustme.CA, *names: str) -> Iterator[Source]:
    """:func:`serving` over https, with a certificate ``issuer`` signed for ``names`` (host names or
    IP addresses)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    issuer.issue_cert(*names).configure_cert(context)
    with serving(tls=context) as source:
        yield source


def trust_only(authority: trustme.CA, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``authority`` the only one this process (and the processes it starts) trusts, the way an
    operator adds a private authority: ``SSL_CERT_FILE``, which OpenSSL reads for its default paths."""
    bundle = folder / "authorities.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
