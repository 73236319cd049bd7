"""``/omlmod/v1/deployment`` (spec sections 5.1-5.5): HTTP in and out, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon

from omlsvc.core.signature import ScoringSpec
from omlsvc.deployment.records import DeploymentRecord, HistoryEntry
from omlsvc.deployment.service import DeploymentService, Prepare
from omlsvc.openapi.deployment import deployment_document
from omlsvc.repository.rows import ModelRecord
from omlsvc.rest.model_views import iso_timestamp, metadata_view, model_view
from omlsvc.rest.models import model_filter
from omlsvc.rest.web import base_url, collection_links, link, paging, read_json_object
from omlsvc.scoring.tensors import GraphTensors, cut_spec

DEPLOYMENTS = "/omlmod/v1/deployment"
BODY_LIMIT = 64 * 1024


def _endpoint_view(req: falcon.Request, record: DeploymentRecord) -> dict[str, Any]:
    model = model_view(record.model)
    model.pop("storedOn")
    return {
        **model,
        "uri": record.uri,
        "deployedOn": iso_timestamp(record.created_at),
        **_score_timeout(record),
        **_canary(record),
        **_output_tensor(record),
        "links": [link(req, f"{DEPLOYMENTS}/{record.uri}")],
    }


def _canary(record: DeploymentRecord) -> dict[str, Any]:
    """Our extension: the canary beside the main model, when there is one."""
    if record.canary is None:
        return {}
    return {"canary": {"modelId": record.canary.id, "percent": record.canary_percent}}


def _history_view(entry: HistoryEntry) -> dict[str, Any]:
    view: dict[str, Any] = {
        "seq": entry.seq,
        "action": entry.action,
        "modelId": entry.model_id,
        "previousModelId": entry.previous_model_id,
        "switchedOn": iso_timestamp(entry.switched_at),
        "switchedBy": entry.switched_by,
    }
    if entry.canary_model_id is not None:
        view["canary"] = {"modelId": entry.canary_model_id, "percent": entry.canary_percent}
    return view


def _score_timeout(record: DeploymentRecord) -> dict[str, Any]:
    """Our extension: the deployment's own time limit for a model run, when it has one."""
    return {} if record.score_timeout_s is None else {"scoreTimeout": record.score_timeout_s}


def _output_tensor(record: DeploymentRecord) -> dict[str, Any]:
    """Our extension (issue 16): the graph value a deployment cuts its model at, when it does."""
    return {} if record.output_tensor is None else {"outputTensor": record.output_tensor}


class DeploymentCollection:
    def __init__(self, deployments: DeploymentService, prepare: Prepare | None = None) -> None:
        """``prepare`` readies the model in this worker (and may refuse it) before the deployment is
        written and the 201 goes out."""
        self._deployments = deployments
        self._prepare = prepare

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_json_object(req, BODY_LIMIT)
        record = self._deployments.deploy(
            req.context.principal,
            body.get("modelId"),
            body.get("uri"),
            body.get("scoreTimeout"),
            prepare=self._prepare,
            output_tensor=body.get("outputTensor"),
        )
        resp.status = falcon.HTTP_201
        resp.location = f"{DEPLOYMENTS}/{record.uri}"
        resp.media = {
            "modelId": record.model.id,
            "uri": record.uri,
            "deployedOn": iso_timestamp(record.created_at),
            **_score_timeout(record),
            **_output_tensor(record),
            "links": [link(req, f"{DEPLOYMENTS}/{record.uri}")],
        }

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        offset, limit = paging(req)
        where = model_filter(req)
        records, more = self._deployments.list_deployments(req.context.principal, where, offset, limit)
        resp.media = {
            "items": [_endpoint_view(req, r) for r in records],
            "links": collection_links(req, DEPLOYMENTS, offset=offset, limit=limit, more=more),
        }


class Deployment:
    def __init__(self, deployments: DeploymentService, prepare: Prepare | None = None) -> None:
        """``prepare`` loads a model new to the URI in this worker before a change is written."""
        self._deployments = deployments
        self._prepare = prepare

    def on_get(self, req: falcon.Request, resp: falcon.Response, uri: str) -> None:
        record = self._deployments.get_deployment(req.context.principal, uri)
        self._render(req, resp, record)

    def on_put(self, req: falcon.Request, resp: falcon.Response, uri: str) -> None:
        """Swap the model under the URI, or set, remove or promote its canary."""
        # an absent body is the service's to refuse, after it checked that the caller may see the URI
        body = read_json_object(req, BODY_LIMIT, required=False)
        record = self._deployments.change(req.context.principal, uri, body, prepare=self._prepare)
        self._render(req, resp, record)

    @staticmethod
    def _render(req: falcon.Request, resp: falcon.Response, record: DeploymentRecord) -> None:
        spec = served_spec(record)
        resp.media = {**_endpoint_view(req, record), "metadata": metadata_view(record.model.name, spec)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, uri: str) -> None:
        self._deployments.undeploy(req.context.principal, uri)
        resp.status = falcon.HTTP_204


class DeploymentApi:
    def __init__(
        self, deployments: DeploymentService, tensors: Callable[[ModelRecord], GraphTensors] | None = None
    ) -> None:
        """``tensors`` lists a model's graph values (issue 16): the document then offers
        ``outputTensors`` with their names."""
        self._deployments = deployments
        self._tensors = tensors

    def on_get(self, req: falcon.Request, resp: falcon.Response, uri: str) -> None:
        record = self._deployments.get_deployment(req.context.principal, uri)
        model = record.model
        names = None
        if self._tensors is not None:
            names = [t.name for t in self._tensors(model).tensors if t.returnable]
        resp.media = deployment_document(
            served_spec(record),
            model_name=model.name,
            model_id=model.id,
            uri=record.uri,
            server_url=base_url(req),
            version=model.version,
            description=model.description,
            tensor_names=names,
            output_tensor=record.output_tensor,
        )


def served_spec(record: DeploymentRecord) -> ScoringSpec:
    """What the deployment scores as: the model's spec, or feature extraction when it cuts the model."""
    spec = ScoringSpec.from_json(record.model.spec_json)
    return spec if record.output_tensor is None else cut_spec(spec, record.output_tensor)


class DeploymentHistory:
    """``GET .../deployment/{uri}/history``: what the URI served, newest first."""

    def __init__(self, deployments: DeploymentService) -> None:
        self._deployments = deployments

    def on_get(self, req: falcon.Request, resp: falcon.Response, uri: str) -> None:
        offset, limit = paging(req)
        entries, more = self._deployments.history(req.context.principal, uri, offset, limit)
        path = f"{DEPLOYMENTS}/{uri}/history"
        resp.media = {
            "items": [_history_view(e) for e in entries],
            "links": collection_links(req, path, offset=offset, limit=limit, more=more),
        }


class DeploymentRollback:
    """``POST .../deployment/{uri}/rollback``: back to the model the last switch replaced."""

    def __init__(self, deployments: DeploymentService, prepare: Prepare | None = None) -> None:
        self._deployments = deployments
        self._prepare = prepare

    def on_post(self, req: falcon.Request, resp: falcon.Response, uri: str) -> None:
        record = self._deployments.rollback(req.context.principal, uri, prepare=self._prepare)
        Deployment._render(req, resp, record)
