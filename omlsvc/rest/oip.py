"""The Open Inference Protocol (KServe v2) under ``/v2``: the second transport over the same services.

Same workers, same tokens (deny by default: only the two health probes are :func:`public`), same
authorization and the same per-worker sessions as ``/omlmod``. Resources parse and render only; the
protocol's tensors are :mod:`omlsvc.oip.codec`'s and the use cases :mod:`omlsvc.oip.service`'s.
Errors keep the statuses of the one error table but leave as the protocol's ``{"error": "..."}``
(:func:`speaks_oip` tells ``app.py`` which body to render).
"""

from __future__ import annotations

from typing import Any

import falcon

from omlsvc.core.errors import InvalidInput
from omlsvc.db.health import HealthService
from omlsvc.deployment.service import Prepare
from omlsvc.oip.binary_data import HEADER_LENGTH, parse_header_length
from omlsvc.oip.service import InferenceService
from omlsvc.rest.middleware import public
from omlsvc.rest.scoring import MODEL_ID_HEADER, _route_key
from omlsvc.rest.web import parse_json, read_body

PREFIX = "/v2"
OCTET_STREAM = "application/octet-stream"
#: Bodies the repository extension takes (Triton's load parameters): small JSON objects.
MAX_REPOSITORY_BODY = 64 * 1024


def speaks_oip(req: falcon.Request) -> bool:
    """Whether an error answer takes the protocol's body: the path is under ``/v2`` (Falcon's router
    ignores extra leading slashes, so this does too). It decides how an error is rendered, never
    who gets in: that is the middleware's, after routing."""
    path = req.path.lstrip("/")
    return path == "v2" or path.startswith("v2/")


class _Oip:
    """Base of the /v2 resources that call the protocol's service."""

    def __init__(self, service: InferenceService) -> None:
        self._service = service


@public
class OipLive:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"live": True}


@public
class OipReady:
    def __init__(self, health: HealthService) -> None:
        self._health = health

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._health.check_database()
        resp.media = {"ready": True}


class OipServer(_Oip):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._service.server_metadata()


class OipModel(_Oip):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, name: str, version: str | None = None
    ) -> None:
        self._service.check_version(version)
        resp.media = self._service.model_metadata(req.context.principal, name)


class OipModelReady(_Oip):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, name: str, version: str | None = None
    ) -> None:
        self._service.check_version(version)
        self._service.ready(req.context.principal, name)
        resp.media = {"name": name, "ready": True}


class OipModelConfig(_Oip):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, name: str, version: str | None = None
    ) -> None:
        self._service.check_version(version)
        resp.media = self._service.model_config(req.context.principal, name)


class OipInfer(_Oip):
    def __init__(self, service: InferenceService, max_request_bytes: int) -> None:
        super().__init__(service)
        self._limit = max_request_bytes

    def on_post(
        self, req: falcon.Request, resp: falcon.Response, name: str, version: str | None = None
    ) -> None:
        self._service.check_version(version)
        body = read_body(req, self._limit)
        header_length = parse_header_length(req.get_header(HEADER_LENGTH), len(body))
        inferred = self._service.infer(
            req.context.principal, name, body, header_length, route_key=_route_key(req)
        )
        resp.set_header(MODEL_ID_HEADER, inferred.model_id)
        if inferred.header_length is None:
            resp.content_type = falcon.MEDIA_JSON
        else:
            resp.content_type = OCTET_STREAM
            resp.set_header(HEADER_LENGTH, str(inferred.header_length))
        resp.data = inferred.body


class OipModelStats(_Oip):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, name: str | None = None, version: str | None = None
    ) -> None:
        self._service.check_version(version)
        resp.media = self._service.statistics(req.context.principal, name)


class OipRepositoryIndex(_Oip):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        # tritonclient sends an empty body, others {"ready": true|false}: both taken
        ready = _object_body(req).get("ready", False)
        if not isinstance(ready, bool):
            raise InvalidInput("'ready' must be true or false.")
        resp.media = self._service.repository_index(req.context.principal, ready_only=ready)


class OipRepositoryLoad(_Oip):
    def __init__(self, service: InferenceService, prepare: Prepare) -> None:
        super().__init__(service)
        self._prepare = prepare

    def on_post(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self._service.load(req.context.principal, name, _object_body(req), self._prepare)
        resp.media = {}


class OipRepositoryUnload(_Oip):
    def on_post(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self._service.unload(req.context.principal, name, _object_body(req))
        resp.media = {}


def _object_body(req: falcon.Request) -> dict[str, Any]:
    """An optional JSON object body (absent or empty: ``{}``)."""
    data = read_body(req, MAX_REPOSITORY_BODY)
    if not data.strip():
        return {}
    body = parse_json(data)
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.")
    return body


def add_oip_routes(
    app: falcon.App,
    service: InferenceService,
    health: HealthService,
    prepare: Prepare,
    max_request_bytes: int,
) -> None:
    """Every /v2 route; ``versions/{version}`` forms answer as the plain ones (version 1 only)."""
    app.add_route(PREFIX, OipServer(service))
    app.add_route(f"{PREFIX}/health/live", OipLive())
    app.add_route(f"{PREFIX}/health/ready", OipReady(health))
    app.add_route(f"{PREFIX}/models/stats", OipModelStats(service))
    app.add_route(f"{PREFIX}/repository/index", OipRepositoryIndex(service))
    app.add_route(f"{PREFIX}/repository/models/{{name}}/load", OipRepositoryLoad(service, prepare))
    app.add_route(f"{PREFIX}/repository/models/{{name}}/unload", OipRepositoryUnload(service))
    per_model: list[tuple[str, _Oip]] = [
        ("", OipModel(service)),
        ("/ready", OipModelReady(service)),
        ("/config", OipModelConfig(service)),
        ("/infer", OipInfer(service, max_request_bytes)),
        ("/stats", OipModelStats(service)),
    ]
    for suffix, resource in per_model:
        app.add_route(f"{PREFIX}/models/{{name}}{suffix}", resource)
        app.add_route(f"{PREFIX}/models/{{name}}/versions/{{version}}{suffix}", resource)
