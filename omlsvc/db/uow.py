"""The unit of work: one transaction per service call.

It commits only when told and rolls back otherwise, and always returns its connection to the pool.
Database outages surface here as :class:`omlsvc.core.errors.Unavailable`, so every endpoint answers 503
with a clear code while the database is down and recovers by itself when it comes back.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from omlsvc.core.errors import Unavailable
from omlsvc.db.engine import WRITE_OPTION


class Announcer(Protocol):
    """Tells every worker's caches of a change (:class:`omlsvc.db.changes.ChangeFeed`)."""

    def record(self, connection: Connection) -> None: ...

    def changed(self) -> None: ...


class UnitOfWork:
    """``with UnitOfWork(engine, write=True) as uow: ...; uow.commit()``.

    A change that must reach cached copies (a revocation, an undeploy, a grant) commits with
    ``uow.commit(announce=True)``: the change counter moves in the same transaction and this worker's
    caches are emptied right after the commit, the one sequence that keeps caches honest.
    """

    def __init__(self, engine: Engine, *, write: bool = False, announcer: Announcer | None = None) -> None:
        self._engine = engine
        self._write = write
        self._announcer = announcer
        self._connection: Connection | None = None
        self._committed = False

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("unit of work used outside its with block")
        return self._connection

    def __enter__(self) -> UnitOfWork:
        try:
            connection = self._engine.connect()
            if self._write:
                connection = connection.execution_options(**{WRITE_OPTION: True})
            connection.begin()
        except (OperationalError, DBAPIError) as exc:
            raise unavailable() from exc
        self._connection = connection
        return self

    def commit(self, *, announce: bool = False) -> None:
        if announce:
            if self._announcer is None:
                raise RuntimeError("this unit of work has no change feed to announce to")
            self._announcer.record(self.connection)
        try:
            self.connection.commit()
        except OperationalError as exc:
            raise unavailable() from exc
        self._committed = True
        if announce and self._announcer is not None:
            self._announcer.changed()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if not self._committed:
                connection.rollback()
        except DBAPIError:
            connection.invalidate()
        finally:
            connection.close()
        if isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
            raise unavailable() from exc


def unavailable() -> Unavailable:
    return Unavailable("The database is not available; try again shortly.")
