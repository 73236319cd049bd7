"""Rows of ``jobs``, ``job_runs`` and ``job_chunks``: the only SQL over the service's job tables.

Locking contract (what lets any number of runners on any number of hosts share the work):

* every method named ``lock_*`` or ``*_for_update`` selects ``FOR UPDATE``, with ``SKIP LOCKED`` where
  a runner looks for work, so two runners never take the same row and never wait for each other;
  SQLite ignores both clauses and instead serialises writers with ``BEGIN IMMEDIATE`` (see
  :mod:`omlsvc.db.engine`), which gives the same guarantee for its single host;
* a transaction that touches both a chunk and its run locks the chunk first;
* :meth:`JobStore.finish_chunk` deletes a chunk only while the caller still holds it, so a runner
  whose lease was taken over can never commit the rows it wrote for that chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from omlsvc.db.schema import job_chunks, job_runs, jobs, models
from omlsvc.jobs.records import ChunkRecord, JobFilter, JobRecord, RunRecord
from omlsvc.jobs.states import ACTIVE, MODEL_DELETED, RUNNING

_JOB_COLUMNS = (
    jobs.c.id,
    jobs.c.name,
    jobs.c.job_type,
    jobs.c.owner,
    jobs.c.model_id,
    jobs.c.service_level,
    jobs.c.properties,
    jobs.c.job_status,
    jobs.c.enabled,
    jobs.c.start_at,
    jobs.c.end_at,
    jobs.c.max_runs,
    jobs.c.repeat_interval,
    jobs.c.next_run_at,
    jobs.c.run_count,
    jobs.c.scheduled_runs,
    jobs.c.submitted_at,
    jobs.c.updated_at,
)
#: Monitoring jobs without a model (DATA_MONITORING, DATA_BIAS) record :data:`NO_MODEL`: never deleted.
NO_MODEL = "-"
_MODEL_DELETED = (jobs.c.model_id != NO_MODEL) & ~exists().where(models.c.id == jobs.c.model_id)
#: The same as a 0/1 column: Oracle before 23ai has no boolean expressions in a select list.
_MODEL_DELETED_FLAG = case((_MODEL_DELETED, 1), else_=0).label("model_deleted")
_RUN_COLUMNS = tuple(job_runs.c[name] for name in RunRecord.__dataclass_fields__)
_CHUNK_COLUMNS = tuple(job_chunks.c[name] for name in ChunkRecord.__dataclass_fields__)


def _job(row: Sequence[Any]) -> JobRecord:
    values = tuple(row)
    return JobRecord(*values[:-1], bool(values[-1]))  # type: ignore[call-arg]


def _run(row: Sequence[Any]) -> RunRecord:
    return RunRecord(*row)


def _chunk(row: Sequence[Any]) -> ChunkRecord:
    return ChunkRecord(*row)


class JobStore:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def _skip_locked(self, query: Select[Any], limit: int) -> list[Row[Any]]:
        """The first ``limit`` rows of ``query`` not locked by another transaction, locked.

        Oracle refuses ``FETCH FIRST`` together with ``FOR UPDATE`` (ORA-02014) but locks rows as they
        are fetched under ``SKIP LOCKED``: there the query has no limit and only ``limit`` rows are
        fetched (``yield_per`` keeps the driver from fetching, so locking, a whole batch).
        """
        if self._connection.dialect.name == "oracle":
            result = self._connection.execute(
                query.with_for_update(skip_locked=True).execution_options(yield_per=limit)
            )
            rows = list(result.fetchmany(limit))
            result.close()
            return rows
        return list(self._connection.execute(query.limit(limit).with_for_update(skip_locked=True)))

    # -- jobs ------------------------------------------------------------------------------------

    def add(self, record: JobRecord) -> None:
        values = {column.name: getattr(record, _field(column.name)) for column in _JOB_COLUMNS}
        self._connection.execute(insert(jobs).values(**values))

    def get(self, job_id: str, *, for_update: bool = False) -> JobRecord | None:
        query = select(*_JOB_COLUMNS, _MODEL_DELETED_FLAG).where(jobs.c.id == job_id)
        if for_update:
            # Oracle refuses FOR UPDATE beside the EXISTS subquery of the select list: lock, then read.
            self._connection.execute(select(jobs.c.id).where(jobs.c.id == job_id).with_for_update())
        row = self._connection.execute(query).one_or_none()
        return None if row is None else _job(row)

    def list_jobs(
        self, owner: str | None, where: JobFilter, offset: int = 0, limit: int | None = None
    ) -> list[JobRecord]:
        """Jobs of ``owner`` (every job when None) matching ``where``, oldest first."""
        query = select(*_JOB_COLUMNS, _MODEL_DELETED_FLAG)
        conditions: list[ColumnElement[bool]] = []
        if owner is not None:
            conditions.append(jobs.c.owner == owner)
        for column, value in (
            (jobs.c.name, where.name),
            (jobs.c.service_level, where.service_level),
            (jobs.c.job_status, where.job_status),
            (jobs.c.job_type, where.job_type),
            (jobs.c.model_id, where.model_id),
        ):
            if value is not None:
                conditions.append(column == value)
        if where.submitted_after is not None:
            conditions.append(jobs.c.submitted_at > where.submitted_after)
        if where.submitted_before is not None:
            conditions.append(jobs.c.submitted_at < where.submitted_before)
        for flag in where.flags:
            conditions.append(_MODEL_DELETED if flag == MODEL_DELETED else false())
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(jobs.c.submitted_at, jobs.c.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return [_job(row) for row in self._connection.execute(query)]

    def update(self, job_id: str, **values: object) -> None:
        self._connection.execute(update(jobs).where(jobs.c.id == job_id).values(**values))

    def delete(self, job_id: str) -> None:
        """Delete a job with its runs and their chunks (children first: not every database cascades)."""
        run_ids = select(job_runs.c.id).where(job_runs.c.job_id == job_id).scalar_subquery()
        self._connection.execute(delete(job_chunks).where(job_chunks.c.run_id.in_(run_ids)))
        self._connection.execute(delete(job_runs).where(job_runs.c.job_id == job_id))
        self._connection.execute(delete(jobs).where(jobs.c.id == job_id))

    def lock_due_jobs(self, now: datetime, limit: int = 20) -> list[JobRecord]:
        """Enabled jobs whose next run is due, locked; jobs another runner is scheduling are skipped."""
        rows = self._skip_locked(
            select(jobs.c.id)
            .where(jobs.c.enabled == true(), jobs.c.next_run_at.is_not(None), jobs.c.next_run_at <= now)
            .order_by(jobs.c.next_run_at),
            limit,
        )
        found = [self.get(job_id) for (job_id,) in rows]
        return [job for job in found if job is not None]

    def has_work(self, now: datetime) -> bool:
        """Whether a runner has anything to do: a due job, an active run, a chunk in flight. One cheap
        read, so an idle runner never opens a writing transaction (which SQLite serialises)."""
        due = exists().where(
            jobs.c.enabled == true(), jobs.c.next_run_at.is_not(None), jobs.c.next_run_at <= now
        )
        active = exists().where(job_runs.c.status.in_(ACTIVE))
        return bool(self._connection.execute(_any(or_(due, active))).scalar())

    # -- runs ------------------------------------------------------------------------------------

    def add_run(self, record: RunRecord) -> None:
        self._connection.execute(
            insert(job_runs).values(
                **{name: getattr(record, name) for name in RunRecord.__dataclass_fields__}
            )
        )

    def get_run(self, run_id: str, *, for_update: bool = False) -> RunRecord | None:
        query = select(*_RUN_COLUMNS).where(job_runs.c.id == run_id)
        if for_update:
            query = query.with_for_update()
        row = self._connection.execute(query).one_or_none()
        return None if row is None else _run(row)

    def active_run(self, job_id: str) -> RunRecord | None:
        row = self._connection.execute(
            select(*_RUN_COLUMNS)
            .where(job_runs.c.job_id == job_id, job_runs.c.status.in_(ACTIVE))
            .order_by(job_runs.c.requested_at.desc())
            .limit(1)
        ).one_or_none()
        return None if row is None else _run(row)

    def runs(self, job_id: str, limit: int | None = None) -> list[RunRecord]:
        """The job's runs, most recent first."""
        query = (
            select(*_RUN_COLUMNS)
            .where(job_runs.c.job_id == job_id)
            .order_by(job_runs.c.requested_at.desc(), job_runs.c.id.desc())
        )
        if limit is not None:
            query = query.limit(limit)
        return [_run(row) for row in self._connection.execute(query)]

    def last_started_run(self, job_id: str) -> RunRecord | None:
        row = self._connection.execute(
            select(*_RUN_COLUMNS)
            .where(job_runs.c.job_id == job_id, job_runs.c.started_at.is_not(None))
            .order_by(job_runs.c.started_at.desc())
            .limit(1)
        ).one_or_none()
        return None if row is None else _run(row)

    def update_run(self, run_id: str, **values: object) -> None:
        self._connection.execute(update(job_runs).where(job_runs.c.id == run_id).values(**values))

    def add_progress(self, run_id: str, rows: int, claimed_by: str, lease_until: datetime) -> None:
        """Count a finished chunk's rows and renew the run's lease (the per-chunk heartbeat)."""
        self._connection.execute(
            update(job_runs)
            .where(job_runs.c.id == run_id)
            .values(rows_done=job_runs.c.rows_done + rows, claimed_by=claimed_by, lease_until=lease_until)
        )

    def lock_claimable_run(self) -> RunRecord | None:
        """The oldest active run that still has input to hand out, locked (others skip it)."""
        rows = self._skip_locked(
            select(*_RUN_COLUMNS)
            .where(job_runs.c.status.in_(ACTIVE), job_runs.c.exhausted == false())
            .order_by(job_runs.c.requested_at, job_runs.c.id),
            1,
        )
        return _run(rows[0]) if rows else None

    def has_claimable_run(self) -> bool:
        """Whether some active run has input left, locked or not: tells a runner that found nothing
        to claim whether to look again at once (another runner held the row a moment) or to idle."""
        return bool(
            self._connection.execute(
                _any(exists().where(job_runs.c.status.in_(ACTIVE), job_runs.c.exhausted == false()))
            ).scalar()
        )

    def finishable_run_ids(self, limit: int = 10) -> list[str]:
        """Running runs with nothing left to hand out (or asked to stop) and no chunk in flight.

        Not locked: the caller locks each with :meth:`lock_run` and checks again, because a chunk may
        have been claimed in between."""
        return list(
            self._connection.execute(
                select(job_runs.c.id)
                .where(
                    job_runs.c.status == RUNNING,
                    or_(job_runs.c.exhausted == true(), job_runs.c.stop_requested == true()),
                    ~exists().where(job_chunks.c.run_id == job_runs.c.id),
                )
                .order_by(job_runs.c.requested_at)
                .limit(limit)
            ).scalars()
        )

    def lock_run(self, run_id: str) -> RunRecord | None:
        """The run, locked, or None if it is gone or another transaction holds it."""
        row = self._connection.execute(
            select(*_RUN_COLUMNS).where(job_runs.c.id == run_id).with_for_update(skip_locked=True)
        ).one_or_none()
        return None if row is None else _run(row)

    # -- chunks ----------------------------------------------------------------------------------

    def add_chunk(self, record: ChunkRecord) -> None:
        self._connection.execute(
            insert(job_chunks).values(
                **{name: getattr(record, name) for name in ChunkRecord.__dataclass_fields__}
            )
        )

    def chunks_in_flight(self, run_id: str) -> int:
        return int(
            self._connection.execute(
                select(func.count()).select_from(job_chunks).where(job_chunks.c.run_id == run_id)
            ).scalar()
            or 0
        )

    def has_chunks(self) -> bool:
        return bool(self._connection.execute(_any(exists().where(job_chunks.c.run_id.is_not(None)))).scalar())

    def lock_expired_chunk(self, now: datetime) -> ChunkRecord | None:
        """A chunk whose runner's lease ran out (it died or stalled), locked; others skip it."""
        rows = self._skip_locked(
            select(*_CHUNK_COLUMNS).where(job_chunks.c.lease_until < now).order_by(job_chunks.c.lease_until),
            1,
        )
        return _chunk(rows[0]) if rows else None

    def take_over_chunk(self, chunk: ChunkRecord, claimed_by: str, lease_until: datetime) -> None:
        self._connection.execute(
            update(job_chunks)
            .where(job_chunks.c.run_id == chunk.run_id, job_chunks.c.seq == chunk.seq)
            .values(claimed_by=claimed_by, lease_until=lease_until, attempts=chunk.attempts + 1)
        )

    def renew_chunk(self, run_id: str, seq: int, claimed_by: str, lease_until: datetime) -> bool:
        result = self._connection.execute(
            update(job_chunks)
            .where(
                job_chunks.c.run_id == run_id, job_chunks.c.seq == seq, job_chunks.c.claimed_by == claimed_by
            )
            .values(lease_until=lease_until)
        )
        return result.rowcount == 1

    def finish_chunk(self, run_id: str, seq: int, claimed_by: str) -> bool:
        """Delete the chunk if ``claimed_by`` still holds it: the checkpoint. False means the lease was
        lost (or the run was failed or stopped meanwhile) and the caller must roll back."""
        result = self._connection.execute(
            delete(job_chunks).where(
                job_chunks.c.run_id == run_id, job_chunks.c.seq == seq, job_chunks.c.claimed_by == claimed_by
            )
        )
        return result.rowcount == 1

    def delete_chunks(self, run_id: str) -> None:
        self._connection.execute(delete(job_chunks).where(job_chunks.c.run_id == run_id))


def _any(condition: ColumnElement[bool]) -> Select[tuple[int]]:
    """``SELECT CASE WHEN condition THEN 1 ELSE 0 END``: Oracle before 23ai selects no booleans."""
    return select(case((condition, 1), else_=0))


def _field(column: str) -> str:
    return {"properties": "properties_json"}.get(column, column)
