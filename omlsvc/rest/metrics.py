"""``GET /metrics`` (the Prometheus scrape) and the middleware that counts and times every request.

Access: the scrape needs a bearer token, either the operator's ``OMLSVC_METRICS_TOKEN`` (compared in
constant time) or any valid OML access token; without one it is a 401. Series that name a deployment
are shown whole to the metrics token and to admins; a user's token sees only the deployments that
user may see (:meth:`DeploymentService.visible_uris`, the same rule as listing deployments), so no
scrape names another user's private deployment. Everything else (request counts by route family,
latencies, logins, jobs, memory) names nobody and is shown to every valid token.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

import falcon
from prometheus_client import CONTENT_TYPE_LATEST

from omlsvc.auth.service import AuthService
from omlsvc.core.authorization import sees_every_model
from omlsvc.deployment.service import DeploymentService
from omlsvc.metrics import Metrics
from omlsvc.rest.middleware import checks_its_own_token


class RequestMetrics:
    """Counts every answer by route family (the template Falcon routed to, never the raw path),
    method and status class, and times it from the first middleware to the answer."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started_at = time.perf_counter()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, ok: bool
    ) -> None:
        started = getattr(req.context, "started_at", None)
        seconds = 0.0 if started is None else time.perf_counter() - started
        route = req.uri_template if resource is not None else None
        self._metrics.request_answered(route, req.method, resp.status_code, seconds)


@checks_its_own_token  # the metrics token or an OML token, see the module
class MetricsScrape:
    def __init__(
        self, metrics: Metrics, auth: AuthService, deployments: DeploymentService, token: str | None
    ) -> None:
        self._metrics = metrics
        self._auth = auth
        self._deployments = deployments
        self._token = token.encode() if token else None

    def admit(self, token: str) -> Callable[[str], bool] | None:
        """Which deployments the bearer of ``token`` may see named: all (None) for the metrics token
        and admins, else those of :meth:`DeploymentService.visible_uris`. Raises Unauthorized."""
        if self._token is not None and hmac.compare_digest(token.encode(), self._token):
            return None
        principal = self._auth.authenticate(token)
        if sees_every_model(principal):
            return None
        return self._deployments.visible_uris(principal).__contains__

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = self._metrics.scrape(req.context.admitted)
