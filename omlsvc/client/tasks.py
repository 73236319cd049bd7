"""``client.tasks``: the service's long operations (URL import, variants, profiles), polled by id.

Each starts with a ``202 Accepted`` whose ``Location`` (and body, when it has one) names the task;
``GET /omlmod/v1/tasks/{taskId}`` reports ``status`` (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED),
``progress`` (0 to 1), a ``message`` and, when done, a ``result``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import requests

from omlsvc.client.errors import ClientError, TaskFailedError
from omlsvc.client.transport import Http, segment

TASKS = "/omlmod/v1/tasks"
DONE = frozenset({"SUCCEEDED", "FAILED", "CANCELED"})


@dataclass(frozen=True)
class Task:
    """One state of a long operation, as the service reported it."""

    task_id: str
    kind: str | None = None
    status: str = "QUEUED"
    progress: float | None = None
    message: str | None = None
    result: Any = None
    links: list[dict[str, str]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status in DONE

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Task:
        return cls(
            task_id=str(body["taskId"]),
            kind=body.get("kind"),
            status=str(body.get("status", "QUEUED")),
            progress=body.get("progress"),
            message=body.get("message"),
            result=body.get("result"),
            links=list(body.get("links") or []),
        )


#: ``progress=`` of :meth:`Tasks.wait`: True for a line on stderr, or a function of each state seen.
TaskProgress = bool | Callable[[Task], None]


class Tasks:
    def __init__(self, http: Http) -> None:
        self._http = http

    def get(self, task_id: str) -> Task:
        return Task.from_json(self._http.json("GET", f"{TASKS}/{segment(task_id)}"))

    def cancel(self, task_id: str) -> Task | None:
        """Ask the service to stop a queued or running task; its state when the service sends it."""
        answer = self._http.json("DELETE", f"{TASKS}/{segment(task_id)}")
        return Task.from_json(answer) if isinstance(answer, Mapping) and "taskId" in answer else None

    def wait(
        self,
        task_id: str,
        *,
        timeout_s: float | None = None,
        poll_s: float = 0.5,
        progress: TaskProgress = False,
        raise_on_failure: bool = True,
    ) -> Task:
        """Poll until the task is done; its last state. A FAILED or CANCELED task raises
        :class:`TaskFailedError` unless ``raise_on_failure`` is False."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        report = _reporter(progress)
        while True:
            task = self.get(task_id)
            report(task)
            if task.done:
                if raise_on_failure and task.status != "SUCCEEDED":
                    raise TaskFailedError(task)
                return task
            if deadline is not None and time.monotonic() >= deadline:
                raise ClientError(f"task {task_id} is still {task.status} after {timeout_s} s.")
            time.sleep(poll_s)

    def started(self, response: requests.Response) -> Task:
        """The task a 202 answer started: from its body, else from its ``Location``."""
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = None
        if isinstance(body, Mapping) and "taskId" in body:
            return Task.from_json(body)
        location = response.headers.get("Location", "")
        if "/tasks/" not in location:
            raise ClientError(f"The service started no task (answered {response.status_code}).")
        return Task(task_id=location.rstrip("/").rsplit("/", 1)[1].split("?", 1)[0])


def _reporter(progress: TaskProgress, out: TextIO = sys.stderr) -> Callable[[Task], None]:
    if callable(progress):
        return progress
    if not progress:
        return lambda task: None

    def line(task: Task) -> None:
        share = "" if task.progress is None else f" {100 * float(task.progress):.0f}%"
        end = "\n" if task.done else ""
        out.write(f"\rtask {task.task_id} {task.status}{share} {task.message or ''}"[:200] + end)
        out.flush()

    return line
