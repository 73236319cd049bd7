"""Rows of ``tasks``: the only SQL over the task table.

Locking follows the job store's contract: a runner looking for work selects ``FOR UPDATE SKIP
LOCKED`` (PostgreSQL, Oracle; SQLite serialises writers), so two runners never take the same task;
every write a runner makes while working is guarded by ``claimed_by``, so a runner whose lease was
taken over can no longer change the task.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, exists, insert, or_, select, update

from omlsvc.db.schema import tasks
from omlsvc.tasks.records import PROFILE, QUEUED, RUNNING, SUCCEEDED, TaskRecord

_COLUMNS = tuple(tasks.c[name] for name in TaskRecord.__dataclass_fields__)


def _record(row: Row[Any]) -> TaskRecord:
    return TaskRecord(*row)  # type: ignore[call-arg]


class TaskStore:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, record: TaskRecord) -> None:
        self._connection.execute(insert(tasks).values(**record.__dict__))

    def get(self, task_id: str, *, for_update: bool = False) -> TaskRecord | None:
        query = select(*_COLUMNS).where(tasks.c.id == task_id)
        if for_update:
            query = query.with_for_update()
        row = self._connection.execute(query).one_or_none()
        return None if row is None else _record(row)

    def update(self, task_id: str, **values: object) -> None:
        self._connection.execute(update(tasks).where(tasks.c.id == task_id).values(**values))

    def update_claimed(self, task_id: str, runner_id: str, **values: object) -> bool:
        """Change a task only while ``runner_id`` still holds it; False when it does not."""
        result = self._connection.execute(
            update(tasks)
            .where(tasks.c.id == task_id, tasks.c.claimed_by == runner_id, tasks.c.status == RUNNING)
            .values(**values)
        )
        return result.rowcount == 1

    def _claimable(self, now: datetime) -> Any:
        return or_(
            tasks.c.status == QUEUED,
            and_(tasks.c.status == RUNNING, tasks.c.lease_until < now),
        )

    def has_work(self, now: datetime) -> bool:
        """A queued task, or a running one whose runner's lease ran out: one cheap read."""
        return bool(self._connection.execute(select(exists().where(self._claimable(now)))).scalar())

    def has_running(self) -> bool:
        return bool(self._connection.execute(select(exists().where(tasks.c.status == RUNNING))).scalar())

    def lock_next(self, now: datetime) -> TaskRecord | None:
        """The oldest claimable task no other runner is taking, locked."""
        query: Select[Any] = select(tasks.c.id).where(self._claimable(now)).order_by(tasks.c.created_at)
        if self._connection.dialect.name == "oracle":
            result = self._connection.execute(
                query.with_for_update(skip_locked=True).execution_options(yield_per=1)
            )
            rows = list(result.fetchmany(1))
            result.close()
        else:
            rows = list(self._connection.execute(query.limit(1).with_for_update(skip_locked=True)))
        return self.get(rows[0][0]) if rows else None

    def profiles(self, model_id: str, limit: int) -> list[TaskRecord]:
        """The model's completed profiles, newest first."""
        query = (
            select(*_COLUMNS)
            .where(tasks.c.model_id == model_id, tasks.c.kind == PROFILE, tasks.c.status == SUCCEEDED)
            .order_by(tasks.c.finished_at.desc())
            .limit(limit)
        )
        return [_record(row) for row in self._connection.execute(query)]
