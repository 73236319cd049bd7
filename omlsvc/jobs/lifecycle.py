"""What the service and the runner both need to know about jobs and runs: ids, names, schedules,
and the one way a run ends.

A run ends exactly once, through :func:`end_run`, inside the caller's transaction and while the
caller holds the run's row lock: it records the final status and, for a scheduled run, counts it in
the job's ``runCount``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from urllib.parse import unquote

from omlsvc.core.authorization import Principal, may_manage_job
from omlsvc.core.errors import NotFound
from omlsvc.core.patterns import JOB_ID
from omlsvc.jobs.records import JobRecord, RunRecord
from omlsvc.jobs.schedule import Schedule, parse_repeat_interval
from omlsvc.jobs.states import PENDING, SCHEDULED
from omlsvc.jobs.store import JobStore

#: ``jobStatus``: jobs are created and updated synchronously, so only the settled values appear.
CREATED = "CREATED"
UPDATED = "UPDATED"
#: Staging tables of ``recompute=true`` runs: ``OML$S_`` and the run id's 32 hex digits.
STAGING_PREFIX = "OML$S_"


def new_job_id() -> str:
    """``OML$`` + an upper-case UUID with underscores: ``OML$21FACAC2_B345_4485_B287_DBDADC3A1BC0``."""
    return "OML$" + str(uuid.uuid4()).upper().replace("-", "_")


def new_run_id() -> str:
    return str(uuid.uuid4())


def parse_job_id(raw: str) -> str:
    """A job id from a URL: ``$`` raw or percent-encoded (``OML%24...``), any case; else NotFound."""
    job_id = unquote(raw).upper()
    if not JOB_ID.fullmatch(job_id):
        raise NotFound(f"Job {raw} does not exist.")
    return job_id


def owned_job(job: JobRecord | None, principal: Principal, job_id: str) -> JobRecord:
    """The job, if the caller may manage it; NotFound otherwise (another user's job does not exist
    for them)."""
    if job is None or not may_manage_job(principal, job.owner):
        raise NotFound(f"Job {job_id} does not exist.")
    return job


def output_table_name(job_id: str, output_data: str) -> str:
    """``{jobId}_{outputData}``, the name folded to upper case as Oracle folds an unquoted name."""
    return f"{job_id}_{output_data.upper()}"


def staging_table_name(run_id: str) -> str:
    return STAGING_PREFIX + run_id.replace("-", "").upper()


def schedule_of(job: JobRecord) -> Schedule:
    repeat = parse_repeat_interval(job.repeat_interval) if job.repeat_interval else None
    return Schedule(start=job.start_at, end=job.end_at, max_runs=job.max_runs, repeat=repeat)


def pending_run(job_id: str, run_type: str, requested_at: datetime) -> RunRecord:
    return RunRecord(
        id=new_run_id(),
        job_id=job_id,
        run_type=run_type,
        status=PENDING,
        requested_at=requested_at,
        started_at=None,
        finished_at=None,
        claimed_by=None,
        lease_until=None,
        stop_requested=False,
        exhausted=False,
        last_key=None,
        rows_done=0,
        chunk_seq=0,
        error_message=None,
    )


def end_run(store: JobStore, run: RunRecord, status: str, now: datetime, error: str | None = None) -> None:
    """Record the run's final status; a scheduled run counts towards ``runCount``."""
    store.delete_chunks(run.id)
    store.update_run(
        run.id,
        status=status,
        finished_at=now,
        started_at=run.started_at or now,
        claimed_by=None,
        lease_until=None,
        error_message=None if error is None else error[:4000],
    )
    if run.run_type == SCHEDULED:
        job = store.get(run.job_id)
        if job is not None:
            store.update(run.job_id, run_count=job.run_count + 1)


def new_job(
    job_id: str,
    owner: str,
    *,
    name: str,
    job_type: str,
    model_id: str,
    service_level: str | None,
    properties_json: str,
    enabled: bool,
    schedule: Schedule,
    now: datetime,
) -> JobRecord:
    """The row of a job just submitted, of any type: created, never run, its first run scheduled."""
    return JobRecord(
        id=job_id,
        name=name,
        job_type=job_type,
        owner=owner,
        model_id=model_id,
        service_level=service_level,
        properties_json=properties_json,
        job_status=CREATED,
        enabled=enabled,
        start_at=schedule.start,
        end_at=schedule.end,
        max_runs=schedule.max_runs,
        repeat_interval=None if schedule.repeat is None else schedule.repeat.text,
        next_run_at=schedule.next_run(now, now, 0),
        run_count=0,
        scheduled_runs=0,
        submitted_at=now,
        updated_at=now,
    )
