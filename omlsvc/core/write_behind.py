"""Writing behind the request path: what a request has to record (metric values, access lines) is
gathered in memory and written a fraction of a second later, in bulk, by one thread (issue 20).

Under gunicorn, writing each request's metrics to the shared files and its access line to the log
cost about a fifth of a worker's CPU per batch-1 score request, mostly in locks, system calls and the
caches they evict, not in the values themselves. :class:`WriteBehind` runs the owner's ``flush``
every ``interval_s`` while something is pending:

* the owner calls :meth:`WriteBehind.pending` (holding the owner's own lock) when its first item
  since the last flush arrives: one check per interval, not one thread handoff per request;
* the thread ends after ``linger_s`` with nothing to write (an idle app holds no thread) and the
  next item starts another; a forked child, which has no thread, starts its own;
* the owner's ``flush`` also runs at interpreter exit, so a worker that stops, restarts or is recycled
  writes everything; one killed outright loses at most ``interval_s`` of it.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections.abc import Callable

#: How long an item may wait before it is written.
WRITE_BEHIND_S = 0.2
#: How long the thread stays after its last write before it ends.
LINGER_S = 5.0


class WriteBehind:
    """A thread that calls ``flush()`` every ``interval_s`` while its owner has something pending."""

    def __init__(
        self,
        flush: Callable[[], bool],
        *,
        name: str,
        interval_s: float = WRITE_BEHIND_S,
        linger_s: float = LINGER_S,
    ) -> None:
        """``flush()`` writes what is pending and says whether there was anything. It holds a weak
        reference only to a bound method's object, so an owner that is dropped ends its thread."""
        self._flush = weakref.WeakMethod(flush) if hasattr(flush, "__self__") else (lambda: flush)
        self._name = name
        self._interval_s = interval_s
        self._linger_s = linger_s
        self._lock = threading.Lock()
        self._thread_pid: int | None = None  # the process whose thread is running, if any
        self._at_exit = False

    def pending(self) -> None:
        """Something waits to be written: make sure a thread will write it within ``interval_s``."""
        pid = os.getpid()
        if self._thread_pid == pid:
            return
        with self._lock:
            if self._thread_pid == pid:
                return
            self._thread_pid = pid
            if not self._at_exit:
                self._at_exit = True
                atexit.register(_call_if_alive, self._flush)
            threading.Thread(target=self._run, name=self._name, daemon=True).start()

    def _run(self) -> None:
        last_write = time.monotonic()
        while True:
            time.sleep(self._interval_s)  # holding no reference to the owner
            if self._flush_owner():
                last_write = time.monotonic()
                continue
            with self._lock:
                if time.monotonic() - last_write < self._linger_s:
                    continue
                self._thread_pid = None
            # an item that came since the flush above saw no thread and started one, or comes
            # after this and will; flush once more so nothing that came before waits for it
            self._flush_owner()
            return

    def _flush_owner(self) -> bool:
        """The owner's flush; False when it had nothing, or when the owner is gone."""
        flush = self._flush()
        return flush is not None and flush()


def _call_if_alive(flush: Callable[[], Callable[[], bool] | None]) -> None:
    bound = flush()
    if bound is not None:
        bound()
