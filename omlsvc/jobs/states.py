"""The words of a job's life that the jobs package and its views share: run statuses, run types and
the flags a job listing filters on. Plain constants, so a view reads them without importing a store."""

from __future__ import annotations

#: ``job_runs.status`` values; PENDING and RUNNING are "active": a job has at most one active run.
PENDING = "PENDING"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
STOPPED = "STOPPED"
ACTIVE = (PENDING, RUNNING)
#: ``job_runs.run_type``: made by our scheduler, by the RUN action, or by the database's scheduler.
SCHEDULED = "SCHEDULED"
MANUAL = "MANUAL"
EXTERNAL = "EXTERNAL"
#: Flags this service computes; an unknown flag in a filter simply matches nothing.
MODEL_DELETED = "MODEL_DELETED"
