"""The composition root: ``create_app(settings)`` wires services into a Falcon app.

This module also holds the one mapping from domain errors to HTTP: every non-2xx answer, whether
raised by our code or by Falcon itself (unknown route, wrong method, wrong media type), leaves as
``{"code": "...", "message": "..."}`` with a stable upper-case code.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import falcon
import onnxruntime
from sqlalchemy import Engine

from omlsvc.auth.middleware import AuthMiddleware, Request
from omlsvc.auth.resources import Token, TokenRevocation
from omlsvc.auth.service import AuthService
from omlsvc.auth.tokens import TokenCodec
from omlsvc.config import Settings
from omlsvc.db.changes import ChangeFeed
from omlsvc.db.engine import make_engine
from omlsvc.deployment.resources import Deployment, DeploymentApi, DeploymentCollection
from omlsvc.deployment.service import DeploymentService
from omlsvc.errors import (
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
from omlsvc.jobs.grants import TableGrantService
from omlsvc.jobs.resources import Job, JobAction, JobCheck, JobCollection, JobRuns
from omlsvc.jobs.service import JobService
from omlsvc.meta.resources import Liveness, Readiness, ServiceApi, Version, VersionCollection
from omlsvc.meta.service import HealthService
from omlsvc.private_files import make_private_dir
from omlsvc.repository.isolation import IsolatedValidator
from omlsvc.repository.resources import (
    Model,
    ModelCollection,
    ModelContent,
    ModelGrant,
    ModelGrants,
    ModelMetadata,
)
from omlsvc.repository.service import ModelService
from omlsvc.scoring.files import ModelFiles
from omlsvc.scoring.images import ImageOptions
from omlsvc.scoring.inputs import InputLimits
from omlsvc.scoring.resources import Score
from omlsvc.scoring.scorer import RunLimits
from omlsvc.scoring.service import ScoringService
from omlsvc.scoring.sessions import SessionCache, choose_providers, detect_gpu_count, make_session_options
from omlsvc.web import ForwardedHeaders, json_handler, multipart_handler

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


@dataclass(frozen=True)
class Services:
    """Everything a resource may call; built once per worker by :func:`build_services`."""

    settings: Settings
    engine: Engine
    worker_index: int
    auth: AuthService
    health: HealthService
    models: ModelService
    deployments: DeploymentService
    scoring: ScoringService
    jobs: JobService
    table_grants: TableGrantService


def build_services(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Callable[[], float] | None = None,
    worker_index: int = 0,
    gpu_count: int | None = None,
) -> Services:
    """Everything one worker needs. ``worker_index`` (gunicorn's, see ``gunicorn_conf``) picks the
    GPU; ``gpu_count`` defaults to what the machine has."""
    make_private_dir(settings.data_dir)
    engine = engine or make_engine(settings.database_url)
    auth_args: dict[str, Any] = {"clock": clock} if clock else {}
    changes = ChangeFeed(engine)  # one per worker: a change made here reaches every cache here at once
    validator = IsolatedValidator(cpu_s=settings.validation_cpu_s, memory_bytes=settings.validation_memory)
    models = ModelService(engine, settings, validate=validator, changes=changes)
    deployments = DeploymentService(engine, changes=changes)
    files = ModelFiles(settings.cache_dir, models.archive_limits)
    return Services(
        settings=settings,
        engine=engine,
        worker_index=worker_index,
        auth=AuthService(engine, TokenCodec.from_settings(settings), settings, changes=changes, **auth_args),
        health=HealthService(engine),
        models=models,
        deployments=deployments,
        jobs=JobService(engine),
        table_grants=TableGrantService(engine),
        scoring=ScoringService(
            deployments,
            models,
            files,
            _session_cache(
                settings, files, worker_index, detect_gpu_count() if gpu_count is None else gpu_count
            ),
        ),
    )


def _session_cache(settings: Settings, files: ModelFiles, worker_index: int, gpu_count: int) -> SessionCache:
    """The worker's LRU of onnxruntime sessions, on its GPU when onnxruntime offers CUDA."""
    threads = settings.intra_op_threads or None
    return SessionCache(
        settings.session_cache_size,
        files.path,
        lambda: make_session_options(threads, workers=settings.workers),
        choose_providers(onnxruntime.get_available_providers(), worker_index, gpu_count),
        limits=InputLimits(max_rows=settings.max_score_rows),
        image_options=ImageOptions(
            max_pixels=settings.max_image_pixels,
            max_target_pixels=settings.max_image_target_pixels,
            max_request_pixels=settings.max_request_pixels,
        ),
        warm_up=settings.warm_up,
        run_limits=RunLimits(
            timeout_s=settings.score_timeout_s,
            memory_bytes=settings.scoring_memory_limit,
            max_response_bytes=settings.max_response_bytes,
        ),
    )


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
