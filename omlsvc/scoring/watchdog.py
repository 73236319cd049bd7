"""Time limits for model runs: one watchdog thread per worker ends runs that pass their deadline.

onnxruntime checks ``RunOptions.terminate`` between the nodes it executes (inside a Loop's body too),
so setting it from another thread ends a run that takes too long: ``session.run`` then raises, the
calling thread is free again, and :meth:`RunWatchdog.run` turns that into :class:`ScoringTimeout`.

A thread per run would double the threads of a busy worker; instead every run puts its deadline in
one heap and a single daemon thread sleeps until the earliest one. The thread starts on first use,
so never in gunicorn's master (a thread does not survive a fork), and again in a forked child.

A run wakes the thread only when its deadline comes before the thread's next look at the heap
(issue 20). Most runs end long before their deadline. The thread used to pop each finished run, find
the heap empty and wait without a deadline, so the next run had to wake it: a thread handoff per
run. Timed on the bench's tabular model at batch 1, that handoff cost about 20 us of CPU per run,
and the slowest tenth of model runs took twice as long. Now, once the heap is empty, the thread
looks again after ``IDLE_LOOK_S``; runs pushed meanwhile (whose deadlines are later) leave it
asleep, and it waits without a deadline only after a whole ``IDLE_LOOK_S`` in which no run came.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import onnxruntime as ort

from omlsvc.core.errors import ScoringTimeout

T = TypeVar("T")

DEFAULT_SCORE_TIMEOUT_S = 30.0


#: Run options a worker keeps for reuse (about the runs it has in flight at once).
MAX_SPARE_OPTIONS = 64
#: Seconds the thread waits, its heap empty, before it looks again (see the module docstring).
IDLE_LOOK_S = 1.0
_NEVER = float("inf")


class _Run:
    __slots__ = ("deadline", "done", "options", "terminated")

    def __init__(self, deadline: float, options: ort.RunOptions) -> None:
        self.deadline = deadline
        self.options = options
        self.done = False
        self.terminated = False


class RunWatchdog:
    """Ends onnxruntime runs at their deadline; thread-safe, one per worker.

    ``options_factory`` makes the ``RunOptions`` of each run (a fresh object per run: terminating
    one run must not end another); ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        options_factory: Callable[[], ort.RunOptions] = ort.RunOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._options_factory = options_factory
        self._clock = clock
        self._heap: list[tuple[float, int, _Run]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._owner_pid: int | None = None
        self._finished = 0  # entries of finished runs still in the heap
        #: when the thread looks at the heap next (never: it waits to be woken); no pending run's
        #: deadline comes before it, which is what lets a run leave the thread asleep.
        self._looks_at = _NEVER
        self._pushed = 0  # runs pushed so far: an idle thread parks only after a look without any
        #: options of finished runs that were not terminated, reused: making one costs more than
        #: the rest of a small model's run (issue 20's hot path).
        self._spare: list[ort.RunOptions] = []

    def run(self, timeout_s: float, call: Callable[[ort.RunOptions], T], *, what: str = "the model run") -> T:
        """``call(run_options)`` with ``run_options.terminate`` set once ``timeout_s`` seconds pass.

        Raises :class:`ScoringTimeout` when the watchdog ended the run; any other outcome (result or
        exception) passes through unchanged.
        """
        return self.run_until(self._clock() + timeout_s, call, what=what, limit_s=timeout_s)

    def run_until(
        self,
        deadline: float,
        call: Callable[[ort.RunOptions], T],
        *,
        what: str = "the model run",
        limit_s: float | None = None,
    ) -> T:
        """As :meth:`run`, against an absolute deadline on the watchdog's clock (several runs of one
        request, such as the chunks of a fixed-batch model, share one deadline)."""
        if deadline <= self._clock():
            raise self._timeout(what, limit_s)
        with self._wake:  # most runs take spare options and are watched under one acquisition
            run = _Run(deadline, self._spare.pop()) if self._spare else None
            if run is not None:
                self._push(run)
        if run is None:
            run = _Run(deadline, self._options_factory())
            self._watch(run)
        try:
            result = call(run.options)
        except Exception:
            if run.terminated:
                raise self._timeout(what, limit_s) from None
            raise
        finally:
            self._finish(run)
        if run.terminated:  # ended right after its last node: the result is complete, keep it
            run.terminated = False
        return result

    def pending(self) -> int:
        """Runs being watched (finished ones still in the heap are not counted)."""
        with self._wake:
            return sum(1 for _, _, run in self._heap if not run.done)

    @staticmethod
    def _timeout(what: str, limit_s: float | None) -> ScoringTimeout:
        limit = f" of {limit_s:g} s" if limit_s is not None else ""
        return ScoringTimeout(f"{what} was stopped at its time limit{limit}.")

    def _watch(self, run: _Run) -> None:
        with self._wake:
            self._push(run)

    def _push(self, run: _Run) -> None:
        """Put ``run`` in the heap (the caller holds ``_wake``), waking the thread only when the run's
        deadline comes before the thread's next look."""
        self._start_thread()
        heapq.heappush(self._heap, (run.deadline, next(self._order), run))
        self._pushed += 1
        if run.deadline < self._looks_at:
            self._looks_at = run.deadline  # later runs need not wake it again before it runs
            self._wake.notify()

    def _finish(self, run: _Run) -> None:
        """Mark a run finished; its heap entry goes when it reaches the top, or when finished entries
        make up half the heap (so a busy worker's heap stays the size of its runs in flight)."""
        with self._wake:
            run.done = True  # the watchdog never touches the run's options again
            if not run.options.terminate and len(self._spare) < MAX_SPARE_OPTIONS:
                self._spare.append(run.options)
            self._finished += 1
            if self._finished > 64 and self._finished * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
                self._finished = 0

    def _start_thread(self) -> None:
        pid = os.getpid()
        if self._owner_pid == pid:
            return
        self._owner_pid = pid
        self._looks_at = _NEVER  # a new thread looks at the heap as soon as it starts
        threading.Thread(target=self._loop, name="omlsvc-run-watchdog", daemon=True).start()

    def _loop(self) -> None:
        pushed_at_last_look = -1
        with self._wake:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                    self._finished = max(0, self._finished - 1)
                if not self._heap:
                    if self._pushed == pushed_at_last_look:  # a whole idle look without a run
                        self._looks_at = _NEVER
                        self._wake.wait()
                    else:
                        pushed_at_last_look = self._pushed
                        self._looks_at = self._clock() + IDLE_LOOK_S
                        self._wake.wait(IDLE_LOOK_S)
                    continue
                deadline, _, run = self._heap[0]
                delay = deadline - self._clock()
                if delay > 0:
                    self._looks_at = deadline
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
                if not run.done:
                    run.terminated = True
                    run.options.terminate = True
