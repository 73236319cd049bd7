"""A task as the tasks capability reads and writes it, and its states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

QUEUED = "QUEUED"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELED = "CANCELED"
#: A task in one of these is done; nothing changes it any more.
FINISHED = (SUCCEEDED, FAILED, CANCELED)

IMPORT = "IMPORT"
VARIANT = "VARIANT"
PROFILE = "PROFILE"
KINDS = (IMPORT, VARIANT, PROFILE)


@dataclass(frozen=True)
class TaskRecord:
    """One task. ``params`` and ``result`` are JSON text; ``model_id`` is the source model of a variant
    or a profile, the model an import stores."""

    id: str
    kind: str
    owner: str
    model_id: str | None
    status: str
    progress: float
    message: str | None
    params: str
    result: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    claimed_by: str | None
    lease_until: datetime | None
    attempts: int
    cancel_requested: bool

    @property
    def finished(self) -> bool:
        return self.status in FINISHED
