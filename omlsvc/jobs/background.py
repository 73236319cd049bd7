"""The in-process runner of ``omlsvc serve``: a daemon thread per gunicorn worker, of which (with
SQLite) only the one holding a lock file in the data directory works, the others waiting their turn."""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from omlsvc.config import Settings
from omlsvc.jobs.options import RunnerOptions, options_from, runs_in_process
from omlsvc.jobs.runner import Runner

LOCK_FILE = "job-runner.lock"


def start_background_runner(
    make_runner: Callable[[], Runner], options: RunnerOptions, lock_dir: Path | None = None
) -> threading.Event:
    """Run a runner in a daemon thread of this process; returns the event that stops it.

    With SQLite (``lock_dir`` given) only one process per data directory runs it: every gunicorn
    worker starts the thread, and the one holding the lock file works while the others wait for it.
    """
    stop = threading.Event()

    def main() -> None:
        holder = _LockFile(lock_dir / LOCK_FILE) if lock_dir is not None else None
        try:
            while holder is not None and not holder.acquire():
                if stop.wait(max(options.poll_s, 1.0) * 5):
                    return
            make_runner().run_forever(stop)
        finally:
            if holder is not None:
                holder.release()

    threading.Thread(target=main, name="omlsvc-job-runner", daemon=True).start()
    return stop


def start_job_runner(
    settings: Settings, build_runner: Callable[[RunnerOptions], Runner]
) -> threading.Event | None:
    """Start this process's background runner if ``OMLSVC_JOB_RUNNER`` (or its default) asks for one;
    ``build_runner`` makes it (in its thread) from the options the settings give."""
    if not runs_in_process(settings.database_url, settings.job_runner):
        return None
    options = options_from(settings)
    sqlite = make_url(settings.database_url).get_backend_name() == "sqlite"
    return start_background_runner(
        lambda: build_runner(options), options, settings.data_dir if sqlite else None
    )


class _LockFile:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._handle: Any = None

    def acquire(self) -> bool:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = self._path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handle = handle
        return True

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
