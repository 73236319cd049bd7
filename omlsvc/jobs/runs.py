"""The run state machine: due schedules become runs, runs are handed out in key ranges, each range is
scored and written with its checkpoint, and a run ends exactly once.

Any number of runners (threads in ``omlsvc serve``, ``omlsvc jobs worker`` processes, on any number
of hosts) share one database; each step is one short transaction that locks what it takes with
``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL, Oracle; SQLite serialises writers instead):

1. **schedule**: due enabled jobs get a PENDING run, and their next run date moves on;
2. **take over**: a chunk whose runner's lease ran out (killed, stalled) is re-leased to this runner;
3. **claim**: the next ``chunk_rows`` rows of an active run's input (keyset pagination on its key
   column, from the run's frontier ``last_key``) are read, as the job's role, in the transaction
   that leases them to this runner as a chunk and moves the frontier past them; the run is then
   free for other runners to claim the next chunk, so several runners score one large run in
   parallel without overlap (only their reads take turns). On a server database a runner claims
   its next chunk while it scores and writes the last one (``Runner._score``), so it holds two at
   most; each is read when claimed, so a grant revoked meanwhile stops the reads that follow, and a
   chunk read before the revocation is still written;
4. **score** (no transaction open): score the chunk's rows through the same
   :class:`~omlsvc.scoring.scorer.PreparedModel` the REST endpoint uses, then in ONE transaction
   insert the output rows and delete the chunk row (the checkpoint), which succeeds only while this
   runner still holds the chunk; a runner that lost its lease rolls back, so every input row is
   written exactly once however runners die. A chunk taken over from another runner is read again
   first, by its key range, in a transaction of its own;
5. **finish** (:mod:`omlsvc.jobs.endings`): a run with no input left (or asked to STOP) and no
   chunk in flight ends; with ``recompute=true`` its rows went to a staging table that replaces the output table in the same
   transaction that records success (readers never see a half table, except on Oracle, whose DDL
   commits on its own).

STOP is honoured between chunks: no new chunk is claimed, chunks in flight complete, and the run
ends STOPPED (a staging table is dropped, so the previous output stays). A scoring error (bad
values, a model that refuses the rows, a dropped table) ends the run FAILED with the reason in
``errorMessage``; rows already appended stay (``recompute=false``). A chunk that kept killing its
runners is given up after ``max_attempts``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError

from omlsvc.core.errors import InvalidInput, OmlError, Unavailable
from omlsvc.core.logs import bind, log_context
from omlsvc.core.observe import UNOBSERVED, Observer
from omlsvc.db.transactions import Transactions
from omlsvc.db.uow import UnitOfWork
from omlsvc.jobs import lifecycle
from omlsvc.jobs.access import user_tables
from omlsvc.jobs.claims import Claim, RunnerStats, renewing_lease
from omlsvc.jobs.context import RunContext, RunContexts, reason
from omlsvc.jobs.endings import RunEndings
from omlsvc.jobs.monitoring.runs import WHOLE_RUN, MonitorRuns, is_monitoring
from omlsvc.jobs.options import RunnerOptions
from omlsvc.jobs.records import ChunkRecord, RunRecord
from omlsvc.jobs.shapes import OutputBatch
from omlsvc.jobs.states import PENDING, RUNNING, SCHEDULED
from omlsvc.jobs.store import JobStore
from omlsvc.jobs.tables import decode_key, encode_key

log = logging.getLogger("omlsvc.jobs")


class RunSteps:
    """The steps one runner takes; each opens its own short transactions."""

    def __init__(
        self,
        transactions: Transactions,
        contexts: RunContexts,
        options: RunnerOptions,
        *,
        clock: Callable[[], datetime],
        runner_id: str,
        observer: Observer = UNOBSERVED,
        monitor: MonitorRuns | None = None,
    ) -> None:
        self._transactions = transactions
        #: computes and writes monitoring runs (DATA_MONITORING, MODEL_MONITORING, DATA_BIAS).
        self._monitor = monitor
        self._observer = observer  # told every run that ends and every chunk of rows written
        self._contexts = contexts
        self.options = options
        self._clock = clock
        self.runner_id = runner_id
        self.stats = RunnerStats()
        self._endings = RunEndings(transactions, contexts, clock=clock, observer=observer, stats=self.stats)
        #: the last claim found an active run another runner held a moment: look again soon.
        self._busy = False

    # -- 1. schedule -----------------------------------------------------------------------------

    def schedule_due(self) -> bool:
        """Give every due enabled job its PENDING run and move its next run date on."""
        now = self._clock()
        with self._transactions(write=True) as uow:
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
        with self._transactions(write=True) as uow:
            store = JobStore(uow.connection)
            chunk = store.lock_expired_chunk(now)
            if chunk is None:
                return None
            if chunk.attempts < self.options.max_attempts:
                store.take_over_chunk(chunk, self.runner_id, now + timedelta(seconds=self.options.lease_s))
                uow.commit()
        if chunk.attempts >= self.options.max_attempts:
            self.fail(
                chunk.run_id,
                f"Runners stopped {chunk.attempts} times while scoring one range of rows (last: "
                f"{chunk.claimed_by}); the run was abandoned.",
            )
            return None
        log.info(
            "runner %s took over chunk %d of run %s from %s",
            self.runner_id,
            chunk.seq,
            chunk.run_id,
            chunk.claimed_by,
            extra={"run_id": chunk.run_id},
        )
        self.stats.takeovers += 1
        return Claim(chunk.run_id, chunk.seq, chunk.lo_key, chunk.hi_key)

    # -- 3. claim --------------------------------------------------------------------------------

    def claim_next(self) -> tuple[Claim | None, bool]:
        """Lease the next key range of an active run to this runner: (the chunk or None, whether
        anything changed). A run seen for the first time only gets its context built this round."""
        self._busy = False
        run_id = ""
        try:
            with self._transactions(write=True) as uow:
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
                context = self._contexts.cached(run.id)  # only scoring runs have one
                if context is not None:
                    return self._claim_range(uow, store, run, context), True
                job = store.get(run.job_id)
                if job is not None and is_monitoring(job.job_type):
                    return self._claim_whole(uow, store, run), True
        except (DBAPIError, InvalidInput) as exc:
            self.fail(run_id, f"Reading the input failed: {reason(exc)}")
            return None, True
        try:
            self._contexts.get(run_id)  # outside the transaction; the range is claimed next round
        except OmlError as exc:
            self.fail(run_id, exc.message)
        return None, True

    def _claim_range(
        self, uow: UnitOfWork, store: JobStore, run: RunRecord, context: RunContext
    ) -> Claim | None:
        """Read the run's next range (as the job's role, after the same checks as any read), lease
        it and move the run's frontier past it, committed; None (the run marked exhausted) when its
        input has no row left. Reading in the claiming transaction saves a transaction, a role switch,
        the catalogue checks and a scan of the keys per chunk; the claim carries the rows."""
        now = self._clock()
        if run.status == PENDING:
            store.update_run(run.id, status=RUNNING, started_at=now)
        plan = context.plan
        with user_tables(uow.connection, context.identity) as user:
            user.guard_input(context.input_table)
            rows = user.tables.read_next(
                context.input_table,
                plan.key,
                plan.read_columns,
                decode_key(run.last_key),
                self._chunk_rows(context),
            )
        if not rows:
            store.update_run(run.id, exhausted=True)
            uow.commit()
            return None
        hi_key = encode_key(rows[-1][0])  # the key is read first
        lease = now + timedelta(seconds=self.options.lease_s)
        store.add_chunk(ChunkRecord(run.id, run.chunk_seq, run.last_key, hi_key, self.runner_id, lease, 1))
        store.update_run(
            run.id, last_key=hi_key, chunk_seq=run.chunk_seq + 1, claimed_by=self.runner_id, lease_until=lease
        )
        uow.commit()
        self.stats.claimed_runs.add(run.id)
        return Claim(run.id, run.chunk_seq, run.last_key, hi_key, rows)

    def _claim_whole(self, uow: UnitOfWork, store: JobStore, run: RunRecord) -> Claim:
        """Lease a monitoring run whole, as its one chunk (it is computed and written at once)."""
        now = self._clock()
        if run.status == PENDING:
            store.update_run(run.id, status=RUNNING, started_at=now)
        lease = now + timedelta(seconds=self.options.lease_s)
        store.add_chunk(ChunkRecord(run.id, run.chunk_seq, None, WHOLE_RUN, self.runner_id, lease, 1))
        store.update_run(
            run.id, exhausted=True, chunk_seq=run.chunk_seq + 1, claimed_by=self.runner_id, lease_until=lease
        )
        uow.commit()
        self.stats.claimed_runs.add(run.id)
        return Claim(run.id, run.chunk_seq, None, WHOLE_RUN)

    def _chunk_rows(self, context: RunContext) -> int:
        if context.plan.image_column is not None:
            return self.options.image_chunk_rows
        return max(1, min(self.options.chunk_rows, context.model.inputs.limits.max_rows))

    # -- 4. score --------------------------------------------------------------------------------

    def process(self, claim: Claim) -> None:
        """Score a claimed chunk and write its rows with its checkpoint, if this runner still holds it;
        every line logged meanwhile carries the run's id and, once known, its job's."""
        with log_context(run_id=claim.run_id):
            if claim.hi_key == WHOLE_RUN:
                self._process_monitoring(claim)
            else:
                self._process(claim)

    def _process_monitoring(self, claim: Claim) -> None:
        """Compute a monitoring run (no transaction open meanwhile), then write every row of it with
        its checkpoint in one transaction: a runner killed before that commit leaves no row, and one
        that lost its lease meanwhile writes nothing. A STOP asked meanwhile ends it with no rows."""
        if self._monitor is None:
            self.fail(claim.run_id, "This runner does not compute monitoring jobs.")
            return
        try:
            with self._transactions() as uow:
                store = JobStore(uow.connection)
                run = store.get_run(claim.run_id)
                job = None if run is None else store.get(run.job_id)
            if job is None:
                return
            bind(job_id=job.id)
            with renewing_lease(self._transactions, claim, self.runner_id, self.options.lease_s, self._clock):
                computed = self._monitor.compute(job, self._job_owner)
        except (OmlError, DBAPIError) as exc:
            if isinstance(exc, Unavailable):
                raise
            self.fail(claim.run_id, reason(exc))
            return
        try:
            with self._transactions(write=True) as uow:
                store = JobStore(uow.connection)
                run = store.get_run(claim.run_id, for_update=True)
                if run is not None and not run.stop_requested:
                    self._monitor.write(uow.connection, computed)
                if not store.finish_chunk(claim.run_id, claim.seq, self.runner_id):
                    self.stats.lost_leases += 1
                    log.info(
                        "runner %s lost monitoring run %s; its rows were not written",
                        self.runner_id,
                        claim.run_id,
                    )
                    return
                written = 0 if run is None or run.stop_requested else len(computed.rows)
                store.add_progress(
                    claim.run_id,
                    written,
                    self.runner_id,
                    self._clock() + timedelta(seconds=self.options.lease_s),
                )
                uow.commit()
        except (DBAPIError, InvalidInput) as exc:
            self.fail(claim.run_id, f"Writing the output failed: {reason(exc)}")
            return
        self.stats.chunks += 1
        self.stats.rows += written
        self._observer.job_rows_written(written)

    def _job_owner(self, job_id: str) -> str | None:
        with self._transactions() as uow:
            job = JobStore(uow.connection).get(job_id)
        return None if job is None else job.owner

    def _process(self, claim: Claim) -> None:
        try:
            context = self._contexts.get(claim.run_id)
            bind(job_id=context.job.id)  # undone with the run's binding
            self._ensure_target(context)
            rows = claim.rows if claim.rows is not None else self._read_range(claim, context)
            output = context.score(rows)
        except (OmlError, DBAPIError) as exc:
            if isinstance(exc, Unavailable):
                raise
            self.fail(claim.run_id, reason(exc))
            return
        try:
            written = self._checkpoint(claim, context, output)
        except (DBAPIError, InvalidInput) as exc:
            self.fail(claim.run_id, f"Writing the output failed: {reason(exc)}")
            return
        if written:
            self.stats.chunks += 1
            self.stats.rows += output.rows
            self._observer.job_rows_written(output.rows)

    def _read_range(self, claim: Claim, context: RunContext) -> list[Any]:
        """The rows of a claim that did not read them (one taken over), by its key range."""
        with self._transactions() as uow, user_tables(uow.connection, context.identity) as user:
            user.guard_input(context.input_table)
            return user.tables.read_range(
                context.input_table,
                context.plan.key,
                context.plan.read_columns,
                decode_key(claim.lo_key),
                decode_key(claim.hi_key),
                fetch_rows=self._chunk_rows(context),
            )

    def _checkpoint(self, claim: Claim, context: RunContext, output: OutputBatch) -> bool:
        """Write the chunk's rows and delete its chunk row in one transaction; False (nothing written)
        when this runner no longer holds the chunk."""
        with self._transactions(write=True) as uow:
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
                return False
            lease = self._clock() + timedelta(seconds=self.options.lease_s)
            store.add_progress(claim.run_id, output.rows, self.runner_id, lease)
            uow.commit()
        return True

    def _ensure_target(self, context: RunContext) -> None:
        if context.ready:
            return
        with self._transactions(write=True) as uow:
            with user_tables(uow.connection, context.identity) as user:  # the job's role owns it
                user.tables.create(context.target)
            uow.commit()
        context.ready = True

    # -- 5. finish (:mod:`omlsvc.jobs.endings`) ------------------------------------------------

    def finish_runs(self) -> bool:
        """End the runs with nothing left to score and no chunk in flight."""
        return self._endings.finish_runs()

    def fail(self, run_id: str, message: str) -> None:
        """End the run FAILED with ``message`` (unless it ended meanwhile); its staging table goes."""
        self._endings.fail(run_id, message)

    # -- what is left ----------------------------------------------------------------------------

    def has_work(self) -> bool:
        """Whether anything is due, active or in flight (one cheap read, no writing transaction)."""
        with self._transactions() as uow:
            return JobStore(uow.connection).has_work(self._clock())

    def chunks_pending(self) -> bool:
        """Whether chunks are leased to runners (maybe dead ones whose leases have yet to expire)."""
        with self._transactions() as uow:
            store = JobStore(uow.connection)
            return bool(store.has_claimable_run() or store.has_chunks())
