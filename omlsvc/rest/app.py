"""The OML REST app: ``create_app(settings)`` routes every path to its resource (the route table of
:mod:`omlsvc.rest.routes`) over the services that :mod:`omlsvc.wiring` builds.

Every non-2xx answer, whether raised by our code or by Falcon itself (unknown route, wrong method,
wrong media type), leaves as ``{"code": "...", "message": "..."}`` with a stable upper-case code and
the status :mod:`omlsvc.openapi.error_table` (the one error table) gives it.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import falcon

from omlsvc.config import Settings
from omlsvc.core.errors import OmlError, TooManyRequests
from omlsvc.core.logs import REQUEST_ID_ENV, ROUTE_ENV, bind, request_id_of, unbind
from omlsvc.openapi.error_table import code_of_status, status_of
from omlsvc.rest.metrics import RequestMetrics
from omlsvc.rest.middleware import AuthMiddleware, Request
from omlsvc.rest.oip import speaks_oip
from omlsvc.rest.routes import add_routes
from omlsvc.rest.web import ForwardedHeaders, json_handler, multipart_handler
from omlsvc.wiring import Services, build_services

log = logging.getLogger("omlsvc")


def create_app(settings: Settings, *, services: Services | None = None) -> falcon.App:
    services = services or build_services(settings)
    middleware: list[Any] = [
        RequestMetrics(services.metrics),
        RequestContext(services.worker_index),
        ForwardedHeaders(settings.trusted_proxies, unix_peer_trusted=settings.unix_socket is not None),
        AuthMiddleware(services.auth),
    ]
    app = falcon.App(middleware=middleware, request_type=Request, cors_enable=False)
    _set_media_options(app)
    add_routes(app, settings, services)
    _add_error_handlers(app)
    return app


def _set_media_options(app: falcon.App) -> None:
    """Our JSON (strict, bounded) and multipart handlers, and paths read without a trailing slash."""
    handler = json_handler()
    app.req_options.media_handlers.update(
        {falcon.MEDIA_JSON: handler, falcon.MEDIA_MULTIPART: multipart_handler()}
    )
    app.resp_options.media_handlers.update({falcon.MEDIA_JSON: handler})
    # issue 17: ``/omlmod/v1/models/`` is ``/omlmod/v1/models`` (Oracle's batch scoring collection
    # sends it); see :class:`omlsvc.rest.middleware.Request` for ``/omlmod/``.
    app.req_options.strip_url_path_trailing_slash = True


def _add_error_handlers(app: falcon.App) -> None:
    """Every error leaves as the OML error body: domain errors by the error table, anything else
    unexpected as a 500, and Falcon's own refusals through the serializer."""
    app.add_error_handler(Exception, _unexpected_error)
    app.add_error_handler(OmlError, _domain_error)
    app.set_error_serializer(_serialize_http_error)


#: On every answer, errors included: no content sniffing, and nothing kept by browsers or proxies.
NO_SNIFF = {"X-Content-Type-Options": "nosniff"}
NO_STORE = {"Cache-Control": "no-store"}


class RequestContext:
    """Gives every request an id (kept from ``X-Request-ID`` when it is a short token, else made) that
    its answer, its log lines and its errors share, and names the worker that answered
    (``X-Omlsvc-Worker``: its index, not its pid), which makes per-worker behaviour such as caches
    observable from outside. Every answer, errors included, also carries ``X-Content-Type-Options:
    nosniff`` and ``Cache-Control: no-store``.

    While the request runs, its id, route template and (once authenticated) user are bound to the log
    context (:mod:`omlsvc.core.logs`), and left in the WSGI environ for the access log, which gunicorn
    writes after the answer has left."""

    def __init__(self, worker_index: int = 0) -> None:
        self._worker = str(worker_index)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        request_id = request_id_of(req.get_header("X-Request-ID"))
        req.context.request_id = request_id
        req.context.principal = None
        req.env[REQUEST_ID_ENV] = request_id
        req.context.log_token = bind(request_id=request_id)

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        if req.uri_template:
            req.env[ROUTE_ENV] = req.uri_template
            bind(route=req.uri_template)  # undone with the request's binding

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, ok: bool
    ) -> None:
        request_id = getattr(req.context, "request_id", None)
        if request_id:
            resp.set_header("X-Request-ID", request_id)
        resp.set_header("X-Omlsvc-Worker", self._worker)
        resp.set_headers(NO_SNIFF)
        if resp.get_header("Cache-Control") is None:  # the token endpoints send Oracle's stricter set,
            # the console's files no-cache with an ETag
            resp.set_headers(NO_STORE)
        token = getattr(req.context, "log_token", None)
        if token is not None:
            req.context.log_token = None
            unbind(token)


def _domain_error(
    req: falcon.Request, resp: falcon.Response, error: OmlError, params: dict[str, Any]
) -> None:
    status = status_of(error)
    resp.status = status
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details:
        body["details"] = list(error.details)
    if status == 401:
        resp.set_header("WWW-Authenticate", 'Bearer realm="omlsvc"')
    if isinstance(error, TooManyRequests):
        resp.set_header("Retry-After", str(error.retry_after_s))
    if status == 503:
        resp.set_header("Retry-After", "1")
    if status == 413:
        # The rest of an oversized body is never read: close rather than leave it in the socket.
        resp.set_header("Connection", "close")
    if speaks_oip(req):
        body = {"error": error.message}
    resp.media = body


def _unexpected_error(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
) -> None:
    request_id = getattr(req.context, "request_id", "-")
    route = req.uri_template or "(no route)"
    log.exception("unexpected error in %s %s (request %s)", req.method, route, request_id)
    resp.status = 500
    message = f"An unexpected error occurred (request id {request_id})."
    resp.media = {"error": message} if speaks_oip(req) else {"code": "INTERNAL_ERROR", "message": message}


def _default_message(req: falcon.Request, error: falcon.HTTPError) -> str:
    if error.status_code == 404:
        return f"No resource at {req.path}."
    if error.status_code == 405:
        allowed = dict(error.headers or {}).get("Allow", "")
        return f"{req.method} is not allowed on {req.path}; allowed: {allowed}."
    return error.title or HTTPStatus(error.status_code).phrase


def _serialize_http_error(req: falcon.Request, resp: falcon.Response, error: falcon.HTTPError) -> None:
    status = error.status_code
    message = error.description or _default_message(req, error)
    resp.content_type = falcon.MEDIA_JSON
    body = {"error": message} if speaks_oip(req) else {"code": code_of_status(status), "message": message}
    resp.text = (
        json_handler()
        .serialize(
            body,
            falcon.MEDIA_JSON,
        )
        .decode("utf-8")
    )
