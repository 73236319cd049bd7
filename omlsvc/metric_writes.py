"""The metric writes of every request, gathered in memory and written to ``prometheus_client`` in bulk
a fraction of a second later (issue 20).

Under gunicorn the values live in memory-mapped files shared by the workers (``prometheus_client``'s
multiprocess mode), and every ``inc`` or ``observe`` takes a process-wide lock, checks the pid and
writes the mapping: about ten such writes per score request cost a tenth of the worker's CPU per
request on the 2-core bench. Here a request adds its values to plain numbers under one short lock, and
a thread (:class:`~omlsvc.core.write_behind.WriteBehind`) writes what gathered, one ``inc`` per
series that moved, every :data:`WRITE_BEHIND_S`. Totals are exact (every write is an increment),
only later:

* a scrape (or the Open Inference Protocol's statistics) answered by a worker writes that worker's
  own pending values first, so one process always reads back everything it recorded;
* another worker's values reach the scrape within :data:`WRITE_BEHIND_S`;
* a worker that exits normally (recycled, stopped, restarted) writes them at exit; one killed outright
  loses at most that fraction of a second of counts.

A histogram is written in bulk through its sum and bucket values, which ``prometheus_client`` keeps
as ``_sum`` and ``_buckets`` of each labelled child and offers no public bulk call for. When a
release no longer has them, :meth:`DeferredWrites.histogram` falls back to ``observe`` per value,
and ``tests/unit/test_metric_writes.py`` fails on the difference.
"""

from __future__ import annotations

import os
import threading
import weakref
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

from omlsvc.core.write_behind import LINGER_S, WRITE_BEHIND_S, WriteBehind

__all__ = ["WRITE_BEHIND_S", "DeferredWrites"]


class DeferredWrites:
    """Recorders for labelled ``prometheus_client`` children whose writes are deferred and merged."""

    def __init__(self, interval_s: float = WRITE_BEHIND_S, linger_s: float = LINGER_S) -> None:
        self._lock = threading.Lock()
        #: one ``(write, pending)`` per recorder: ``pending`` is a list of numbers the recorder adds
        #: to, ``write(values)`` hands them to the child.
        self._slots: list[tuple[Callable[[list[float]], None], list[float]]] = []
        self._pending = False
        self._flushing = threading.Lock()  # one writer of the children at a time, in order
        self._behind = WriteBehind(
            self.flush, name="omlsvc-metric-writes", interval_s=interval_s, linger_s=linger_s
        )
        _LIVE.add(self)

    def counter(self, child: Any) -> Callable[[float], None]:
        """``add(amount)`` for a counter's child (``amount`` >= 0)."""
        pending = [0.0]
        self._add_slot(lambda values: child.inc(values[0]), pending)
        lock = self._lock

        def add(amount: float = 1.0) -> None:
            with lock:
                pending[0] += amount
                if not self._pending:
                    self._started()

        return add

    def histogram(self, child: Any, upper_bounds: Sequence[float]) -> Callable[[float], None]:
        """``observe(amount)`` for a histogram's child whose buckets are ``upper_bounds`` (ending in
        +Inf, as ``prometheus_client`` completes them)."""
        bounds = tuple(upper_bounds)
        if not _writable_in_bulk(child, bounds):
            return child.observe
        pending = [0.0] * (len(bounds) + 1)  # the sum, then a count per bucket
        self._add_slot(lambda values: _write_observations(child, values), pending)
        lock = self._lock

        def observe(amount: float) -> None:
            if amount != amount:  # NaN lands in no bucket: let prometheus_client say what it does
                child.observe(amount)
                return
            with lock:
                pending[0] += amount
                pending[1 + bisect_left(bounds, amount)] += 1
                if not self._pending:
                    self._started()

        return observe

    def flush(self) -> bool:
        """Write everything recorded so far (before a read, at exit, and by the thread); whether
        there was anything."""
        with self._flushing:
            with self._lock:
                if not self._pending:
                    return False
                taken = [(write, list(pending)) for write, pending in self._slots if any(pending)]
                for _, pending in self._slots:
                    pending[:] = [0.0] * len(pending)
                self._pending = False
            for write, values in taken:
                write(values)
            return True

    # -- inside -----------------------------------------------------------------------------------------

    def _add_slot(self, write: Callable[[list[float]], None], pending: list[float]) -> None:
        with self._lock:
            self._slots.append((write, pending))

    def _started(self) -> None:
        """The first value since the last flush (called with the lock held)."""
        self._pending = True
        self._behind.pending()


#: Every instance, for the fork handlers below; and those whose lock the fork holds.
_LIVE: weakref.WeakSet[DeferredWrites] = weakref.WeakSet()
_HELD: list[DeferredWrites] = []


def _before_fork() -> None:
    """Take every instance's lock, so that no child inherits one held by a thread it does not have."""
    _HELD[:] = list(_LIVE)
    for writes in _HELD:
        writes._lock.acquire()


def _after_fork_in_parent() -> None:
    for writes in _HELD:
        writes._lock.release()
    _HELD.clear()


def _after_fork_in_child() -> None:
    """The parent writes the values pending at the fork (the child's first value starts the child's
    own thread): the child starts from nothing (as ``prometheus_client`` does when it sees a new pid)."""
    for writes in _HELD:
        for _, pending in writes._slots:
            pending[:] = [0.0] * len(pending)
        writes._pending = False
        writes._lock.release()
    _HELD.clear()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)


def _writable_in_bulk(child: Any, bounds: tuple[float, ...]) -> bool:
    buckets = getattr(child, "_buckets", None)
    return (
        isinstance(buckets, list)
        and len(buckets) == len(bounds)
        and all(callable(getattr(value, "inc", None)) for value in buckets)
        and callable(getattr(getattr(child, "_sum", None), "inc", None))
        and tuple(getattr(child, "_upper_bounds", ())) == bounds
    )


def _write_observations(child: Any, values: list[float]) -> None:
    """Add a histogram's gathered sum and bucket counts to its child, as that many ``observe``\\ s would."""
    child._sum.inc(values[0])
    for bucket, count in zip(child._buckets, values[1:], strict=True):
        if count:
            bucket.inc(count)
