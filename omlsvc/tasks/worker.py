"""The task step of the job runners: take one queued task (or one whose runner died), run it, end it.

Tasks ride on the runner machinery the jobs use (:class:`omlsvc.jobs.runner.Runner` calls
:meth:`TaskWorker.work_once` each round): the same threads in ``omlsvc serve``, the same ``omlsvc
jobs worker`` processes, the same lease rule. Taking a task leases it to this runner for ``lease_s``;
a heartbeat thread renews the lease while the task runs, so a long download or profile keeps it, and
a killed runner stops renewing: once its lease has run out another runner takes the task over and
starts it again from the beginning. Every step of a task is safe to repeat (an import or a variant
stores its model under an id chosen when the task was queued, and a model already stored under it
means that step is done), and a task that killed ``max_attempts`` runners is given up.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from omlsvc.core.clock import utcnow
from omlsvc.core.errors import OmlError
from omlsvc.db.transactions import Transactions
from omlsvc.tasks.records import CANCELED, FAILED, RUNNING, SUCCEEDED, TaskRecord
from omlsvc.tasks.store import TaskStore

log = logging.getLogger("omlsvc.tasks")

DEFAULT_LEASE_S = 120.0
DEFAULT_MAX_ATTEMPTS = 3


class TaskCanceled(Exception):
    """Raised inside a task when its submitter canceled it (or its lease was taken over)."""


@dataclass(frozen=True)
class Outcome:
    """What a successful task reports: a sentence and its result document."""

    message: str
    result: dict[str, Any] = field(default_factory=dict)


class Progress(Protocol):
    def __call__(self, fraction: float, message: str | None = None) -> None:
        """Record how far the task is (0-1); raises :class:`TaskCanceled` when it should stop."""
        ...


Handler = Callable[[TaskRecord, Progress], Outcome]


class TaskWorker:
    def __init__(
        self,
        transactions: Transactions,
        handlers: Mapping[str, Handler],
        runner_id: str,
        *,
        lease_s: float = DEFAULT_LEASE_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._transactions = transactions
        self._handlers = handlers
        self.runner_id = runner_id
        self._lease = timedelta(seconds=lease_s)
        self._max_attempts = max_attempts
        self._clock = clock

    def work_once(self) -> bool:
        """Run one task to its end; False when there was none to take."""
        now = self._clock()
        with self._transactions() as uow:
            if not TaskStore(uow.connection).has_work(now):
                return False
        task = self._take(now)
        if task is None:
            return False
        if task.status == RUNNING:
            self._run(task)
        return True

    def _take(self, now: datetime) -> TaskRecord | None:
        with self._transactions(write=True) as uow:
            store = TaskStore(uow.connection)
            task = store.lock_next(now)
            if task is None:
                return None
            if task.cancel_requested:
                store.update(
                    task.id,
                    status=CANCELED,
                    finished_at=now,
                    claimed_by=None,
                    lease_until=None,
                    message="Canceled.",
                )
            elif task.attempts >= self._max_attempts:
                store.update(
                    task.id,
                    status=FAILED,
                    finished_at=now,
                    claimed_by=None,
                    lease_until=None,
                    message=f"Runners stopped {task.attempts} times while working on this task "
                    f"(last: {task.claimed_by}); it was given up.",
                )
            else:
                if task.status == RUNNING:
                    log.info("runner %s took over task %s from %s", self.runner_id, task.id, task.claimed_by)
                store.update(
                    task.id,
                    status=RUNNING,
                    claimed_by=self.runner_id,
                    lease_until=now + self._lease,
                    attempts=task.attempts + 1,
                    started_at=task.started_at or now,
                    progress=0.0,
                    message="Running."
                    if task.attempts == 0
                    else "Running again: the previous runner stopped.",
                )
            uow.commit()
            return store.get(task.id)

    def _run(self, task: TaskRecord) -> None:
        stop = threading.Event()
        heartbeat = threading.Thread(target=self._renew, args=(task.id, stop), daemon=True)
        heartbeat.start()
        try:
            outcome = self._handlers[task.kind](task, lambda f, m=None: self._progress(task.id, f, m))
        except TaskCanceled:
            self._end(task.id, CANCELED, "Canceled.")
        except OmlError as exc:
            result = {"code": exc.code, "details": list(exc.details)} if exc.details else {"code": exc.code}
            self._end(task.id, FAILED, exc.message, result)
        except Exception as exc:
            where = "".join(traceback.format_tb(exc.__traceback__))
            log.error("task %s: unexpected %s\n%s", task.id, type(exc).__name__, where)
            self._end(task.id, FAILED, f"The task failed unexpectedly ({type(exc).__name__}).")
        else:
            self._end(task.id, SUCCEEDED, outcome.message, outcome.result)
        finally:
            stop.set()
            heartbeat.join()

    def _progress(self, task_id: str, fraction: float, message: str | None) -> None:
        values: dict[str, object] = {"progress": max(0.0, min(1.0, fraction))}
        if message:
            values["message"] = message[:4000]
        with self._transactions(write=True) as uow:
            store = TaskStore(uow.connection)
            current = store.get(task_id)
            if current is None or current.cancel_requested or current.claimed_by != self.runner_id:
                raise TaskCanceled()
            store.update_claimed(task_id, self.runner_id, **values)
            uow.commit()

    def _renew(self, task_id: str, stop: threading.Event) -> None:
        interval = max(0.2, self._lease.total_seconds() / 3)
        while not stop.wait(interval):
            try:
                with self._transactions(write=True) as uow:
                    TaskStore(uow.connection).update_claimed(
                        task_id, self.runner_id, lease_until=self._clock() + self._lease
                    )
                    uow.commit()
            except OmlError as exc:  # the database is away: the lease may lapse, the task is redone
                log.warning("task %s: renewing the lease failed: %s", task_id, exc.message)

    def _end(self, task_id: str, status: str, message: str, result: dict[str, Any] | None = None) -> None:
        values: dict[str, object] = {
            "status": status,
            "message": message[:4000],
            "result": None if result is None else json.dumps(result, sort_keys=True),
            "finished_at": self._clock(),
            "claimed_by": None,
            "lease_until": None,
        }
        if status == SUCCEEDED:
            values["progress"] = 1.0
        with self._transactions(write=True) as uow:
            done = TaskStore(uow.connection).update_claimed(task_id, self.runner_id, **values)
            if done:
                uow.commit()
        if not done:
            log.warning("task %s: runner %s lost it before it ended", task_id, self.runner_id)
