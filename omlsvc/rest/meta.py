"""``GET /omlmod/``, ``GET /omlmod/v1`` (spec section 3) and the health probes."""

from __future__ import annotations

import falcon

from omlsvc import __version__
from omlsvc.db.health import HealthService
from omlsvc.openapi.service import service_document
from omlsvc.rest.middleware import public
from omlsvc.rest.web import base_url, link

API_VERSION = "v1"


def _version_media(req: falcon.Request) -> dict[str, object]:
    return {
        "version": API_VERSION,
        "isLatest": True,
        "lifecycle": "active",
        "links": [
            link(req, f"/omlmod/{API_VERSION}"),
            link(req, f"/omlmod/{API_VERSION}/api", "describedby"),
        ],
    }


class VersionCollection:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"items": [_version_media(req)], "links": [link(req, "/omlmod/")]}


class Version:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = _version_media(req)


#: The OML service sends these with its API document so browser tools can load it.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, PUT",
    "Access-Control-Allow-Headers": "X-Requested-With, Content-Type",
}


class ServiceApi:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.set_headers(CORS_HEADERS)
        resp.media = service_document(base_url(req))


@public
class Liveness:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok", "version": __version__}


@public
class Readiness:
    def __init__(self, health: HealthService) -> None:
        self._health = health

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._health.check_database()
        resp.media = {"status": "ok", "database": "ok"}
