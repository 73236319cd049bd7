"""The JSON shapes of jobs and runs (spec sections 4 and 6): pure functions from records to dicts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from omlsvc.jobs.records import RunRecord
from omlsvc.jobs.service import JobDetails
from omlsvc.jobs.states import MODEL_DELETED, RUNNING
from omlsvc.rest.model_views import iso_timestamp

#: ``state`` values (the DBMS_SCHEDULER words; COMPLETED: the schedule has no run left).
SCHEDULED_STATE = "SCHEDULED"
RUNNING_STATE = "RUNNING"
DISABLED_STATE = "DISABLED"
COMPLETED_STATE = "COMPLETED"


def micro_timestamp(moment: datetime) -> str:
    """``dateSubmitted`` as OML writes it: microsecond precision."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else iso_timestamp(moment)


def job_state(details: JobDetails) -> str:
    job, active = details.job, details.active_run
    if active is not None and active.status == RUNNING:
        return RUNNING_STATE
    if not job.enabled:
        return DISABLED_STATE
    if job.next_run_at is None and active is None:
        return COMPLETED_STATE
    return SCHEDULED_STATE


def duration(run: RunRecord) -> str | None:
    """``D H:M:S.F`` like the Oracle interval OML prints (``0 0:0:1.2``), or None until the run ends."""
    if run.started_at is None or run.finished_at is None:
        return None
    total = max(0.0, (run.finished_at - run.started_at).total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{seconds:.3f}".rstrip("0")
    if text.endswith("."):
        text += "0"
    return f"{int(days)} {int(hours)}:{int(minutes)}:{text}"


def run_view(run: RunRecord) -> dict[str, Any]:
    """A ``JobRunDetail``; ``rowsScored`` is our extension (progress of a run in flight)."""
    return {
        "jobRunStatus": run.status,
        "errorMessage": run.error_message,
        "requestedStartDate": _stamp(run.requested_at),
        "actualStartDate": _stamp(run.started_at),
        "duration": duration(run),
        "rowsScored": run.rows_done,
    }


def job_view(details: JobDetails, links: list[dict[str, str]]) -> dict[str, Any]:
    job = details.job
    view: dict[str, Any] = {
        "jobId": job.id,
        "jobRequest": {
            "jobSchedule": details.schedule.to_json(),
            "jobProperties": details.properties.to_json(),
        },
        "jobStatus": job.job_status,
        "dateSubmitted": micro_timestamp(job.submitted_at),
        "dateLastUpdated": micro_timestamp(job.updated_at),
        "links": links,
        "jobFlags": [MODEL_DELETED] if job.model_deleted else [],
        "state": job_state(details),
        "enabled": job.enabled,
        "runCount": job.run_count,
        "nextRunDate": _stamp(job.next_run_at) if job.enabled else None,
    }
    last = details.last_run
    if last is not None:
        view["lastStartDate"] = _stamp(last.started_at)
        view["lastRunStatus"] = last.status
        detail = run_view(last)
        detail.pop("rowsScored")
        view["lastRunDetail"] = detail
    return view
