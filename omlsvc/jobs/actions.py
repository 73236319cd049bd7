"""Actions on a job (spec ``oml-jobs.md``): ENABLE, DISABLE, RUN now, STOP the run in progress.

Each is one transaction that locks the job's row, so two callers acting at once see each other's
result; STOP also locks the run, which a runner may be starting at that very moment.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from omlsvc.core.authorization import Principal
from omlsvc.core.errors import Conflict, InvalidInput
from omlsvc.db.transactions import Transactions
from omlsvc.jobs import lifecycle
from omlsvc.jobs.records import JobRecord, RunRecord
from omlsvc.jobs.states import MANUAL, PENDING, RUNNING, STOPPED
from omlsvc.jobs.store import JobStore

ACTIONS = ("ENABLE", "DISABLE", "RUN", "STOP")

log = logging.getLogger("omlsvc.jobs")


def act(
    transactions: Transactions,
    clock: Callable[[], datetime],
    principal: Principal,
    job_id: str,
    action: object,
    force: object = False,
) -> None:
    """ENABLE, DISABLE (``force``: even while a run is in progress), RUN now, or STOP the run, for a
    caller already known to be signed in; a job they may not manage does not exist (NotFound)."""
    if not isinstance(action, str) or action.upper() not in ACTIONS:
        raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}.")
    step = _STEPS[action.upper()]
    forced = _flag(force, "force")
    now = clock()
    with transactions(write=True) as uow:
        store = JobStore(uow.connection)
        job = lifecycle.owned_job(store.get(job_id, for_update=True), principal, job_id)
        step(store, job, store.active_run(job_id), forced, now)
        uow.commit()


def _enable(store: JobStore, job: JobRecord, active: RunRecord | None, forced: bool, now: datetime) -> None:
    if not job.enabled:
        schedule = lifecycle.schedule_of(job)
        store.update(
            job.id,
            enabled=True,
            run_count=0,
            scheduled_runs=0,
            next_run_at=schedule.next_run(job.submitted_at, now, 0),
            updated_at=now,
        )


def _disable(store: JobStore, job: JobRecord, active: RunRecord | None, forced: bool, now: datetime) -> None:
    if job.enabled:
        if active is not None and not forced:
            raise Conflict(f"Job {job.id} has a run in progress; DISABLE with force=true to let it finish.")
        store.update(job.id, enabled=False, updated_at=now)


def _run(store: JobStore, job: JobRecord, active: RunRecord | None, forced: bool, now: datetime) -> None:
    if active is not None:
        raise Conflict(f"Job {job.id} already has a run in progress.")
    schedule = lifecycle.schedule_of(job)
    if schedule.max_runs is not None and job.scheduled_runs >= schedule.max_runs:
        raise Conflict(f"Job {job.id} has reached maxRuns ({schedule.max_runs}).")
    if schedule.ended(now):
        raise Conflict(f"Job {job.id} ended at its jobEndDate.")
    pending = lifecycle.pending_run(job.id, MANUAL, now)
    store.add_run(pending)
    log.info("run %s of job %s requested", pending.id, job.id, extra={"job_id": job.id, "run_id": pending.id})


def _stop(store: JobStore, job: JobRecord, active: RunRecord | None, forced: bool, now: datetime) -> None:
    # lock the run and read it again: a runner may be starting it at this very moment
    run = None if active is None else store.get_run(active.id, for_update=True)
    if run is None or run.status not in (PENDING, RUNNING):
        raise Conflict(f"Job {job.id} has no run in progress.")
    store.update_run(run.id, stop_requested=True)
    if run.status == PENDING:
        lifecycle.end_run(store, run, STOPPED, now)


#: What each action does, in the transaction that holds the job's row (and its run in progress).
_STEPS: dict[str, Callable[[JobStore, JobRecord, RunRecord | None, bool, datetime], None]] = {
    "ENABLE": _enable,
    "DISABLE": _disable,
    "RUN": _run,
    "STOP": _stop,
}


def _flag(value: object, name: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidInput(f"{name} must be true or false.")
