"""The change counter and the per-worker caches it keeps within a second of the database.

Each test runs on SQLite and PostgreSQL. "Workers" are separate :class:`ChangeFeed` objects on the
same database, with a fake clock so that "half a second later" is exact.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

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


def test_polls_from_many_threads_run_one_at_a_time(engine: Engine) -> None:
    feed = ChangeFeed(engine, interval_s=0.0)
    cache: WorkerCache[str, int] = WorkerCache(feed)
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(50):
                cache.get("house", lambda: 1)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def make_engine_like(engine: Engine) -> Engine:
    """A second engine (another worker's pool) on the same database."""
    return make_engine(engine.url.render_as_string(hide_password=False))
