"""``client.deployments``: models served under URIs (``/omlmod/v1/deployment``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from omlsvc.client.transport import Http, segment

DEPLOYMENTS = "/omlmod/v1/deployment"


class Deployments:
    def __init__(self, http: Http) -> None:
        self._http = http

    def deploy(self, model_id: str, uri: str, *, score_timeout_s: float | None = None) -> dict[str, Any]:
        """Serve a model under ``uri``; ``score_timeout_s`` bounds each of its model runs."""
        body: dict[str, Any] = {"modelId": model_id, "uri": uri}
        if score_timeout_s is not None:
            body["scoreTimeout"] = score_timeout_s
        return dict(self._http.json("POST", DEPLOYMENTS, json_body=body))

    def list(
        self,
        *,
        name: str | None = None,
        version: str | None = None,
        namespace: str | None = None,
        page_size: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Every deployment the caller may see, page after page."""
        params = {"modelName": name, "version": version, "namespace": namespace}
        return self._http.pages(DEPLOYMENTS, params, page_size)

    def get(self, uri: str) -> dict[str, Any]:
        """The deployment, its model and the model's metadata."""
        return dict(self._http.json("GET", f"{DEPLOYMENTS}/{segment(uri)}"))

    def openapi(self, uri: str) -> dict[str, Any]:
        """The OpenAPI 3.0 document of this deployment's score call."""
        return dict(self._http.json("GET", f"{DEPLOYMENTS}/{segment(uri)}/api"))

    def undeploy(self, uri: str) -> None:
        self._http.call("DELETE", f"{DEPLOYMENTS}/{segment(uri)}")

    def swap(
        self,
        uri: str,
        model_id: str | None = None,
        *,
        force: bool = False,
        canary: str | None = None,
        canary_percent: int | None = None,
        remove_canary: bool = False,
        promote: bool = False,
    ) -> dict[str, Any]:
        """Change what ``uri`` serves without a gap: a new main model (``model_id``; ``force`` skips
        the compatibility check), a canary taking ``canary_percent`` % of requests, its removal
        (``remove_canary``), or its promotion to main model (``promote``)."""
        body: dict[str, Any] = {}
        if model_id is not None:
            body["modelId"] = model_id
        if force:
            body["force"] = True
        if canary is not None:
            body["canary"] = {"modelId": canary, "percent": canary_percent}
        elif remove_canary:
            body["canary"] = None
        if promote:
            body["promote"] = True
        return dict(self._http.json("PUT", f"{DEPLOYMENTS}/{segment(uri)}", json_body=body))

    def rollback(self, uri: str) -> dict[str, Any]:
        """Back to the main model the newest swap, rollback or promotion replaced."""
        return dict(self._http.json("POST", f"{DEPLOYMENTS}/{segment(uri)}/rollback"))

    def history(self, uri: str, *, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """What ``uri`` served, newest change first."""
        return self._http.pages(f"{DEPLOYMENTS}/{segment(uri)}/history", {}, page_size)
