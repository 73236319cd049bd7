"""The records of the jobs tables as the service, the runner and the views read them: frozen values,
no SQL (:mod:`omlsvc.jobs.store` reads and writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class JobRecord:
    id: str
    name: str
    job_type: str
    owner: str
    model_id: str
    service_level: str | None
    properties_json: str
    job_status: str
    enabled: bool
    start_at: datetime | None
    end_at: datetime | None
    max_runs: int | None
    repeat_interval: str | None
    next_run_at: datetime | None
    run_count: int
    scheduled_runs: int
    submitted_at: datetime
    updated_at: datetime
    #: read through a join: the job's model no longer exists (the ``MODEL_DELETED`` flag).
    model_deleted: bool = False


@dataclass(frozen=True)
class RunRecord:
    id: str
    job_id: str
    run_type: str
    status: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    claimed_by: str | None
    lease_until: datetime | None
    stop_requested: bool
    exhausted: bool
    last_key: str | None
    rows_done: int
    chunk_seq: int
    error_message: str | None


@dataclass(frozen=True)
class ChunkRecord:
    run_id: str
    seq: int
    lo_key: str | None
    hi_key: str
    claimed_by: str
    lease_until: datetime
    attempts: int


@dataclass(frozen=True)
class JobFilter:
    """The list filters of spec section 5; ``flags`` are ANDed."""

    name: str | None = None
    service_level: str | None = None
    job_status: str | None = None
    job_type: str | None = None
    model_id: str | None = None
    submitted_after: datetime | None = None
    submitted_before: datetime | None = None
    flags: frozenset[str] = frozenset()
