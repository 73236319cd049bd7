"""The score use case: find the deployment, get the worker's prepared model, score.

Per request this costs no database round trip: the deployment comes from the :class:`ModelSource`,
whose worker cache the change counter keeps within a second of the database (an undeploy is seen at
once by the worker that made it, within a second by every other one; see ``omlsvc.db.changes``);
visibility is checked per caller there. A model this worker has not loaded yet costs one session
build from the host's disk cache, and one fetch of its stored bytes when no worker of the host has
cached it yet (:mod:`omlsvc.scoring.files`).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from omlsvc.core.authorization import Principal, require_principal
from omlsvc.core.batching import BatchingOptions
from omlsvc.core.errors import InvalidInput, InvalidModel, MemoryLimitExceeded, OmlError, ScoringTimeout
from omlsvc.core.observe import UNOBSERVED, Observer
from omlsvc.core.signature import ModelType, ScoringSpec
from omlsvc.core.values import parse_positive_int
from omlsvc.scoring.batching import Batchers
from omlsvc.scoring.files import ModelFiles
from omlsvc.scoring.inputs import Feeds
from omlsvc.scoring.outputs import Result
from omlsvc.scoring.routing import choose_model
from omlsvc.scoring.scorer import PreparedModel, RunFeeds
from omlsvc.scoring.sessions import SessionCache
from omlsvc.scoring.source import ModelSource, ModelToScore, ScorableModel, ScoringTarget
from omlsvc.scoring.tensors import GraphTensors, cut_spec, describe_tensors, parse_tensor_names, tensor_answer

log = logging.getLogger(__name__)


#: Seconds a deploy waits for its warm-up beyond the time limit: ``RunOptions.terminate`` is only
#: checked between nodes, so a run may overrun its limit by one node; the deploy does not wait longer.
WARM_UP_GRACE_S = 2.0
#: Threads that run deploy warm-ups, off the request threads.
WARM_UP_THREADS = 2
#: URIs this worker remembers having scored, whose sessions it warms when the change counter moves.
SERVED_URIS = 64


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


#: Tensor listings kept per worker (one per model; a listing is a few hundred small records).
GRAPH_LISTINGS = 32
#: The variant of a cut deployment's sessions in the cache (its spec is the feature-extraction one).
CUT_VARIANT = "cut"


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
        self._files = files
        self._cache = cache
        self._warmers: ThreadPoolExecutor | None = None
        self._refresher: ThreadPoolExecutor | None = None
        self._warmers_lock = threading.Lock()
        #: URIs scored here lately (insertion order, bounded): :meth:`refresh_served` warms them.
        self._served: dict[str, None] = {}
        #: sha256 -> the model's tensors (``outputTensors``, ``outputTensor``, ``GET .../tensors``).
        self._graphs: OrderedDict[str, GraphTensors] = OrderedDict()

    @property
    def cache(self) -> SessionCache:
        return self._cache

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
        deployment, chosen, model = self._prepared(principal, uri, route_key)
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
        deployment, chosen, model = self._prepared(principal, uri, route_key)
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
        deployment = self._source.deployment(principal, uri)
        self._remember(deployment.uri)
        chosen = choose_model(deployment, route_key)
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

    def graph_tensors(self, record: ScorableModel) -> GraphTensors:
        """The tensors of a stored model's graph, read once per worker (shape inference included)."""
        with self._warmers_lock:
            listing = self._graphs.get(record.sha256)
            if listing is not None:
                self._graphs.move_to_end(record.sha256)
                return listing
        model_id, sha256 = record.id, record.sha256
        with self._files.pinned(sha256, lambda: self._source.model_bytes(model_id)) as path:
            listing = describe_tensors(path)
        with self._warmers_lock:
            self._graphs[sha256] = listing
            while len(self._graphs) > GRAPH_LISTINGS:
                self._graphs.popitem(last=False)
        return listing

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
        deployment, chosen, model = self._prepared(principal, uri, route_key)
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

    def prepare_deployed(
        self, record: ScorableModel, timeout_s: float | None = None, output_tensor: str | None = None
    ) -> None:
        """Make a model about to be deployed ready in this worker, or refuse it (:class:`InvalidModel`).

        Its files go to the host's disk cache and its session is built, so that the first score after
        a deploy does not pay for them (other workers of the host then only build a session). When
        warm-up is on, the model then runs once on a dummy batch, off the request thread, within the
        deployment's time limit (``timeout_s``, default the worker's): a model that does not finish,
        or that cannot load, is refused. A model that merely refuses the dummy values (an encoder of
        unknown categories) is deployed: it still serves real requests.

        With ``output_tensor`` (a deployment that cuts the model there) the value must be one the graph
        computes (else :class:`InvalidInput` naming ``outputTensor``), and the cut session is built.
        """
        if output_tensor is not None:
            try:
                listing = self.graph_tensors(record)
            except OmlError as exc:
                raise InvalidModel(
                    f"Model {record.id} cannot be deployed: it does not load.", details=[exc.message]
                ) from None
            problems = listing.check([output_tensor], "outputTensor")
            if problems:
                raise InvalidInput(" ".join(problems), details=problems)
        try:
            model = self.prepared_for_model(record, warm_up=False, cut=output_tensor)
        except OmlError as exc:
            raise InvalidModel(
                f"Model {record.id} cannot be deployed: it does not load.", details=[exc.message]
            ) from None
        if not self._cache.warms_up:
            return
        limit = model.limits.timeout_s if timeout_s is None else timeout_s
        future = self._warm_up_pool().submit(model.warm_up, timeout_s=limit)
        try:
            future.result(timeout=limit + WARM_UP_GRACE_S)
        except (ScoringTimeout, FutureTimeout):
            self._cache.evict(record.sha256)
            raise InvalidModel(
                f"Model {record.id} cannot be deployed: its warm-up run did not finish within {limit:g} s.",
                details=[f"running the model once on a dummy batch took longer than the {limit:g} s limit"],
            ) from None
        except MemoryLimitExceeded as exc:
            self._cache.evict(record.sha256)
            raise InvalidModel(
                f"Model {record.id} cannot be deployed: its warm-up run needs too much memory.",
                details=[exc.message],
            ) from None
        except OmlError as exc:
            log.warning("warm-up of model %s refused the dummy batch: %s", record.id, exc.message)

    def _refresh_pool(self) -> ThreadPoolExecutor:
        """One thread of its own: a refresh never delays a deploy's warm-up (whose wait is timed)."""
        with self._warmers_lock:
            if self._refresher is None:
                self._refresher = ThreadPoolExecutor(1, thread_name_prefix="omlsvc-refresh")
            return self._refresher

    def _warm_up_pool(self) -> ThreadPoolExecutor:
        with self._warmers_lock:
            if self._warmers is None:  # made on first use: threads do not survive gunicorn's fork
                self._warmers = ThreadPoolExecutor(WARM_UP_THREADS, thread_name_prefix="omlsvc-warm-up")
            return self._warmers

    def _prepared(
        self, principal: Principal, uri: str, route_key: str | None
    ) -> tuple[ScoringTarget, ModelToScore, PreparedModel]:
        """The deployment, the model chosen for this request (main or canary) and its session: one
        request is scored wholly by the one model of one snapshot of the deployment."""
        # built for a waiting request, a session is not warmed up: the request's own run does that.
        deployment = self._source.deployment(principal, uri)
        self._remember(deployment.uri)
        chosen = choose_model(deployment, route_key)
        return (
            deployment,
            chosen,
            self.prepared_for_model(chosen, warm_up=False, cut=deployment.output_tensor),
        )

    def _remember(self, uri: str) -> None:
        served = self._served
        if uri in served:
            return
        with self._warmers_lock:
            if len(served) >= SERVED_URIS:
                served.pop(next(iter(served)), None)
            served[uri] = None

    def refresh_served(self) -> None:
        """The change counter moved: load, off the request threads, the sessions of what the URIs this
        worker served now serve (a swapped model, a new canary), so that no request waits for them.
        Sessions already loaded cost nothing; a URI gone or unloadable is skipped (its requests will
        meet the error)."""
        with self._warmers_lock:
            uris = list(self._served)
        if uris:
            self._refresh_pool().submit(self._refresh, uris)

    def _refresh(self, uris: list[str]) -> None:
        for uri in uris:
            try:
                target = self._source.serving(uri)
                if target is None:
                    with self._warmers_lock:
                        self._served.pop(uri, None)
                    continue
                for model in (target.model, target.canary):
                    if model is not None:
                        self.prepared_for_model(model, warm_up=False, cut=target.output_tensor)
            except Exception as exc:  # a warm-up is a courtesy: the request path reports failures
                log.info("could not warm the sessions of %r after a change: %s", uri, exc)

    def prepared_for_model(
        self,
        record: ScorableModel,
        *,
        warm_up: bool | None = None,
        extra_outputs: frozenset[str] = frozenset(),
        cut: str | None = None,
    ) -> PreparedModel:
        """The worker's prepared model for a stored model (batch jobs score through this too, so a
        table row and a REST record are scored by the same code). The caller checks visibility.
        ``warm_up`` overrides the cache's setting for a session built by this call.

        The session is built from a private copy of the model's files (:meth:`ModelFiles.pinned`), so
        an operator removing the disk cache meanwhile costs at most a fetch, never the request."""
        variant = ""
        if cut is not None:
            extra_outputs, variant = frozenset({cut}), CUT_VARIANT
        if extra_outputs:
            loaded = self._cache.find_variant(record.sha256, extra_outputs, variant)
        else:
            loaded = self._cache.find(record.sha256)
        if loaded is not None:
            return loaded.model
        if cut is not None:  # checked at deploy time; again here for a cut stored by other means
            problems = self.graph_tensors(record).check([cut], "outputTensor")
            if problems:
                raise InvalidInput(" ".join(problems), details=problems)
        spec = ScoringSpec.from_json(record.spec_json)
        if cut is not None:
            spec = cut_spec(spec, cut)
        model_id, sha256 = record.id, record.sha256
        return self._cache.get(
            sha256,
            spec,
            warm_up=warm_up,
            files=lambda: self._files.pinned(sha256, lambda: self._source.model_bytes(model_id)),
            extra_outputs=extra_outputs,
            variant=variant,
        ).model
