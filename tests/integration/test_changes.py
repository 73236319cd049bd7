"""The change counter and the per-worker caches it keeps within a second of the database.

Each test runs on SQLite and PostgreSQL. "Workers" are separate :class:`ChangeFeed` objects on the
same database, with a fake clock so that "half a second later" is exact.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, event

from omlsvc.db.changes import DEFAULT_POLL_INTERVAL_S, ChangeFeed, ChangeStore, WorkerCache
from omlsvc.db.engine import make_engine
from omlsvc.db.uow import UnitOfWork


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Loader:
    """Counts the database reads a cache would make."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return f"value {self.calls}"


def record_change(engine: Engine, feed: ChangeFeed) -> None:
    with UnitOfWork(engine, write=True) as uow:
        feed.record(uow.connection)
        uow.commit()
    feed.changed()


@pytest.fixture
def engine(database: tuple[str, Engine]) -> Engine:
    return database[1]


def test_the_counter_starts_at_zero_and_each_bump_adds_one(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        assert ChangeStore(uow.connection).current() == 0
    for expected in (1, 2, 3):
        with UnitOfWork(engine, write=True) as uow:
            ChangeStore(uow.connection).bump()
            uow.commit()
        with UnitOfWork(engine) as uow:
            assert ChangeStore(uow.connection).current() == expected


def test_a_bump_that_is_rolled_back_changes_nothing(engine: Engine) -> None:
    with UnitOfWork(engine, write=True) as uow:
        ChangeStore(uow.connection).bump()
    with UnitOfWork(engine) as uow:
        assert ChangeStore(uow.connection).current() == 0


def test_a_cached_value_is_read_once_until_something_changes(engine: Engine) -> None:
    feed = ChangeFeed(engine)
    cache: WorkerCache[str, str] = WorkerCache(feed)
    load = Loader()
    assert [cache.get("house", load) for _ in range(5)] == ["value 1"] * 5
    assert load.calls == 1
    record_change(engine, feed)
    assert cache.get("house", load) == "value 2"


def test_another_workers_change_is_seen_at_the_next_poll_and_not_before(engine: Engine) -> None:
    clock = FakeClock()
    here, there = ChangeFeed(engine, clock=clock), ChangeFeed(make_engine_like(engine), clock=clock)
    cache: WorkerCache[str, str] = WorkerCache(here)
    load = Loader()
    cache.get("house", load)
    record_change(engine, there)
    clock.now += DEFAULT_POLL_INTERVAL_S / 2
    assert cache.get("house", load) == "value 1"  # within the interval: no query at all
    clock.now += DEFAULT_POLL_INTERVAL_S / 2
    assert cache.get("house", load) == "value 2"
    assert DEFAULT_POLL_INTERVAL_S < 1.0


def test_a_value_read_while_a_change_happened_is_not_kept(engine: Engine) -> None:
    feed = ChangeFeed(engine)
    cache: WorkerCache[str, str] = WorkerCache(feed)

    def stale_read() -> str:
        record_change(engine, feed)  # committed while this (older) read was in flight
        return "stale"

    assert cache.get("house", stale_read) == "stale"
    assert cache.get("house", Loader()) == "value 1"


def test_errors_are_not_cached(engine: Engine) -> None:
    cache: WorkerCache[str, str] = WorkerCache(ChangeFeed(engine))

    def missing() -> str:
        raise LookupError("no deployment")

    for _ in range(2):
        with pytest.raises(LookupError):
            cache.get("house", missing)
    assert len(cache) == 0


def test_the_oldest_entry_goes_beyond_capacity(engine: Engine) -> None:
    cache: WorkerCache[str, str] = WorkerCache(ChangeFeed(engine), capacity=2)
    for key in ("a", "b", "c"):
        cache.get(key, lambda key=key: key)
    load = Loader()
    assert cache.get("a", load) == "value 1"
    assert cache.get("c", load) == "c"


def test_a_failing_poll_empties_the_caches_until_the_database_answers(tmp_path: Path) -> None:
    broken = make_engine(f"sqlite:///{tmp_path / 'missing' / 'nothing-here.db'}")
    shutil.rmtree(tmp_path / "missing")  # the engine cannot even create its file now
    clock = FakeClock()
    feed = ChangeFeed(broken, clock=clock)
    cache: WorkerCache[str, str] = WorkerCache(feed)
    load = Loader()
    assert cache.get("house", load) == "value 1"
    assert cache.get("house", load) == "value 2"  # no counter, no trust: every call reads again


class CounterReads:
    """Counts the change-counter reads on an engine, and how many ran at the same time at most."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._running = 0
        self.reads = 0
        self.most_at_once = 0

    def __enter__(self) -> CounterReads:
        event.listen(self._engine, "before_cursor_execute", self._before)
        event.listen(self._engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self._engine, "before_cursor_execute", self._before)
        event.remove(self._engine, "after_cursor_execute", self._after)

    def _before(self, connection: object, cursor: object, statement: str, *args: object) -> None:
        if "counter" in statement:
            with self._lock:
                self._running += 1
                self.reads += 1
                self.most_at_once = max(self.most_at_once, self._running)
            time.sleep(0.002)  # a slow poll: another one started meanwhile would overlap it

    def _after(self, connection: object, cursor: object, statement: str, *args: object) -> None:
        if "counter" in statement:
            with self._lock:
                self._running -= 1


def test_polls_from_many_threads_run_one_at_a_time(engine: Engine) -> None:
    feed = ChangeFeed(engine, interval_s=0.0)  # every request would poll, if no other one were polling
    cache: WorkerCache[str, int] = WorkerCache(feed)
    values: list[int] = []
    start = threading.Barrier(4)

    def hammer() -> None:
        start.wait()
        for _ in range(50):
            values.append(cache.get("house", lambda: 1))

    with CounterReads(engine) as reads:
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert values == [1] * 200
    assert reads.reads >= 2  # the feed did poll, again and again
    assert reads.most_at_once == 1


def make_engine_like(engine: Engine) -> Engine:
    """A second engine (another worker's pool) on the same database."""
    return make_engine(engine.url.render_as_string(hide_password=False))
