"""The change counter, and the per-worker caches it keeps honest (ARCHITECTURE "Caches and consistency").

Every change that must stop something a worker may have cached (a token revoked, a user disabled, a
deployment removed, a model changed or deleted) bumps one counter row in the same transaction. Each
worker polls that counter at most every ``interval_s`` seconds, and only while it serves requests;
when the value moved, its :class:`WorkerCache` instances start empty. The worker that made the change
empties its caches at once, after the commit. So a change is seen by the worker that made it on its
next request, and by every other worker of every host within ``interval_s`` plus one poll query,
while a request served from a cache costs no database round trip at all.

A cache entry filled from a read that started before a change could be stale; it is kept only if no
change was seen between the moment its loader started and the moment it is stored (generations
below), so a change can never be undone by a slow request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from omlsvc.db.schema import changes
from omlsvc.db.uow import UnitOfWork

log = logging.getLogger(__name__)

#: The counter's row; the table has room for more counters should a cache ever need its own.
COUNTER_ID = 1
#: Half of the one second the architecture allows: leaves room for the poll itself and a request
#: that started just before it, and costs each busy worker two tiny queries a second.
DEFAULT_POLL_INTERVAL_S = 0.5
DEFAULT_CAPACITY = 4096
#: How often a failing poll is logged (it is retried on every request meanwhile).
_FAILURE_LOG_INTERVAL_S = 60.0

_READ = select(changes.c.counter).where(changes.c.id == bindparam("id"))
_BUMP = update(changes).where(changes.c.id == bindparam("key")).values(counter=changes.c.counter + 1)

K = TypeVar("K")
V = TypeVar("V")


class ChangeStore:
    """The counter row: read it, bump it (inside the caller's transaction)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def current(self) -> int:
        """The counter; 0 while no change was ever recorded (the row is created by the first bump)."""
        value = self._connection.execute(_READ, {"id": COUNTER_ID}).scalar()
        return 0 if value is None else int(value)

    def bump(self) -> None:
        if self._connection.execute(_BUMP, {"key": COUNTER_ID}).rowcount:
            return
        try:
            with self._connection.begin_nested():
                self._connection.execute(insert(changes).values(id=COUNTER_ID, counter=1))
        except IntegrityError:
            # another transaction created the row meanwhile: it is there (and committed) now.
            self._connection.execute(_BUMP, {"key": COUNTER_ID})


class ChangeFeed:
    """This worker's view of the change counter, as a *generation* that grows whenever a change is seen.

    Thread-safe. One feed per worker is shared by every service that caches or changes something, so
    that a change made here reaches every cache here synchronously (:meth:`changed`).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        interval_s: float = DEFAULT_POLL_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._interval = interval_s
        self._clock = clock
        self._generation = 0
        self._counter: int | None = None
        self._next_poll = float("-inf")
        self._poll_lock = threading.Lock()
        self._lock = threading.Lock()
        self._last_failure_log = float("-inf")
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (on the polling request's thread: it must only hand work off) whenever a
        poll finds that another worker or host changed something; not for this worker's own changes."""
        self._listeners.append(listener)

    @property
    def generation(self) -> int:
        """The generation as last seen, without asking the database."""
        return self._generation

    def current(self) -> int:
        """The generation, after asking the database for news when the last poll is ``interval_s`` old.

        Only one thread polls at a time; the others carry on with the generation they have, which is
        at most one poll interval old.
        """
        if self._clock() >= self._next_poll:
            self._poll()
        return self._generation

    def record(self, connection: Connection) -> None:
        """Bump the counter in the caller's transaction; call :meth:`changed` after it commits."""
        ChangeStore(connection).bump()

    def changed(self) -> None:
        """Invalidate this worker's caches now: a change was just committed here."""
        with self._lock:
            self._generation += 1

    def _poll(self) -> None:
        if not self._poll_lock.acquire(blocking=False):
            return
        try:
            now = self._clock()
            if now < self._next_poll:
                return
            try:
                with UnitOfWork(self._engine) as uow:
                    counter = ChangeStore(uow.connection).current()
            except Exception as exc:
                # Nothing can be trusted now: caches start over (and the requests that fill them meet
                # the database's own error); the poll is retried on the next request.
                self.changed()
                if now - self._last_failure_log >= _FAILURE_LOG_INTERVAL_S:
                    self._last_failure_log = now
                    log.warning("cannot read the change counter; serving without caches: %s", exc)
                return
            if counter != self._counter:
                seen_before, self._counter = self._counter is not None, counter
                self.changed()
                if seen_before:
                    self._tell_listeners()
            self._next_poll = now + self._interval
        finally:
            self._poll_lock.release()

    def _tell_listeners(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:
                log.exception("a change listener failed")


class WorkerCache(Generic[K, V]):
    """A bounded map whose entries last until the :class:`ChangeFeed` reports a change.

    ``get(key, load)`` returns the cached value or calls ``load()`` (whose exceptions pass through
    and cache nothing). Beyond ``capacity`` the oldest entry goes. Thread-safe.
    """

    def __init__(self, feed: ChangeFeed, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._feed = feed
        self._capacity = capacity
        self._lock = threading.Lock()
        self._generation = -1
        self._entries: dict[K, V] = {}

    def get(self, key: K, load: Callable[[], V]) -> V:
        generation = self._feed.current()
        if generation != self._generation:
            with self._lock:
                if generation > self._generation:
                    self._entries = {}
                    self._generation = generation
        try:
            return self._entries[key]
        except KeyError:
            pass
        value = load()
        with self._lock:
            # stored only if no change was seen since before ``load`` started reading.
            if self._generation == generation == self._feed.generation:
                entries = self._entries
                if key not in entries and len(entries) >= self._capacity:
                    del entries[next(iter(entries))]
                entries[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries = {}

    def __len__(self) -> int:
        return len(self._entries)
