"""Use cases of the Open Inference Protocol (KServe v2) over the service's own deployments.

A deployment's URI is a protocol model name, and it answers as version ``"1"``. Nothing here is new
authority: a caller sees and infers exactly the deployments it may score through the OML API (the
deployment service's visibility rule), and the repository extension's load and unload are the
deployment service's deploy and undeploy, with their owner-or-admin rule. Inference runs on the
worker's prepared session of the model, through the scoring service (its time limit, memory bound,
metrics and canary routing), with the request's raw tensors.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from omlsvc.core.authorization import Principal, may_manage_model, require_principal
from omlsvc.core.errors import InvalidInput, NotFound
from omlsvc.core.observe import ScoringTotals
from omlsvc.core.patterns import DEPLOYMENT_URI
from omlsvc.core.signature import ScoringSpec
from omlsvc.deployment.service import DeploymentService, Prepare
from omlsvc.oip import models as views
from omlsvc.oip.codec import encode_infer_response, parse_infer_request
from omlsvc.repository.rows import ModelFilter
from omlsvc.repository.service import ModelService
from omlsvc.scoring.service import ScoringService

SERVER_NAME = "omlsvc"
SERVER_VERSION = "1"
EXTENSIONS = ("binary_tensor_data", "classification", "model_repository", "statistics")
#: Deployments one repository index or statistics answer lists at most.
MAX_LISTED = 1000


@dataclass(frozen=True)
class Inferred:
    """An inference answer: the body, the length of its JSON part when binary outputs follow, and
    the model (main or canary) that computed it."""

    body: bytes
    header_length: int | None
    model_id: str


class InferenceService:
    def __init__(
        self,
        scoring: ScoringService,
        deployments: DeploymentService,
        models: ModelService,
        totals: Callable[[str], ScoringTotals],
        *,
        max_rows: int,
        max_response_bytes: int,
    ) -> None:
        """``totals`` reads a deployment's score statistics (the metrics' numbers)."""
        self._scoring = scoring
        self._deployments = deployments
        self._models = models
        self._totals = totals
        self._max_rows = max_rows
        self._max_response = max_response_bytes

    @staticmethod
    def server_metadata() -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": list(EXTENSIONS)}

    @staticmethod
    def check_version(version: str | None) -> None:
        if version is not None and version != views.MODEL_VERSION:
            raise NotFound(f"Version {version[:40]!r} does not exist: a deployment serves version 1.")

    def _spec(self, principal: Principal, name: str) -> ScoringSpec:
        record = self._deployments.lookup_deployment(principal, name)
        return ScoringSpec.from_json(record.model.spec_json)

    def model_metadata(self, principal: Principal, name: str) -> dict[str, Any]:
        return views.model_metadata(name, self._spec(principal, name))

    def model_config(self, principal: Principal, name: str) -> dict[str, Any]:
        return views.model_config(name, self._spec(principal, name), self._max_rows)

    def ready(self, principal: Principal, name: str) -> None:
        """Returns when the deployment exists and the caller may see it (NotFound otherwise)."""
        self._deployments.lookup_deployment(principal, name)

    def infer(
        self,
        principal: Principal,
        name: str,
        body: bytes,
        header_length: int | None,
        *,
        route_key: str | None = None,
    ) -> Inferred:
        """Decode, check against the model's signature, run on the worker's session, encode."""
        require_principal(principal)
        started = time.perf_counter()
        served = self._scoring.serving_model(principal, name, route_key=route_key)
        spec = served.model.spec
        max_elements = self._max_rows * 100_000
        request = parse_infer_request(body, header_length, max_elements=max_elements)
        feeds = views.check_inputs(spec, request, self._max_rows)
        names = views.output_names(spec, request)
        self._scoring.observe_phase(served.uri, "preprocess", time.perf_counter() - started)
        values = self._scoring.run_tensors(served, feeds, names, request.rows)
        formatted = time.perf_counter()
        outputs = views.wire_outputs(spec, request, values)
        data, length = encode_infer_response(
            name, views.MODEL_VERSION, request.id, outputs, limit=self._max_response
        )
        self._scoring.observe_phase(served.uri, "format", time.perf_counter() - formatted)
        return Inferred(data, length, served.model_id)

    # -- statistics extension --------------------------------------------------------------------

    def statistics(self, principal: Principal, name: str | None) -> dict[str, Any]:
        """``GET /v2/models[/{name}]/stats``: one deployment, or every one the caller may see."""
        require_principal(principal)
        if name is not None:
            self._deployments.lookup_deployment(principal, name)
            uris = [name]
        else:
            records, _ = self._deployments.list_deployments(principal, ModelFilter(), 0, MAX_LISTED)
            uris = [record.uri for record in records]
        return {"model_stats": [_model_stats(uri, self._totals(uri)) for uri in uris]}

    # -- model repository extension --------------------------------------------------------------

    def repository_index(self, principal: Principal, *, ready_only: bool = False) -> list[dict[str, Any]]:
        """The deployments the caller may see (``READY``), then (unless ``ready_only``) the models it
        may manage that no URI serves, by name, whose name could be a deployment URI
        (``UNAVAILABLE``: a load deploys them)."""
        require_principal(principal)
        records, _ = self._deployments.list_deployments(principal, ModelFilter(), 0, MAX_LISTED)
        index = [{"name": r.uri, "version": views.MODEL_VERSION, "state": "READY"} for r in records]
        if ready_only:
            return index
        served = {r.uri for r in records} | {r.model.id for r in records}
        models, _ = self._models.list_models(principal, ModelFilter(), 0, MAX_LISTED)
        seen: set[str] = set()
        for model in models:
            if model.name in served or model.name in seen or model.id in served:
                continue
            if not DEPLOYMENT_URI.fullmatch(model.name) or not may_manage_model(principal, model.access):
                continue
            seen.add(model.name)
            index.append({"name": model.name, "state": "UNAVAILABLE", "reason": "not deployed"})
        return index

    def load(self, principal: Principal, name: str, body: Mapping[str, Any], prepare: Prepare) -> None:
        """Deploy, at the URI ``name``, the newest stored model named ``name`` the caller may manage
        (``parameters.version`` picks a version). A URI that serves already is left as it is."""
        require_principal(principal)
        if not DEPLOYMENT_URI.fullmatch(name):
            raise InvalidInput("A model name to load must be 1 to 200 letters, digits or '_'.")
        version = _parameters(body).get("version")
        if version is not None and not isinstance(version, str):
            raise InvalidInput("Parameter 'version' must be a string.")
        try:
            self._deployments.lookup_deployment(principal, name)
            return  # loaded already: Triton answers success, and so do we
        except NotFound:
            pass
        models, _ = self._models.list_models(
            principal, ModelFilter(name=name, version=version), 0, MAX_LISTED
        )
        if not models:
            raise NotFound(f"No stored model named {name!r} to load.")
        newest = max(models, key=lambda m: m.created_at)
        self._deployments.deploy(principal, newest.id, name, prepare=prepare)

    def unload(self, principal: Principal, name: str, body: Mapping[str, Any]) -> None:
        """Undeploy the URI ``name`` (owner or admin; the model stays stored)."""
        _parameters(body)
        self._deployments.undeploy(principal, name)


def _parameters(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """A repository request's ``parameters``: absent, or an object."""
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInput("'parameters' must be an object.")
    return parameters


def _model_stats(name: str, totals: ScoringTotals) -> dict[str, Any]:
    """Triton's statistics shape. Every phase is counted once per answered request, as Triton does
    (clients such as perf_analyzer refuse phase counts that differ): the phase histograms of the
    metrics count a request's phases one by one, so a request between two phases would otherwise
    show. ``fail`` is requests that reached a model minus those answered, in flight included."""

    def entry(count: int, seconds: float) -> dict[str, int]:
        return {"count": count, "ns": int(seconds * 1e9)}

    answered = totals.answered
    seconds = {phase: total.seconds for phase, total in totals.phases.items()}
    pre, run, post = (seconds.get(p, 0.0) for p in ("preprocess", "run", "format"))
    return {
        "name": name,
        "version": views.MODEL_VERSION,
        "last_inference": 0,
        "inference_count": totals.rows,
        "execution_count": answered,
        "inference_stats": {
            "success": entry(answered, pre + run + post),
            "fail": entry(max(0, totals.requests - answered), 0.0),
            # requests run on the thread that read them: there is no server-side queue to wait in
            "queue": entry(answered, seconds.get("queue", 0.0)),
            "compute_input": entry(answered, pre),
            "compute_infer": entry(answered, run),
            "compute_output": entry(answered, post),
            "cache_hit": entry(0, 0.0),
            "cache_miss": entry(0, 0.0),
        },
        "batch_stats": [],
    }
