"""The worker's prepared models for the deployments it serves: which model answers a request at a URI
(the scoring target: the deployment and its main model or canary) with its session from the worker's
:class:`~omlsvc.scoring.sessions.SessionCache`, a model's graph tensors, and sessions made ready ahead
of requests (a deploy's warm-up, a refresh after the change counter moves).

The use cases that score with them are :class:`~omlsvc.scoring.service.ScoringService`'s.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager

from omlsvc.core.authorization import Principal
from omlsvc.core.errors import (
    InvalidInput,
    InvalidModel,
    MemoryLimitExceeded,
    OmlError,
    ScoringTimeout,
    TooManyRequests,
    Unavailable,
)
from omlsvc.core.signature import ScoringSpec
from omlsvc.scoring.files import ModelFiles
from omlsvc.scoring.routing import choose_model
from omlsvc.scoring.scorer import PreparedModel
from omlsvc.scoring.sessions import SessionCache
from omlsvc.scoring.source import ModelSource, ModelToScore, ScorableModel, ScoringTarget
from omlsvc.scoring.tensors import GraphTensors, cut_spec, describe_tensors

log = logging.getLogger(__name__)

#: Errors that say nothing about the model being deployed (its bytes could not be read from a database
#: that is away, the worker is saturated): they keep their own status (503, 429) so that the client
#: tries again, instead of being told the model is invalid.
_NOT_THE_MODELS_FAULT = (Unavailable, TooManyRequests)


@contextmanager
def _refused_unless_it_loads(record: ScorableModel) -> Iterator[None]:
    """Any other error while a model about to be deployed loads means it does not load:
    :class:`InvalidModel`, with the error's message as its detail."""
    try:
        yield
    except _NOT_THE_MODELS_FAULT:
        raise
    except OmlError as exc:
        raise InvalidModel(
            f"Model {record.id} cannot be deployed: it does not load.", details=[exc.message]
        ) from None


#: Seconds a deploy waits for its warm-up beyond the time limit: ``RunOptions.terminate`` is only
#: checked between nodes, so a run may overrun its limit by one node; the deploy does not wait longer.
WARM_UP_GRACE_S = 2.0
#: Threads that run deploy warm-ups, off the request threads.
WARM_UP_THREADS = 2
#: URIs this worker remembers having scored, whose sessions it warms when the change counter moves.
SERVED_URIS = 64
#: Tensor listings kept per worker (one per model; a listing is a few hundred small records).
GRAPH_LISTINGS = 32
#: The variant of a cut deployment's sessions in the cache (its spec is the feature-extraction one).
CUT_VARIANT = "cut"


class PreparedModels:
    """A worker's prepared models, found through ``source`` (deployments, model bytes), their files
    pinned in ``files`` and their sessions kept in ``cache``; owned by the worker's
    :class:`~omlsvc.scoring.service.ScoringService`."""

    def __init__(self, source: ModelSource, files: ModelFiles, cache: SessionCache) -> None:
        self._source = source
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
            with _refused_unless_it_loads(record):
                listing = self.graph_tensors(record)
            problems = listing.check([output_tensor], "outputTensor")
            if problems:
                raise InvalidInput(" ".join(problems), details=problems)
        with _refused_unless_it_loads(record):
            model = self.prepared_for_model(record, warm_up=False, cut=output_tensor)
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

    def target(
        self, principal: Principal, uri: str, route_key: str | None
    ) -> tuple[ScoringTarget, ModelToScore]:
        """The deployment at ``uri`` as ``principal`` sees it and the model chosen for this request
        (main or canary; ``route_key`` sends every request with the same key to the same one). The URI
        is remembered for :meth:`refresh_served`."""
        deployment = self._source.deployment(principal, uri)
        self._remember(deployment.uri)
        return deployment, choose_model(deployment, route_key)

    def prepared(
        self, principal: Principal, uri: str, route_key: str | None
    ) -> tuple[ScoringTarget, ModelToScore, PreparedModel]:
        """The deployment, the model chosen for this request (main or canary) and its session: one
        request is scored wholly by the one model of one snapshot of the deployment."""
        # built for a waiting request, a session is not warmed up: the request's own run does that.
        # the lines of :meth:`target`, inline: every score request takes this path.
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
