"""``GET /metrics`` of an ``omlsvc jobs worker`` process (issue 18).

A jobs worker runs outside gunicorn, often on another host, so the service's scrape cannot see it.
It keeps its metrics in its own process (never in the gunicorn workers' ``PROMETHEUS_MULTIPROC_DIR``,
which ``omlsvc serve`` empties at every start) and, when ``OMLSVC_JOBS_METRICS_BIND`` names an
address, answers ``GET /metrics`` there itself: the same exposition and metric names as the service
(job runs by outcome, rows written, database connections and errors, session loads, memory and CPU),
for a bearer of ``OMLSVC_METRICS_TOKEN`` only (compared in constant time; without the token the
setting is refused at start). Nothing a jobs worker exposes names a deployment or a user.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST

from omlsvc.metrics import Metrics

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _QuietHandler(WSGIRequestHandler):
    """No access line per scrape on the worker's log (a scrape every 15 s would drown it)."""

    def log_message(self, format: str, *args: Any) -> None:
        return


def metrics_app(metrics: Metrics, token: str) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app: ``GET /metrics`` with ``Authorization: Bearer <token>``; 401, 404 or 405 else."""
    expected = token.encode()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").rstrip("/") != "/metrics":
            return _answer(
                start_response, "404 Not Found", b'{"code":"NOT_FOUND","message":"Only /metrics."}'
            )
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _answer(
                start_response,
                "405 Method Not Allowed",
                b'{"code":"METHOD_NOT_ALLOWED","message":"GET only."}',
            )
        scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            return _answer(
                start_response,
                "401 Unauthorized",
                b'{"code":"UNAUTHORIZED","message":"GET /metrics needs Authorization: Bearer <OMLSVC_METRICS_TOKEN>."}',
                [("WWW-Authenticate", 'Bearer realm="omlsvc"')],
            )
        body = metrics.scrape()
        start_response(
            "200 OK",
            [
                ("Content-Type", CONTENT_TYPE_LATEST),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [body]

    return app


def _answer(
    start_response: StartResponse, status: str, body: bytes, extra: list[tuple[str, str]] | None = None
) -> list[bytes]:
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *(extra or [])]
    start_response(status, headers)
    return [body]


def serve_metrics(metrics: Metrics, bind: str, token: str) -> WSGIServer:
    """Answer scrapes on ``bind`` (``HOST:PORT``) from a daemon thread; ``shutdown()`` stops it."""
    host, _, port = bind.rpartition(":")
    server = make_server(
        host.strip("[]"), int(port), metrics_app(metrics, token), handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="omlsvc-metrics", daemon=True).start()
    return server
