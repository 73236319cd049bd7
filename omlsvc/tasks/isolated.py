"""Running a task's heavy step (a conversion, a profile) in a child process.

The same arrangement as upload validation (:mod:`omlsvc.repository.isolation`): a fresh child of a
forkserver per call, under ``RLIMIT_CPU`` and ``RLIMIT_AS``, dying with its parent; a crash or a
runaway costs the child, never the worker that runs the task. The child's errors come back as the
domain errors they are (their ``details`` kept).
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from omlsvc.core.errors import InvalidInput
from omlsvc.repository.isolation import FORKSERVER_PRELOAD, limit_child

T = TypeVar("T")

#: How often a long child is asked whether it is still wanted (a canceled task's child then stops).
POLL_S = 1.0


def run_isolated(
    function: Callable[..., T],
    *args: Any,
    timeout_s: float,
    cpu_s: int,
    memory_bytes: int,
    what: str,
    still_wanted: Callable[[], None] | None = None,
) -> T:
    """``function(*args)`` in a child; :class:`InvalidInput` naming ``what`` when the child dies or
    runs past ``timeout_s``. ``still_wanted`` is called about once a second while the child works;
    whatever it raises (a task's cancellation) kills the child and is raised from here."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(FORKSERVER_PRELOAD)
    pool = ProcessPoolExecutor(
        1, mp_context=context, max_tasks_per_child=1, initializer=limit_child, initargs=(cpu_s, memory_bytes)
    )
    killed = False
    try:
        future = pool.submit(function, *args)
        children = list(getattr(pool, "_processes", {}).values())
        try:
            return _wait(future, timeout_s, still_wanted)
        except BrokenProcessPool:
            codes = set()
            for child in children:
                child.join(timeout=1)
                if child.exitcode is not None and child.exitcode < 0:
                    codes.add(-child.exitcode)
            if codes & {signal.SIGXCPU, signal.SIGKILL}:
                raise InvalidInput(f"{what} used more than {cpu_s} s of CPU time.") from None
            raise InvalidInput(f"{what} crashed its process.") from None
        except TimeoutError:
            killed = True
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
            raise InvalidInput(f"{what} took longer than {timeout_s:.0f} s.") from None
        except _Unwanted as unwanted:  # the caller no longer wants the answer: the child goes too
            killed = True
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
            raise unwanted.reason from None
    finally:
        pool.shutdown(wait=not killed, cancel_futures=True)


class _Unwanted(Exception):
    """What ``still_wanted`` raised, told apart from the child's own errors (which come back as the
    future's result and leave the pool to shut down normally)."""

    def __init__(self, reason: BaseException) -> None:
        super().__init__(repr(reason))
        self.reason = reason


def _wait(future: Future[T], timeout_s: float, still_wanted: Callable[[], None] | None) -> T:
    if still_wanted is None:
        return future.result(timeout=timeout_s)
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        try:
            return future.result(timeout=min(POLL_S, left))
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise
            try:
                still_wanted()
            except BaseException as exc:
                raise _Unwanted(exc) from exc
