"""The service's Prometheus metrics: every definition, the :class:`Metrics` that records them (the
:class:`~omlsvc.core.observe.Observer` the wiring hands the capabilities) and the scrape.

One :class:`Metrics` per object graph owns its own registry, so tests that build several apps in one
process never share a counter. Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` is set before the workers
start (:mod:`omlsvc.gunicorn_conf` prepares it, empty, under the data directory): every worker then
writes its values to files there, and a scrape answered by any worker adds up all of them
(``prometheus_client``'s multiprocess mode), so two workers give one consistent answer.

Labels are bounded: a route family (the routed template, never the raw path), a method, a status
class, a deployment's URI, a scoring phase. Never a model id, a user name or a raw path.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from omlsvc.core.observe import DATABASE_ERROR_KINDS, SCORING_PHASES, Observer, PhaseTotal, ScoringTotals
from omlsvc.metric_writes import DeferredWrites

#: The variable ``prometheus_client`` reads (at import) to share values between processes.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The route label of a request no route matched (404s of unknown paths): one value, not the path.
UNMATCHED_ROUTE = "unmatched"
#: The label that names a deployment: what a non-admin scrape filters on.
DEPLOYMENT_LABEL = "deployment"
#: How often (seconds) a worker refreshes its resident-memory gauge, after a request.
MEMORY_REFRESH_S = 1.0

_SCORING_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_HTTP_BUCKETS = Histogram.DEFAULT_BUCKETS
_LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}
#: Sizes of merged runs (dynamic batching): powers of two up to the largest batch allowed.
_BATCH_BUCKETS = (2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0)


class Metrics(Observer):
    """Every metric the service exposes, recorded for this object graph (a worker, a test's app)."""

    def __init__(self, multiproc_dir: str | None = None) -> None:
        """``multiproc_dir``: where the workers share their values (default: ``PROMETHEUS_MULTIPROC_DIR``,
        none in tests, which then read this graph's own registry)."""
        self.multiproc_dir = multiproc_dir if multiproc_dir is not None else os.environ.get(MULTIPROC_ENV)
        self.registry = CollectorRegistry()
        self._define_http(self.registry)
        self._define_scoring(self.registry)
        self._define_sessions_and_jobs(self.registry)
        self._define_logins(self.registry)
        self._define_process(self.registry)
        if self.multiproc_dir is None:  # one process: its own memory and CPU, from /proc
            ProcessCollector(registry=self.registry)
        self._memory_read_at = 0.0
        self._checked_out: Callable[[], int] = lambda: 0
        #: (metric, label values) -> the labelled child: ``labels()`` validates and locks on every
        #: call, a few microseconds each, several times per request (issue 20's hot path). The
        #: registry keeps every child anyway, so this holds nothing more than it does.
        self._children: dict[tuple[Any, ...], Any] = {}
        #: what one event of the hot path records (its children's deferred ``inc``/``observe``), found
        #: with one lookup of the event's own values, so an event costs its samples' writes only.
        self._recorders: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        #: the hot path's writes, gathered and written in bulk (:mod:`omlsvc.metric_writes`), and
        #: each child's deferred recorder: events that share a child (a route's duration under every
        #: status) share its pending values too
        self._writes = DeferredWrites()
        self._deferred: dict[tuple[Any, ...], Callable[..., None]] = {}

    # -- the definitions (registered in this order, which the scrape keeps) --------------------------

    def _define_http(self, registry: CollectorRegistry) -> None:
        """Requests answered, by route family (the transport reports them)."""
        self.http_requests = Counter(
            "omlsvc_http_requests",
            "HTTP requests answered, by route family, method and status class.",
            ["route", "method", "status_class"],
            registry=registry,
        )
        self.http_seconds = Histogram(
            "omlsvc_http_request_duration_seconds",
            "Time from routing a request to its answer, by route family.",
            ["route"],
            buckets=_HTTP_BUCKETS,
            registry=registry,
        )

    def _define_scoring(self, registry: CollectorRegistry) -> None:
        """Score requests per deployment: counts, rows or images, phase times, merged batches."""
        self.scoring_requests = Counter(
            "omlsvc_scoring_requests",
            "Score requests that reached a deployed model, answered or not.",
            [DEPLOYMENT_LABEL],
            registry=registry,
        )
        self.scoring_answers = Counter(
            "omlsvc_scoring_answers",
            "Score requests answered, by the deployment's model that answered: main or canary.",
            [DEPLOYMENT_LABEL, "variant"],
            registry=registry,
        )
        self.scoring_rows = Counter(
            "omlsvc_scoring_rows", "Rows scored by tabular models.", [DEPLOYMENT_LABEL], registry=registry
        )
        self.scoring_images = Counter(  # issue 18: images apart from rows
            "omlsvc_scoring_images", "Images scored by image models.", [DEPLOYMENT_LABEL], registry=registry
        )
        self.scoring_seconds = Histogram(
            "omlsvc_scoring_seconds",
            "Time of each phase of a score request: queue (arrival to the start of conversion), "
            "preprocess (input conversion), run (onnxruntime), format (the response items).",
            [DEPLOYMENT_LABEL, "phase"],
            buckets=_SCORING_BUCKETS,
            registry=registry,
        )
        # dynamic batching (issue 20): what each merged model run held
        self.batch_rows = Histogram(
            "omlsvc_scoring_batch_rows",
            "Rows (or images) of each model run that dynamic batching merged from concurrent requests.",
            [DEPLOYMENT_LABEL],
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.batch_requests = Histogram(
            "omlsvc_scoring_batch_requests",
            "Score requests merged into each model run by dynamic batching.",
            [DEPLOYMENT_LABEL],
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )

    def _define_sessions_and_jobs(self, registry: CollectorRegistry) -> None:
        """A worker's session cache and model loads, and batch jobs' runs and rows."""
        self.session_lookups = Counter(
            "omlsvc_session_cache_lookups",
            "Lookups in a worker's session cache, by result (hit or miss).",
            ["result"],
            registry=registry,
        )
        self.session_loads = Histogram(
            "omlsvc_session_load_seconds",
            "Time to build a model's onnxruntime session in a worker (its count is the model loads).",
            buckets=_LOAD_BUCKETS,
            registry=registry,
        )
        self.job_runs = Counter(
            "omlsvc_job_runs", "Batch scoring runs ended, by outcome.", ["outcome"], registry=registry
        )
        self.job_rows = Counter("omlsvc_job_rows_written", "Result rows batch jobs wrote.", registry=registry)

    def _define_logins(self, registry: CollectorRegistry) -> None:
        """Password logins refused, checked or throttled."""
        self.login_failures = Counter(
            "omlsvc_login_failures",
            "Password logins refused: unknown user or wrong password.",
            registry=registry,
        )
        self.logins_throttled = Counter(
            "omlsvc_logins_throttled",
            "Password logins refused unchecked after too many failures.",
            registry=registry,
        )

    def _define_process(self, registry: CollectorRegistry) -> None:
        """This process's memory and database connections, and the database's errors."""
        self.resident_memory = Gauge(
            "omlsvc_worker_resident_memory_bytes",
            "Resident memory of each live worker (a pid label under several workers).",
            multiprocess_mode="liveall",
            registry=registry,
        )
        # issue 18: the database, seen from this process
        self.database_in_use = Gauge(
            "omlsvc_database_connections_in_use",
            "Database connections checked out of the pool now (summed over live workers).",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.database_errors = Counter(
            "omlsvc_database_errors",
            "Errors the database raised (statements and connections), by kind.",
            ["kind"],
            registry=registry,
        )

    def _child(self, metric: Any, *values: str) -> Any:
        key = (id(metric), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def _counted(self, metric: Counter, *values: str) -> Callable[..., None]:
        """The deferred ``inc`` of a counter's child: one per child, however many events share it."""
        key = (id(metric), *values)
        add = self._deferred.get(key)
        if add is None:
            add = self._deferred[key] = self._writes.counter(self._child(metric, *values))
        return add

    def _observed(
        self, metric: Histogram, buckets: tuple[float, ...], *values: str
    ) -> Callable[[float], None]:
        """The deferred ``observe`` of a histogram's child (``buckets`` as defined: +Inf is added)."""
        key = (id(metric), *values)
        observe = self._deferred.get(key)
        if observe is None:
            bounds = buckets if buckets[-1] == float("inf") else (*buckets, float("inf"))
            observe = self._deferred[key] = self._writes.histogram(self._child(metric, *values), bounds)
        return observe

    # -- HTTP (the transport reports these) ---------------------------------------------------------

    def request_answered(self, route: str | None, method: str, status: int, seconds: float) -> None:
        recorders = self._recorders.get(("http", route, method, status))
        if recorders is None:
            family = route or UNMATCHED_ROUTE
            status_class = _STATUS_CLASSES.get(status // 100) or f"{status // 100}xx"
            recorders = self._recorders[("http", route, method, status)] = (
                self._counted(self.http_requests, family, method, status_class),
                self._observed(self.http_seconds, _HTTP_BUCKETS, family),
            )
        recorders[0]()
        recorders[1](seconds)
        now = time.monotonic()
        if now - self._memory_read_at >= MEMORY_REFRESH_S:
            self._memory_read_at = now
            self._read_gauges()

    def watch_pool(self, checked_out: Callable[[], int]) -> None:
        """``checked_out()``: the connections this process's pool has handed out now (read with
        the other gauges, at most once a second after a request, and at every scrape)."""
        self._checked_out = checked_out

    def _read_gauges(self) -> None:
        self.resident_memory.set(resident_bytes())
        self.database_in_use.set(self._checked_out())

    # -- what the capabilities report (omlsvc.core.observe) -------------------------------------------

    def scoring_phase(self, deployment: str, phase: str, seconds: float) -> None:
        recorders = self._recorders.get(("phase", deployment, phase))
        if recorders is None:
            counted = self._counted(self.scoring_requests, deployment) if phase == "preprocess" else None
            recorders = self._recorders[("phase", deployment, phase)] = (
                self._observed(self.scoring_seconds, _SCORING_BUCKETS, deployment, phase),
                counted,
            )
        recorders[0](seconds)
        if recorders[1] is not None:
            recorders[1]()

    def scored(self, deployment: str, rows: int, variant: str = "main", *, images: bool = False) -> None:
        recorders = self._recorders.get(("scored", deployment, variant, images))
        if recorders is None:
            recorders = self._recorders[("scored", deployment, variant, images)] = (
                self._counted(self.scoring_images if images else self.scoring_rows, deployment),
                self._counted(self.scoring_answers, deployment, variant),
            )
        recorders[0](rows)
        recorders[1]()

    def batch_formed(self, deployment: str, rows: int, requests: int) -> None:
        self._child(self.batch_rows, deployment).observe(rows)
        self._child(self.batch_requests, deployment).observe(requests)

    def session_lookup(self, hit: bool) -> None:
        recorders = self._recorders.get(("session", hit))
        if recorders is None:
            recorders = self._recorders[("session", hit)] = (
                self._counted(self.session_lookups, "hit" if hit else "miss"),
            )
        recorders[0]()

    def session_loaded(self, seconds: float) -> None:
        self.session_loads.observe(seconds)

    def job_run_ended(self, outcome: str) -> None:
        self.job_runs.labels(outcome).inc()

    def job_rows_written(self, rows: int) -> None:
        self.job_rows.inc(rows)

    def login_failed(self) -> None:
        self.login_failures.inc()

    def login_throttled(self) -> None:
        self.logins_throttled.inc()

    def database_error(self, kind: str) -> None:
        self.database_errors.labels(kind if kind in DATABASE_ERROR_KINDS else "other").inc()

    # -- the scrape ------------------------------------------------------------------------------------

    def scrape(self, may_name: Callable[[str], bool] | None = None) -> bytes:
        """The Prometheus text exposition of every worker (in multiprocess mode) or of this graph.

        With ``may_name``, series labelled with a deployment it refuses are left out (a non-admin
        caller sees only the deployments it may see)."""
        self._writes.flush()
        self._read_gauges()
        if self.multiproc_dir is None:
            source: Collector = self.registry
        else:
            source = multiprocess.MultiProcessCollector(None, path=self.multiproc_dir)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Filtered(source, may_name))
        return generate_latest(registry)

    def scoring_totals(self, deployment: str) -> ScoringTotals:
        """What the scrape says of one deployment's score requests (every worker's, in multiprocess
        mode): the statistics extension of the Open Inference Protocol reads these, so its numbers
        and the metrics' never disagree."""
        self._writes.flush()
        if self.multiproc_dir is None:
            source: Collector = self.registry
        else:
            source = multiprocess.MultiProcessCollector(None, path=self.multiproc_dir)
        values: dict[str, float] = {}
        counts: dict[str, float] = {}
        sums: dict[str, float] = {}
        for family in source.collect():
            for sample in family.samples:
                if sample.labels.get(DEPLOYMENT_LABEL) != deployment:
                    continue
                name = sample.name
                if (
                    name in ("omlsvc_scoring_requests_total", "omlsvc_scoring_rows_total")
                    or name == "omlsvc_scoring_answers_total"
                ):
                    values[name] = values.get(name, 0.0) + sample.value
                elif name == "omlsvc_scoring_seconds_count":
                    phase = sample.labels["phase"]
                    counts[phase] = counts.get(phase, 0.0) + sample.value
                elif name == "omlsvc_scoring_seconds_sum":
                    phase = sample.labels["phase"]
                    sums[phase] = sums.get(phase, 0.0) + sample.value
        return ScoringTotals(
            requests=int(values.get("omlsvc_scoring_requests_total", 0)),
            answered=int(values.get("omlsvc_scoring_answers_total", 0)),
            rows=int(values.get("omlsvc_scoring_rows_total", 0)),
            phases={p: PhaseTotal(int(counts.get(p, 0)), sums.get(p, 0.0)) for p in SCORING_PHASES},
        )


class _Filtered(Collector):
    """The families of ``source``, without the samples of deployments ``may_name`` refuses."""

    def __init__(self, source: Collector, may_name: Callable[[str], bool] | None) -> None:
        self._source = source
        self._may_name = may_name

    def collect(self) -> Iterable[Metric]:
        return self._filtered() if self._may_name is not None else self._source.collect()

    def _filtered(self) -> Iterator[Metric]:
        may_name = self._may_name
        assert may_name is not None
        for family in self._source.collect():
            kept = Metric(family.name, family.documentation, family.type, family.unit)
            kept.samples = [
                sample
                for sample in family.samples
                if DEPLOYMENT_LABEL not in sample.labels or may_name(sample.labels[DEPLOYMENT_LABEL])
            ]
            yield kept


def resident_bytes() -> int:
    """This process's resident memory now (``/proc/self/statm``)."""
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")
