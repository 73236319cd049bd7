"""The OML REST app: ``create_app(settings)`` routes every path to its resource over the services that
:mod:`omlsvc.wiring` builds.

This module also holds the one mapping from domain errors to HTTP: every non-2xx answer, whether
raised by our code or by Falcon itself (unknown route, wrong method, wrong media type), leaves as
``{"code": "...", "message": "..."}`` with a stable upper-case code.
"""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

import falcon

from omlsvc.config import Settings
from omlsvc.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MemoryLimitExceeded,
    NotFound,
    OmlError,
    PayloadTooLarge,
    ScoringFailed,
    ScoringTimeout,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from omlsvc.rest.deployments import Deployment, DeploymentApi, DeploymentCollection
from omlsvc.rest.jobs import Job, JobAction, JobCheck, JobCollection, JobRuns
from omlsvc.rest.meta import Liveness, Readiness, ServiceApi, Version, VersionCollection
from omlsvc.rest.middleware import AuthMiddleware, Request
from omlsvc.rest.models import (
    Model,
    ModelCollection,
    ModelContent,
    ModelGrant,
    ModelGrants,
    ModelMetadata,
)
from omlsvc.rest.scoring import Score
from omlsvc.rest.tokens import Token, TokenRevocation
from omlsvc.rest.web import ForwardedHeaders, json_handler, multipart_handler
from omlsvc.wiring import Services, build_services

log = logging.getLogger("omlsvc")

#: The one table from domain error to HTTP status; the most specific class wins.
STATUS_BY_ERROR: tuple[tuple[type[OmlError], int], ...] = (
    (PayloadTooLarge, 413),
    (InvalidInput, 400),
    (ScoringFailed, 400),
    (MemoryLimitExceeded, 400),
    (ScoringTimeout, 503),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TooManyRequests, 429),
    (Unavailable, 503),
)

#: Codes for errors Falcon raises itself, keyed by status.
CODE_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
    431: "HEADERS_TOO_LARGE",
    500: "INTERNAL_ERROR",
    503: "UNAVAILABLE",
}


def create_app(settings: Settings, *, services: Services | None = None) -> falcon.App:
    services = services or build_services(settings)
    middleware: list[Any] = [
        RequestContext(services.worker_index),
        ForwardedHeaders(settings.trusted_proxies, unix_peer_trusted=settings.unix_socket is not None),
        AuthMiddleware(services.auth),
    ]
    app = falcon.App(middleware=middleware, request_type=Request, cors_enable=False)
    handler = json_handler()
    app.req_options.media_handlers.update(
        {falcon.MEDIA_JSON: handler, falcon.MEDIA_MULTIPART: multipart_handler()}
    )
    app.resp_options.media_handlers.update({falcon.MEDIA_JSON: handler})
    app.req_options.strip_url_path_trailing_slash = False

    app.add_route("/omlusers/api/oauth2/v1/token", Token(services.auth))
    app.add_route("/omlusers/api/oauth2/v1/token/revoke", TokenRevocation(services.auth))
    app.add_route("/omlmod/", VersionCollection())
    app.add_route("/omlmod/v1", Version())
    app.add_route("/omlmod/v1/api", ServiceApi())
    app.add_route("/omlmod/v1/models", ModelCollection(services.models))
    app.add_route("/omlmod/v1/models/{model_id}", Model(services.models))
    app.add_route("/omlmod/v1/models/{model_id}/metadata", ModelMetadata(services.models))
    app.add_route("/omlmod/v1/models/{model_id}/content", ModelContent(services.models))
    app.add_route("/omlmod/v1/models/{model_id}/grants", ModelGrants(services.models))
    app.add_route("/omlmod/v1/models/{model_id}/grants/{username}", ModelGrant(services.models))
    app.add_route(
        "/omlmod/v1/deployment", DeploymentCollection(services.deployments, services.scoring.prepare_deployed)
    )
    app.add_route("/omlmod/v1/deployment/{uri}", Deployment(services.deployments))
    app.add_route("/omlmod/v1/deployment/{uri}/api", DeploymentApi(services.deployments))
    app.add_route(
        "/omlmod/v1/deployment/{uri}/score",
        Score(services.scoring, settings.max_request_bytes, settings.max_response_bytes),
    )
    app.add_route("/omlmod/v1/jobs", JobCollection(services.jobs))
    app.add_route("/omlmod/v1/jobs/{jobId}", Job(services.jobs))
    app.add_route("/omlmod/v1/jobs/{jobId}/action", JobAction(services.jobs))
    app.add_route("/omlmod/v1/jobs/{jobId}/runs", JobRuns(services.jobs))
    app.add_route("/omlmod/v1/jobs/{jobId}/check", JobCheck(services.jobs))
    app.add_route("/health/live", Liveness())
    app.add_route("/health/ready", Readiness(services.health))

    app.add_error_handler(Exception, _unexpected_error)
    app.add_error_handler(OmlError, _domain_error)
    app.set_error_serializer(_serialize_http_error)
    return app


#: On every answer, errors included: no content sniffing, and nothing kept by browsers or proxies.
NO_SNIFF = {"X-Content-Type-Options": "nosniff"}
NO_STORE = {"Cache-Control": "no-store"}


class RequestContext:
    """Gives every request an id (kept from ``X-Request-ID`` when sane) that logs and errors share,
    and names the worker that answered (``X-Omlsvc-Worker``: its index, not its pid), which makes
    per-worker behaviour such as caches observable from outside. Every answer, errors included,
    also carries ``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store``."""

    def __init__(self, worker_index: int = 0) -> None:
        self._worker = str(worker_index)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = req.get_header("X-Request-ID")
        req.context.request_id = (
            given if given and len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
        )
        req.context.principal = None

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, ok: bool
    ) -> None:
        request_id = getattr(req.context, "request_id", None)
        if request_id:
            resp.set_header("X-Request-ID", request_id)
        resp.set_header("X-Omlsvc-Worker", self._worker)
        resp.set_headers(NO_SNIFF)
        if resp.get_header("Cache-Control") is None:  # the token endpoints send Oracle's stricter set
            resp.set_headers(NO_STORE)


def status_of(error: OmlError) -> int:
    for cls in type(error).__mro__:
        for error_class, status in STATUS_BY_ERROR:
            if cls is error_class:
                return status
    return 500


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
    resp.media = body


def _unexpected_error(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: dict[str, Any]
) -> None:
    request_id = getattr(req.context, "request_id", "-")
    log.exception("unexpected error in %s %s (request %s)", req.method, req.path, request_id)
    resp.status = 500
    resp.media = {
        "code": "INTERNAL_ERROR",
        "message": f"An unexpected error occurred (request id {request_id}).",
    }


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
    resp.text = (
        json_handler()
        .serialize(
            {"code": CODE_BY_STATUS.get(status, HTTPStatus(status).name), "message": message},
            falcon.MEDIA_JSON,
        )
        .decode("utf-8")
    )
