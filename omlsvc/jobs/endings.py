"""Step 5 of :mod:`omlsvc.jobs.runs`: a run ends, exactly once.

A run with no input left (or asked to STOP) and no chunk in flight ends SUCCEEDED or STOPPED; with
``recompute=true`` its rows went to a staging table that replaces the output table in the same
transaction that records success (readers never see a half table, except on Oracle, whose DDL
commits on its own), and a STOPPED or FAILED run's staging table is dropped, so the previous output
stays. Any step that finds a run broken ends it FAILED here, with the reason in ``errorMessage``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import DBAPIError

from omlsvc.core.errors import InvalidInput, OmlError, Unavailable
from omlsvc.core.logs import bind, log_context
from omlsvc.core.observe import Observer
from omlsvc.db.transactions import Transactions
from omlsvc.db.uow import UnitOfWork
from omlsvc.jobs import lifecycle
from omlsvc.jobs.access import user_tables
from omlsvc.jobs.claims import RunnerStats
from omlsvc.jobs.context import RunContext, RunContexts, reason
from omlsvc.jobs.monitoring.runs import is_monitoring
from omlsvc.jobs.properties import ScoringJobProperties
from omlsvc.jobs.resolve import drop_output_table
from omlsvc.jobs.states import ACTIVE, FAILED, RUNNING, STOPPED, SUCCEEDED
from omlsvc.jobs.store import JobStore

log = logging.getLogger("omlsvc.jobs")


class RunEndings:
    """Ends one runner's runs; each ending is its own short transaction, taken under the run's lock."""

    def __init__(
        self,
        transactions: Transactions,
        contexts: RunContexts,
        *,
        clock: Callable[[], datetime],
        observer: Observer,
        stats: RunnerStats,
    ) -> None:
        self._transactions = transactions
        self._contexts = contexts
        self._clock = clock
        self._observer = observer  # told every run that ends
        self.stats = stats

    def finish_runs(self) -> bool:
        """End the runs with nothing left to score and no chunk in flight."""
        with self._transactions() as uow:
            candidates = JobStore(uow.connection).finishable_run_ids()
        finished = False
        for run_id in candidates:
            try:
                with log_context(run_id=run_id):
                    finished = self._finish(run_id) or finished
            except (OmlError, DBAPIError) as exc:
                if isinstance(exc, Unavailable):
                    raise
                self.fail(run_id, reason(exc))
                finished = True
        return finished

    def _finish(self, run_id: str) -> bool:
        with self._transactions() as uow:
            peek = JobStore(uow.connection).get_run(run_id)
        if peek is None or peek.status != RUNNING:
            return False
        bind(job_id=peek.job_id)  # undone with the caller's binding of the run
        with self._transactions() as uow:
            peek_job = JobStore(uow.connection).get(peek.job_id)
        monitoring = peek_job is not None and is_monitoring(peek_job.job_type)
        context = None if peek.stop_requested or monitoring else self._contexts.get(run_id)
        drop_staging = False
        with self._transactions(write=True) as uow:
            store = JobStore(uow.connection)
            run = store.lock_run(run_id)
            if run is None or run.status != RUNNING or not (run.exhausted or run.stop_requested):
                return False
            job = None if store.chunks_in_flight(run_id) else store.get(run.job_id)
            if job is None:
                return False
            status = STOPPED if run.stop_requested else SUCCEEDED
            if not monitoring and ScoringJobProperties.from_text(job.properties_json).recompute:
                if status == SUCCEEDED and context is not None:
                    _publish(uow, context)
                else:
                    drop_staging = True
            lifecycle.end_run(store, run, status, self._clock())
            uow.commit()
        if drop_staging:
            self._drop_staging(run_id)
        self._ended(run_id)
        self._observer.job_run_ended(status.lower())
        log.info("run %s of job %s ended %s", run_id, run.job_id, status)
        return True

    def fail(self, run_id: str, message: str) -> None:
        """End the run FAILED with ``message`` (unless it ended meanwhile); its staging table goes."""
        if not run_id:
            return
        with self._transactions(write=True) as uow:
            store = JobStore(uow.connection)
            store.delete_chunks(run_id)
            run = store.get_run(run_id, for_update=True)
            if run is None or run.status not in ACTIVE:
                uow.commit()
                return
            lifecycle.end_run(store, run, FAILED, self._clock(), message)
            uow.commit()
        self._drop_staging(run_id)
        self._ended(run_id)
        self._observer.job_run_ended("failed")
        log.warning(
            "run %s of job %s failed: %s",
            run_id,
            run.job_id,
            message,
            extra={"job_id": run.job_id, "run_id": run_id},
        )

    def _ended(self, run_id: str) -> None:
        self._contexts.forget(run_id)
        self.stats.runs_ended += 1

    def _drop_staging(self, run_id: str) -> None:
        """Drop a ``recompute`` run's staging table, if it made one (best effort: it holds no result)."""
        with self._transactions(write=True) as uow:
            store = JobStore(uow.connection)
            run = store.get_run(run_id)
            job = None if run is None else store.get(run.job_id)
            if job is None or is_monitoring(job.job_type):
                return
            properties = ScoringJobProperties.from_text(job.properties_json)
            if not properties.recompute:
                return
            identity = self._contexts.identity(job.owner)
            try:
                drop_output_table(uow.connection, identity, properties, lifecycle.staging_table_name(run_id))
            except InvalidInput:
                return
            uow.commit()


def _publish(uow: UnitOfWork, context: RunContext) -> None:
    """A ``recompute`` run's staging table replaces the output table, in the caller's transaction."""
    with user_tables(uow.connection, context.identity) as user:
        tables = user.tables
        tables.create(context.target)  # an empty input still replaces the output
        tables.drop(context.output.schema, context.output.name)
        tables.rename(context.target, context.output.name)
