"""The batch scoring runner: turns due schedules into runs, and runs into output rows.

Any number of runners (threads in ``omlsvc serve``, ``omlsvc jobs worker`` processes, on any number
of hosts) share one database; each step is one short transaction that locks what it takes with
``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL, Oracle; SQLite serialises writers instead):

1. **schedule**: due enabled jobs get a PENDING run, and their next run date moves on;
2. **take over**: a chunk whose runner's lease ran out (killed, stalled) is re-leased to this runner;
3. **claim**: the next ``chunk_rows`` keys of an active run's input (keyset pagination on its key
   column, from the run's frontier ``last_key``) become a chunk leased to this runner, and the
   frontier moves past them; the run is then free for other runners to claim the next chunk, so
   several runners score one large run in parallel without overlap;
4. **score** (no transaction open): read the chunk's rows in key order, score them through the
   same :class:`~omlsvc.scoring.scorer.PreparedModel` the REST endpoint uses, then in ONE
   transaction insert the output rows and delete the chunk row (the checkpoint), which succeeds only
   while this runner still holds the chunk; a runner that lost its lease rolls back, so every input
   row is written exactly once however runners die;
5. **finish**: a run with no input left (or asked to STOP) and no chunk in flight ends; with
   ``recompute=true`` its rows went to a staging table that replaces the output table in the same
   transaction that records success (readers never see a half table, except on Oracle, whose DDL
   commits on its own).

STOP is honoured between chunks: no new chunk is claimed, chunks in flight complete, and the run
ends STOPPED (a staging table is dropped, so the previous output stays). A scoring error (bad
values, a model that refuses the rows, a dropped table) ends the run FAILED with the reason in
``errorMessage``; rows already appended stay (``recompute=false``). A chunk that kept killing its
runners is given up after ``max_attempts``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from omlsvc.config import Settings
from omlsvc.core.authorization import may_see_model
from omlsvc.core.clock import utcnow
from omlsvc.core.errors import InvalidInput, OmlError, Unavailable
from omlsvc.core.signature import Function, ScoringSpec
from omlsvc.db.uow import UnitOfWork
from omlsvc.jobs import lifecycle
from omlsvc.jobs.access import JobIdentity, identity_of, user_tables
from omlsvc.jobs.plan import ScoringPlan
from omlsvc.jobs.properties import ScoringJobProperties
from omlsvc.jobs.service import drop_output_table, resolve_tables
from omlsvc.jobs.store import (
    ACTIVE,
    FAILED,
    PENDING,
    RUNNING,
    SCHEDULED,
    STOPPED,
    SUCCEEDED,
    ChunkRecord,
    JobRecord,
    JobStore,
)
from omlsvc.jobs.tables import DataTables, decode_key, encode_key
from omlsvc.repository.store import ModelStore
from omlsvc.scoring.scorer import PreparedModel
from omlsvc.scoring.service import ScoringService

log = logging.getLogger("omlsvc.jobs")

DEFAULT_CHUNK_ROWS = 10_000
DEFAULT_IMAGE_CHUNK_ROWS = 256
DEFAULT_LEASE_S = 120.0
DEFAULT_POLL_S = 2.0
MAX_CONTEXTS = 8


@dataclass(frozen=True)
class RunnerOptions:
    """``chunk_rows`` is capped by the scoring row limit (``OMLSVC_MAX_SCORE_ROWS``); image models use
    ``image_chunk_rows``. ``lease_s`` is how long a silent runner keeps a chunk before another takes it
    over: longer than scoring one chunk takes, short enough that a killed runner's work resumes soon."""

    chunk_rows: int = DEFAULT_CHUNK_ROWS
    image_chunk_rows: int = DEFAULT_IMAGE_CHUNK_ROWS
    lease_s: float = DEFAULT_LEASE_S
    poll_s: float = DEFAULT_POLL_S
    max_attempts: int = 3
    #: wait before looking again when a claimable run was only momentarily locked by another runner.
    busy_retry_s: float = 0.02


@dataclass
class RunnerStats:
    chunks: int = 0
    rows: int = 0
    takeovers: int = 0
    lost_leases: int = 0
    runs_ended: int = 0
    claimed_runs: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Claim:
    run_id: str
    seq: int
    lo_key: str | None
    hi_key: str


@dataclass
class _Context:
    """What a runner keeps per run it works on: built once, reused for every chunk."""

    job: JobRecord
    identity: JobIdentity
    properties: ScoringJobProperties
    plan: ScoringPlan
    model: PreparedModel
    input_table: Table
    output: Table
    target: Table
    ready: bool = False


class RunFailed(OmlError):
    """The run cannot go on (its model or input is gone or no longer fits); ends it FAILED."""

    code = "RUN_FAILED"


def default_runner_id() -> str:
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Runner:
    def __init__(
        self,
        engine: Engine,
        scoring: ScoringService,
        options: RunnerOptions | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        runner_id: str | None = None,
    ) -> None:
        self._engine = engine
        self._scoring = scoring
        self.options = options or RunnerOptions()
        self._clock = clock
        self.runner_id = runner_id or default_runner_id()
        self.stats = RunnerStats()
        self._contexts: OrderedDict[str, _Context] = OrderedDict()
        self._busy = False

    # -- loops -----------------------------------------------------------------------------------

    def work_once(self) -> bool:
        """One round of every step; True when something moved (so the caller should not idle)."""
        with UnitOfWork(self._engine) as uow:
            if not JobStore(uow.connection).has_work(self._clock()):
                self._busy = False
                return False
        progressed = self.schedule_due()
        claim = self.take_over_expired()
        if claim is None:
            claim, moved = self.claim_next()
            progressed = progressed or moved
        if claim is not None:
            self.process(claim)
            progressed = True
        return self.finish_runs() or progressed

    def run_until_idle(self, timeout_s: float = 120.0) -> None:
        """Work until nothing is left to do now (tests, ``omlsvc jobs run --wait``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.work_once():
                if not self._busy and not self._chunks_pending():
                    return
                time.sleep(self.options.busy_retry_s if self._busy else min(self.options.poll_s, 0.2))
        raise TimeoutError(f"the runner still had work after {timeout_s} s")

    def run_forever(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; database outages and unexpected errors are logged and waited out."""
        log.info("job runner %s started", self.runner_id)
        while not stop.is_set():
            try:
                progressed = self.work_once()
            except Unavailable as exc:
                log.warning("job runner %s: %s", self.runner_id, exc.message)
                progressed = False
            except Exception as exc:
                # the type and where, not the message: it may quote a value read from a user's table
                where = "".join(traceback.format_tb(exc.__traceback__))
                log.error("job runner %s: unexpected %s\n%s", self.runner_id, type(exc).__name__, where)
                progressed = False
            if not progressed:
                stop.wait(self.options.busy_retry_s if self._busy else self.options.poll_s)
        log.info("job runner %s stopped", self.runner_id)

    # -- 1. schedule -----------------------------------------------------------------------------

    def schedule_due(self) -> bool:
        """Give every due enabled job its PENDING run and move its next run date on."""
        now = self._clock()
        with UnitOfWork(self._engine, write=True) as uow:
            store = JobStore(uow.connection)
            due = store.lock_due_jobs(now)
            for job in due:
                runs = job.scheduled_runs
                at = job.next_run_at or now
                if store.active_run(job.id) is None:
                    store.add_run(lifecycle.pending_run(job.id, SCHEDULED, at))
                    runs += 1
                following = lifecycle.schedule_of(job).next_run(
                    job.submitted_at, max(now, at), runs, inclusive=False
                )
                store.update(job.id, next_run_at=following, scheduled_runs=runs)
            if due:
                uow.commit()
        return bool(due)

    # -- 2. take over ----------------------------------------------------------------------------

    def take_over_expired(self) -> Claim | None:
        """Lease to this runner a chunk whose runner's lease ran out (or give its run up)."""
        now = self._clock()
        given_up: ChunkRecord | None = None
        with UnitOfWork(self._engine, write=True) as uow:
            store = JobStore(uow.connection)
            chunk = store.lock_expired_chunk(now)
            if chunk is None:
                return None
            if chunk.attempts >= self.options.max_attempts:
                given_up = chunk
            else:
                store.take_over_chunk(chunk, self.runner_id, now + timedelta(seconds=self.options.lease_s))
                uow.commit()
        if given_up is not None:
            self._fail(
                given_up.run_id,
                f"Runners stopped {given_up.attempts} times while scoring one range of rows (last: "
                f"{given_up.claimed_by}); the run was abandoned.",
            )
            return None
        assert chunk is not None
        log.info(
            "runner %s took over chunk %d of run %s from %s",
            self.runner_id,
            chunk.seq,
            chunk.run_id,
            chunk.claimed_by,
        )
        self.stats.takeovers += 1
        return Claim(chunk.run_id, chunk.seq, chunk.lo_key, chunk.hi_key)

    # -- 3. claim --------------------------------------------------------------------------------

    def claim_next(self) -> tuple[Claim | None, bool]:
        """Lease the next key range of an active run to this runner: (the chunk or None, whether anything changed)."""
        self._busy = False
        needs_context: str | None = None
        run_id = ""
        try:
            with UnitOfWork(self._engine, write=True) as uow:
                store = JobStore(uow.connection)
                run = store.lock_claimable_run()
                if run is None:
                    self._busy = store.has_claimable_run()
                    return None, False
                run_id = run.id
                if run.stop_requested:
                    store.update_run(run.id, exhausted=True)
                    uow.commit()
                    return None, True
                context = self._contexts.get(run.id)
                if context is None:
                    needs_context = run.id
                else:
                    now = self._clock()
                    if run.status == PENDING:
                        store.update_run(run.id, status=RUNNING, started_at=now)
                    after = decode_key(run.last_key)
                    with user_tables(uow.connection, context.identity) as user:
                        user.guard_input(context.input_table)
                        hi, count = user.tables.next_boundary(
                            context.input_table, context.plan.key, after, self._chunk_rows(context)
                        )
                    if count == 0:
                        store.update_run(run.id, exhausted=True)
                        uow.commit()
                        return None, True
                    hi_key = encode_key(hi)
                    lease = now + timedelta(seconds=self.options.lease_s)
                    store.add_chunk(
                        ChunkRecord(run.id, run.chunk_seq, run.last_key, hi_key, self.runner_id, lease, 1)
                    )
                    store.update_run(
                        run.id,
                        last_key=hi_key,
                        chunk_seq=run.chunk_seq + 1,
                        claimed_by=self.runner_id,
                        lease_until=lease,
                    )
                    uow.commit()
                    self.stats.claimed_runs.add(run.id)
                    return Claim(run.id, run.chunk_seq, run.last_key, hi_key), True
        except (DBAPIError, InvalidInput) as exc:
            self._fail(run_id, f"Reading the input failed: {_reason(exc)}")
            return None, True
        if needs_context is not None:
            try:
                self._context(needs_context)
            except OmlError as exc:
                self._fail(needs_context, exc.message)
        return None, True

    def _chunk_rows(self, context: _Context) -> int:
        if context.plan.image_column is not None:
            return self.options.image_chunk_rows
        return max(1, min(self.options.chunk_rows, context.model.inputs.limits.max_rows))

    # -- 4. score --------------------------------------------------------------------------------

    def process(self, claim: Claim) -> None:
        """Score a claimed chunk and write its rows with its checkpoint, if this runner still holds it."""
        try:
            context = self._context(claim.run_id)
            self._ensure_target(context)
            with UnitOfWork(self._engine) as uow, user_tables(uow.connection, context.identity) as user:
                user.guard_input(context.input_table)
                rows = user.tables.read_range(
                    context.input_table,
                    context.plan.key,
                    context.plan.read_columns,
                    decode_key(claim.lo_key),
                    decode_key(claim.hi_key),
                )
            output = self._score(context, rows)
        except (OmlError, DBAPIError) as exc:
            if isinstance(exc, Unavailable):
                raise
            self._fail(claim.run_id, _reason(exc))
            return
        try:
            with UnitOfWork(self._engine, write=True) as uow:
                with user_tables(uow.connection, context.identity) as user:
                    user.guard_output(context.target)
                    user.tables.insert(context.target, output)
                # back as omlsvc, in the same transaction: the rows commit with their checkpoint
                store = JobStore(uow.connection)
                if not store.finish_chunk(claim.run_id, claim.seq, self.runner_id):
                    self.stats.lost_leases += 1
                    log.info(
                        "runner %s lost chunk %d of run %s; its rows were not written",
                        self.runner_id,
                        claim.seq,
                        claim.run_id,
                    )
                    return
                lease = self._clock() + timedelta(seconds=self.options.lease_s)
                store.add_progress(claim.run_id, len(output), self.runner_id, lease)
                uow.commit()
        except (DBAPIError, InvalidInput) as exc:
            self._fail(claim.run_id, f"Writing the output failed: {_reason(exc)}")
            return
        self.stats.chunks += 1
        self.stats.rows += len(output)

    def _score(self, context: _Context, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        if not rows:
            return []
        plan, model = context.plan, context.model
        top_n = plan.top_n if plan.function in (Function.CLASSIFICATION, Function.CLUSTERING) else None
        try:
            if plan.image_column is not None:
                images = plan.images(rows)
                step = model.inputs.limits.max_images
                results = []
                for start in range(0, len(images), step):
                    results += model.score_images(images[start : start + step], top_n)
            else:
                results = model.score_records(plan.records(rows), top_n)
        except OmlError as exc:
            # the scorer's own message may quote a value: name the column and the row's key instead
            raise RunFailed(
                f"Scoring the rows with {plan.key} from {rows[0][0]!r} to {rows[-1][0]!r} failed: "
                f"{plan.explain_failure(exc, rows)}"
            ) from exc
        return plan.output_rows(rows, results)

    def _ensure_target(self, context: _Context) -> None:
        if context.ready:
            return
        with UnitOfWork(self._engine, write=True) as uow:
            with user_tables(uow.connection, context.identity) as user:  # the job's role owns it
                user.tables.create(context.target)
            uow.commit()
        context.ready = True

    # -- 5. finish -------------------------------------------------------------------------------

    def finish_runs(self) -> bool:
        """End the runs with nothing left to score and no chunk in flight."""
        with UnitOfWork(self._engine) as uow:
            candidates = JobStore(uow.connection).finishable_run_ids()
        finished = False
        for run_id in candidates:
            try:
                finished = self._finish(run_id) or finished
            except (OmlError, DBAPIError) as exc:
                if isinstance(exc, Unavailable):
                    raise
                self._fail(run_id, _reason(exc))
                finished = True
        return finished

    def _finish(self, run_id: str) -> bool:
        with UnitOfWork(self._engine) as uow:
            peek = JobStore(uow.connection).get_run(run_id)
        if peek is None or peek.status != RUNNING:
            return False
        succeeded = not peek.stop_requested
        context = self._context(run_id) if succeeded else None
        drop_staging = False
        with UnitOfWork(self._engine, write=True) as uow:
            store = JobStore(uow.connection)
            run = store.lock_run(run_id)
            if run is None or run.status != RUNNING or not (run.exhausted or run.stop_requested):
                return False
            if store.chunks_in_flight(run_id):
                return False
            job = store.get(run.job_id)
            if job is None:
                return False
            properties = ScoringJobProperties.from_text(job.properties_json)
            status = STOPPED if run.stop_requested else SUCCEEDED
            if properties.recompute:
                if status == SUCCEEDED and context is not None:
                    with user_tables(uow.connection, context.identity) as user:
                        tables = user.tables
                        tables.create(context.target)  # an empty input still replaces the output
                        tables.drop(context.output.schema, context.output.name)
                        tables.rename(context.target, context.output.name)
                else:
                    drop_staging = True
            lifecycle.end_run(store, run, status, self._clock())
            uow.commit()
        if drop_staging:
            self._drop_staging(run_id)
        self._forget(run_id)
        self.stats.runs_ended += 1
        log.info("run %s of job %s ended %s", run_id, run.job_id, status)
        return True

    def _fail(self, run_id: str, message: str) -> None:
        if not run_id:
            return
        with UnitOfWork(self._engine, write=True) as uow:
            store = JobStore(uow.connection)
            store.delete_chunks(run_id)
            run = store.get_run(run_id, for_update=True)
            if run is None or run.status not in ACTIVE:
                uow.commit()
                return
            lifecycle.end_run(store, run, FAILED, self._clock(), message)
            uow.commit()
        self._drop_staging(run_id)
        self._forget(run_id)
        self.stats.runs_ended += 1
        log.warning("run %s of job %s failed: %s", run_id, run.job_id, message)

    def _drop_staging(self, run_id: str) -> None:
        """Drop a ``recompute`` run's staging table, if it made one (best effort: it holds no result)."""
        with UnitOfWork(self._engine, write=True) as uow:
            store = JobStore(uow.connection)
            run = store.get_run(run_id)
            job = None if run is None else store.get(run.job_id)
            if job is None:
                return
            properties = ScoringJobProperties.from_text(job.properties_json)
            if not properties.recompute:
                return
            identity = identity_of(uow.connection, job.owner)
            try:
                drop_output_table(uow.connection, identity, properties, lifecycle.staging_table_name(run_id))
            except InvalidInput:
                return
            uow.commit()

    # -- per-run context -------------------------------------------------------------------------

    def _context(self, run_id: str) -> _Context:
        cached = self._contexts.get(run_id)
        if cached is not None:
            self._contexts.move_to_end(run_id)
            return cached
        with UnitOfWork(self._engine) as uow:
            connection = uow.connection
            store = JobStore(connection)
            run = store.get_run(run_id)
            job = None if run is None else store.get(run.job_id)
            if job is None:
                raise RunFailed(f"Run {run_id} or its job no longer exists.")
            properties = ScoringJobProperties.from_text(job.properties_json)
            model = ModelStore(connection).get(job.model_id)
            if model is None:
                raise RunFailed(f"The model {job.model_id} was deleted.")
            identity = identity_of(connection, job.owner)
            owner = identity.principal
            if not may_see_model(owner, model.access):
                raise RunFailed(
                    f"The model {job.model_id} is no longer visible to the job's owner {job.owner}."
                )
            spec = ScoringSpec.from_json(model.spec_json)

            def owner_of(other: str) -> str | None:
                other_job = store.get(other)
                return None if other_job is None else other_job.owner

            try:
                resolved = resolve_tables(connection, job.id, properties, spec, identity, owner_of)
            except InvalidInput as exc:
                raise RunFailed(exc.message) from exc
            output_name = lifecycle.output_table_name(job.id, properties.output_data)
            output = DataTables.output_table(
                resolved.output_schema, output_name, resolved.plan, resolved.input_table
            )
            target = output
            if properties.recompute:
                staging = lifecycle.staging_table_name(run_id)
                target = DataTables.output_table(
                    resolved.output_schema, staging, resolved.plan, resolved.input_table
                )
        prepared = self._scoring.prepared_for_model(model)
        context = _Context(
            job, identity, properties, resolved.plan, prepared, resolved.input_table, output, target
        )
        self._contexts[run_id] = context
        while len(self._contexts) > MAX_CONTEXTS:
            self._contexts.popitem(last=False)
        return context

    def _forget(self, run_id: str) -> None:
        self._contexts.pop(run_id, None)

    def _chunks_pending(self) -> bool:
        """Whether chunks are leased to runners (maybe dead ones whose leases have yet to expire)."""
        with UnitOfWork(self._engine) as uow:
            store = JobStore(uow.connection)
            return bool(store.has_claimable_run() or store.has_chunks())


def _reason(exc: BaseException) -> str:
    """Why a run failed, for its record: our own messages (which never quote a row value), or for a
    database error only its code, since drivers' messages may quote the value they refused."""
    if isinstance(exc, OmlError):
        return exc.message
    original = exc.orig if isinstance(exc, DBAPIError) else None
    code = getattr(original, "sqlstate", None) or getattr(original, "sqlite_errorname", None)
    name = type(original or exc).__name__
    return f"the database refused the statement ({name}{f', {code}' if code else ''})"


# -- the in-process runner of ``omlsvc serve`` -------------------------------------------------------


def start_background_runner(
    engine: Engine, scoring: ScoringService, options: RunnerOptions, lock_dir: Path | None = None
) -> threading.Event:
    """Run a runner in a daemon thread of this process; returns the event that stops it.

    With SQLite (``lock_dir`` given) only one process per data directory runs it: every gunicorn
    worker starts the thread, and the one holding the lock file works while the others wait for it.
    """
    stop = threading.Event()

    def main() -> None:
        holder = _LockFile(lock_dir / "job-runner.lock") if lock_dir is not None else None
        try:
            while holder is not None and not holder.acquire():
                if stop.wait(max(options.poll_s, 1.0) * 5):
                    return
            runner = Runner(engine, scoring, options)
            runner.run_forever(stop)
        finally:
            if holder is not None:
                holder.release()

    threading.Thread(target=main, name="omlsvc-job-runner", daemon=True).start()
    return stop


def options_from(settings: Settings) -> RunnerOptions:
    return RunnerOptions(
        chunk_rows=settings.job_chunk_rows, lease_s=float(settings.job_lease_s), poll_s=settings.job_poll_s
    )


def start_job_runner(settings: Settings, engine: Engine, scoring: ScoringService) -> threading.Event | None:
    """Start this process's background runner if ``OMLSVC_JOB_RUNNER`` (or its default) asks for one."""
    if not runs_in_process(settings.database_url, settings.job_runner):
        return None
    sqlite = make_url(settings.database_url).get_backend_name() == "sqlite"
    return start_background_runner(
        engine, scoring, options_from(settings), settings.data_dir if sqlite else None
    )


def runs_in_process(database_url: str, setting: bool | None) -> bool:
    """``OMLSVC_JOB_RUNNER``: on by default for SQLite (one host, nothing else to run), off for
    server databases, where ``omlsvc jobs worker`` processes scale on their own."""
    if setting is not None:
        return setting
    return make_url(database_url).get_backend_name() == "sqlite"


class _LockFile:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: Any = None

    def acquire(self) -> bool:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
