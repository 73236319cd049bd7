"""One test stops the shared PostgreSQL server; no other test may use it meanwhile.

The suite runs in several pytest-xdist processes, and several engineers may run it at once on one
host, all against one PostgreSQL server. The outage test (marked ``postgres_outage``) takes an
exclusive lock; every other test takes a shared one for its duration (an autouse fixture in
``tests/conftest.py``), as do the session fixtures that create and drop the per-process schemas. So
while the server is down nothing else talks to it, and the outage costs the others only the time
they wait. The lock files live in the host's temporary directory (not a run's own), so concurrent
runs are covered too; runs on other hosts sharing the server are not.

A plain reader-writer ``flock`` would let readers starve the writer (a shared lock is granted while
another shared lock is held, even with an exclusive request waiting), so a second lock file acts as
a turnstile: readers pass through it, the writer holds it while it waits, which stops new readers.
"""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MARKER = "postgres_outage"


def lock_directory(tmp_path_factory: pytest.TempPathFactory | None = None) -> Path:
    """Where every pytest run on this host finds the locks (the argument is kept for fixtures)."""
    directory = Path(tempfile.gettempdir()) / "omlsvc-test-locks"
    directory.mkdir(mode=0o777, exist_ok=True)
    return directory


#: How deep this process already holds the lock: nested holds (a session fixture first requested
#: from inside a test) must not queue behind a waiting writer that waits for this very process.
_depth = 0


@contextmanager
def postgres_in_use(directory: Path, *, exclusive: bool = False) -> Iterator[None]:
    """Hold the server: shared by default, exclusively for the test that stops it."""
    global _depth
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    with (
        (directory / "omlsvc-postgres.turnstile").open("a") as turnstile,
        (directory / "omlsvc-postgres.lock").open("a") as lock,
    ):
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            if not exclusive:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        _depth = 1
        try:
            yield
        finally:
            _depth = 0
            fcntl.flock(lock, fcntl.LOCK_UN)
            if exclusive:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
