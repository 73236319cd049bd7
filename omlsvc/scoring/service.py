"""The score use case: find the deployment, get the worker's prepared model, score.

Per request this costs no database round trip: the deployment comes from the :class:`ModelSource`,
whose worker cache the change counter keeps within a second of the database (an undeploy is seen at
once by the worker that made it, within a second by every other one; see ``omlsvc.db.changes``);
visibility is checked per caller there. A model this worker has not loaded yet costs one session
build from the host's disk cache, and one fetch of its stored bytes when no worker of the host has
cached it yet (:mod:`omlsvc.scoring.files`).

Which model serves a request, its session and the warm-up of sessions ahead of requests are
:class:`~omlsvc.scoring.prepared.PreparedModels`'s; here are the use cases that score with them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from omlsvc.core.authorization import Principal, require_principal
from omlsvc.core.batching import BatchingOptions
from omlsvc.core.errors import InvalidInput
from omlsvc.core.observe import UNOBSERVED, Observer
from omlsvc.core.signature import ModelType
from omlsvc.core.values import parse_positive_int
from omlsvc.scoring.batching import Batchers
from omlsvc.scoring.files import ModelFiles
from omlsvc.scoring.inputs import Feeds
from omlsvc.scoring.outputs import Result
from omlsvc.scoring.prepared import PreparedModels
from omlsvc.scoring.scorer import PreparedModel, RunFeeds
from omlsvc.scoring.sessions import SessionCache
from omlsvc.scoring.source import ModelSource, ModelToScore, ScoringTarget
from omlsvc.scoring.tensors import GraphTensors, parse_tensor_names, tensor_answer


@dataclass(frozen=True)
class Scored:
    """A score answer: the results, and the model that computed every one of them (the deployment's
    main model or its canary). The seam for per-model metrics and the ``X-Omlsvc-Model-Id`` header."""

    results: list[Result]
    model_id: str
    canary: bool = False
    #: What the request asked for that the service did not do (``topNdetails``): the transport says
    #: it in a ``Warning`` header, the answer itself keeps Oracle's shape.
    warnings: tuple[str, ...] = ()


#: The spellings of Oracle's prediction-details count: ``topNdetails`` (score) and ``topNDetails``
#: (its jobs); neither is supported for ONNX models (spec section 5.6).
TOP_N_DETAILS = ("topNdetails", "topNDetails")
TOP_N_DETAILS_WARNING = "topNdetails is not supported for ONNX models and was ignored"


@dataclass(frozen=True)
class ScoredTensors:
    """A score answer of named tensors (``outputTensors``): each ``{"name", "shape", "datatype",
    "data"}`` for the whole batch, in the order asked, and the model that computed them."""

    tensors: list[dict[str, Any]]
    model_id: str
    canary: bool = False
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServedModel:
    """The model serving a URI for one request, prepared in this worker, and the deployment's own
    time limit for a run (None: the worker's)."""

    uri: str
    model_id: str
    canary: bool
    model: PreparedModel
    timeout_s: float | None


def parse_top_n(value: object, name: str = "topN") -> int | None:
    """``topN``: absent, or an integer of at least 1 (:func:`~omlsvc.core.values.parse_positive_int`:
    an integral JSON number such as ``2.0``, or its text from forms and query strings)."""
    return parse_positive_int(value, name)


def details_warnings(body: dict[str, Any]) -> tuple[str, ...]:
    """Check ``topNdetails``/``topNDetails`` like ``topN`` and say that they are not done for ONNX."""
    asked = False
    for name in TOP_N_DETAILS:
        asked = parse_top_n(body.get(name), name) is not None or asked
    return (TOP_N_DETAILS_WARNING,) if asked else ()


class ScoringService:
    def __init__(
        self,
        source: ModelSource,
        files: ModelFiles,
        cache: SessionCache,
        observer: Observer = UNOBSERVED,
        *,
        batching: BatchingOptions | None = None,
        request_threads: int | None = None,
    ) -> None:
        """``observer`` is told the phases, rows and deployment of every score request. ``batching``
        is the dynamic batching of deployments that set none of their own (None: off).
        ``request_threads`` (the worker's, when known) lets a batch that holds them all run at once."""
        self._source = source
        self._default_batching = batching
        self._batchers = Batchers(request_threads)
        self._observer = observer
        self._models = models = PreparedModels(source, files, cache)
        #: What deploys, batch jobs and the change counter ask of the worker's prepared models, offered
        #: as the service's own (their callers hold the service) without a call in between.
        self.prepared_for_model = models.prepared_for_model
        self.graph_tensors = models.graph_tensors
        self.prepare_deployed = models.prepare_deployed
        self.refresh_served = models.refresh_served

    @property
    def cache(self) -> SessionCache:
        return self._models.cache

    def score_records(self, principal: Principal, uri: str, body: dict[str, Any]) -> list[Result]:
        """The results of :meth:`scored_records` (for callers that need not know which model answered;
        with ``outputTensors``, the tensors)."""
        scored = self.scored_records(principal, uri, body)
        return scored.results if isinstance(scored, Scored) else scored.tensors

    def score_images(
        self, principal: Principal, uri: str, images: Sequence[bytes], top_n: int | None
    ) -> list[Result]:
        """The results of :meth:`scored_images`."""
        scored = self.scored_images(principal, uri, images, top_n)
        assert isinstance(scored, Scored)
        return scored.results

    def scored_records(
        self,
        principal: Principal,
        uri: str,
        body: dict[str, Any],
        *,
        route_key: str | None = None,
        arrived_at: float | None = None,
    ) -> Scored | ScoredTensors:
        """Score a JSON ``ScoreParam``: ``inputRecords``, optional ``topN`` (and ``topNdetails`` or
        ``topNDetails``, accepted, not supported for ONNX models as OML documents: the answer's
        ``warnings`` say so). ``route_key`` sends every request
        with the same key to the same model of a deployment with a canary (else each draws)."""
        require_principal(principal)
        top_n = parse_top_n(body.get("topN"))
        warnings = details_warnings(body)
        if "inputRecords" not in body:
            raise InvalidInput(
                "inputRecords is required: a list of records mapping ONNX input names to values."
            )
        if "outputTensors" in body:
            names = parse_tensor_names(body["outputTensors"])
            scored = self._scored_tensors(
                principal,
                uri,
                names,
                route_key,
                lambda model: model.inputs.convert(body["inputRecords"]),
                arrived_at,
            )
            return dataclasses.replace(scored, warnings=warnings)
        deployment, chosen, model = self._models.prepared(principal, uri, route_key)
        self._queued(uri, arrived_at)
        results = model.score_records(
            body["inputRecords"],
            top_n,
            timeout_s=deployment.score_timeout_s,
            answer_limit=model.limits.max_response_bytes,
            phases=self._phases(uri),
            run=self._batched_run(deployment, chosen, model),
        )
        canary = chosen is deployment.canary
        images = model.spec.model_type is ModelType.ONNX_IMG
        self._observer.scored(uri, len(results), "canary" if canary else "main", images=images)
        return Scored(results, chosen.id, canary, warnings)

    def scored_images(
        self,
        principal: Principal,
        uri: str,
        images: Sequence[bytes],
        top_n: int | None,
        *,
        route_key: str | None = None,
        output_tensors: Sequence[str] | None = None,
        arrived_at: float | None = None,
    ) -> Scored | ScoredTensors:
        """Score uploaded image files (the multipart ``imageData`` form of image models); with
        ``output_tensors``, answer those tensors instead of ``scoringResults``."""
        require_principal(principal)
        if output_tensors is not None:
            return self._scored_tensors(
                principal,
                uri,
                tuple(output_tensors),
                route_key,
                lambda model: self._image_feeds(model, uri, images),
                arrived_at,
            )
        deployment, chosen, model = self._models.prepared(principal, uri, route_key)
        self._require_image_model(model, uri)
        self._queued(uri, arrived_at)
        results = model.score_images(
            images,
            top_n,
            timeout_s=deployment.score_timeout_s,
            answer_limit=model.limits.max_response_bytes,
            phases=self._phases(uri),
            run=self._batched_run(deployment, chosen, model),
        )
        canary = chosen is deployment.canary
        self._observer.scored(uri, len(results), "canary" if canary else "main", images=True)
        return Scored(results, chosen.id, canary)

    @staticmethod
    def _require_image_model(model: PreparedModel, uri: str) -> None:
        if model.spec.model_type is not ModelType.ONNX_IMG:
            raise InvalidInput(
                f"The model at {uri!r} is not an image model; send JSON inputRecords instead of imageData."
            )

    def _image_feeds(self, model: PreparedModel, uri: str, images: Sequence[bytes]) -> Feeds:
        self._require_image_model(model, uri)
        return model.inputs.convert_image_bytes(images)

    def _scored_tensors(
        self,
        principal: Principal,
        uri: str,
        names: tuple[str, ...],
        route_key: str | None,
        convert: Callable[[PreparedModel], Feeds],
        arrived_at: float | None = None,
    ) -> ScoredTensors:
        """Run the model chosen for this request over its graph with ``names`` added as outputs (a
        session built once per worker per set of names) and answer those values."""
        deployment, chosen = self._models.target(principal, uri, route_key)
        problems = self.graph_tensors(chosen).check(names, "outputTensors")
        if problems:
            raise InvalidInput(" ".join(problems), details=problems)
        model = self.prepared_for_model(chosen, warm_up=False, extra_outputs=frozenset(names))
        self._queued(uri, arrived_at)
        phases = self._phases(uri)
        started = time.perf_counter()
        feeds = convert(model)
        ran = time.perf_counter()
        phases("preprocess", ran - started)
        arrays = model.run_tensors(feeds, names, timeout_s=deployment.score_timeout_s)
        formatted = time.perf_counter()
        phases("run", formatted - ran)
        tensors = tensor_answer(arrays, names, model.limits.max_response_bytes)
        phases("format", time.perf_counter() - formatted)
        canary = chosen is deployment.canary
        self._observer.scored(uri, feeds.rows, "canary" if canary else "main")
        return ScoredTensors(tensors, chosen.id, canary)

    def list_tensors(self, principal: Principal, uri: str) -> GraphTensors:
        """The tensors of the model a deployment serves (its main model), for ``GET .../tensors``."""
        require_principal(principal)
        deployment = self._source.deployment(principal, uri)
        return self.graph_tensors(deployment.model)

    def _queued(self, uri: str, arrived_at: float | None) -> None:
        """The ``queue`` phase: from ``arrived_at`` (a ``time.perf_counter()`` reading: when the
        request reached the front proxy, or the worker thread) until now, when its model is ready
        and its rows are about to be converted."""
        if arrived_at is not None:
            self._observer.scoring_phase(uri, "queue", max(0.0, time.perf_counter() - arrived_at))

    def serving_model(self, principal: Principal, uri: str, *, route_key: str | None = None) -> ServedModel:
        """The model that answers a request at ``uri`` now (main or canary) with the worker's prepared
        session: what the Open Inference Protocol reads its metadata from and runs tensors on."""
        require_principal(principal)
        deployment, chosen, model = self._models.prepared(principal, uri, route_key)
        return ServedModel(
            deployment.uri, chosen.id, chosen is deployment.canary, model, deployment.score_timeout_s
        )

    def run_tensors(
        self, served: ServedModel, arrays: dict[str, Any], names: Sequence[str], rows: int
    ) -> dict[str, Any]:
        """Run raw tensors on a served model (:meth:`serving_model`) within the deployment's time
        limit; reported to the observer as the ``run`` phase and a scored request of ``rows``."""
        started = time.perf_counter()
        outputs = served.model.run_raw(arrays, names, timeout_s=served.timeout_s)
        self._observer.scoring_phase(served.uri, "run", time.perf_counter() - started)
        self._observer.scored(served.uri, rows, "canary" if served.canary else "main")
        return outputs

    def observe_phase(self, uri: str, phase: str, seconds: float) -> None:
        """A phase of a request scored outside :meth:`scored_records` (the protocol's decoding and
        encoding), reported as the score phases are."""
        self._observer.scoring_phase(uri, phase, seconds)

    def _batched_run(
        self, deployment: ScoringTarget, chosen: ModelToScore, model: PreparedModel
    ) -> RunFeeds | None:
        """The run that merges this request with concurrent ones of the same deployment and model,
        or None (run alone) when batching is off for the deployment or the model cannot be split."""
        options = deployment.batching or self._default_batching
        if options is None or not options.enabled or not model.batchable:
            return None
        uri, observer = deployment.uri, self._observer
        batching = self._batchers.for_model(
            (uri, chosen.sha256),
            model,
            model.run_for_batch,
            options,
            lambda rows, requests: observer.batch_formed(uri, rows, requests),
        )
        return batching.run

    def _phases(self, uri: str) -> Callable[[str, float], None]:
        observer = self._observer
        return lambda phase, seconds: observer.scoring_phase(uri, phase, seconds)
