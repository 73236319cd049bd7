"""``client.jobs``: batch scoring jobs (``/omlmod/v1/jobs``) and their runs.

Job ids hold a ``$`` (``OML$...``); it is escaped in paths as the service's own links do.
"""

from __future__ import annotations

import builtins
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TextIO

from omlsvc.client.errors import ClientError
from omlsvc.client.transport import Http, segment

JOBS = "/omlmod/v1/jobs"
ACTIVE = frozenset({"PENDING", "RUNNING"})

#: ``progress=`` of :meth:`Jobs.wait`: True for a line on stderr, or a function of each run state seen.
RunProgress = bool | Callable[[dict[str, Any]], None]


class Jobs:
    def __init__(self, http: Http) -> None:
        self._http = http

    def create(self, properties: Mapping[str, Any], schedule: Mapping[str, Any] | None = None) -> str:
        """Submit a job; returns its ``jobId``. ``properties`` is ``jobProperties`` (or a whole request
        body holding ``jobProperties`` and ``jobSchedule``), ``schedule`` the ``jobSchedule``."""
        body = dict(properties) if "jobProperties" in properties else {"jobProperties": dict(properties)}
        if schedule is not None:
            body["jobSchedule"] = dict(schedule)
        return str(self._http.json("POST", JOBS, json_body=body)["jobId"])

    def list(
        self,
        *,
        name: str | None = None,
        status: str | None = None,
        model_id: str | None = None,
        page_size: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Every job the caller may see, page after page."""
        params = {"jobName": name, "jobStatus": status, "modelId": model_id}
        return self._http.pages(JOBS, params, page_size)

    def get(self, job_id: str) -> dict[str, Any]:
        return dict(self._http.json("GET", f"{JOBS}/{segment(job_id)}"))

    def update(self, job_id: str, schedule: Mapping[str, Any]) -> None:
        """Reschedule a job."""
        self._http.call("POST", f"{JOBS}/{segment(job_id)}", json_body={"jobSchedule": dict(schedule)})

    def act(self, job_id: str, action: str, *, force: bool = False) -> None:
        """``RUN``, ``STOP``, ``ENABLE`` or ``DISABLE``."""
        body: dict[str, Any] = {"action": action}
        if force:
            body["force"] = True
        self._http.call("POST", f"{JOBS}/{segment(job_id)}/action", json_body=body)

    def run(self, job_id: str, *, wait: bool = False, progress: RunProgress = False) -> dict[str, Any] | None:
        """Start a run now; with ``wait``, its end state (see :meth:`wait`)."""
        self.act(job_id, "RUN")
        return self.wait(job_id, progress=progress) if wait else None

    def stop(self, job_id: str) -> None:
        self.act(job_id, "STOP")

    def runs(self, job_id: str, limit: int | None = None) -> builtins.list[dict[str, Any]]:
        """The job's runs, newest first."""
        return list(self._http.json("GET", f"{JOBS}/{segment(job_id)}/runs", params={"limit": limit}))

    def wait(
        self,
        job_id: str,
        *,
        timeout_s: float | None = None,
        poll_s: float = 0.5,
        progress: RunProgress = False,
    ) -> dict[str, Any]:
        """Poll until the job's newest run is no longer PENDING or RUNNING; that run
        (``jobRunStatus``, ``rowsScored``, ``errorMessage``). ``progress=True`` writes the rows scored
        so far on stderr."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        report = _reporter(progress)
        while True:
            runs = self.runs(job_id, 1)
            if runs:
                report(runs[0])
                if runs[0].get("jobRunStatus") not in ACTIVE:
                    return runs[0]
            if deadline is not None and time.monotonic() >= deadline:
                state = runs[0].get("jobRunStatus") if runs else "without a run"
                raise ClientError(f"job {job_id} is still {state} after {timeout_s} s.")
            time.sleep(poll_s)

    def delete(self, job_id: str, *, drop_output: bool = False) -> None:
        """Remove a job (and, with ``drop_output``, its output table)."""
        params = {"dropOutputTable": "true"} if drop_output else None
        self._http.call("DELETE", f"{JOBS}/{segment(job_id)}", params=params)


def _reporter(progress: RunProgress, out: TextIO = sys.stderr) -> Callable[[dict[str, Any]], None]:
    if callable(progress):
        return progress
    if not progress:
        return lambda run: None

    def line(run: dict[str, Any]) -> None:
        status = run.get("jobRunStatus")
        end = "" if status in ACTIVE else "\n"
        out.write(f"\r{status}: {run.get('rowsScored') or 0} rows scored" + end)
        out.flush()

    return line
