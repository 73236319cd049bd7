"""The unit-of-work factory services receive.

A service never builds its own transactions from an engine: it is given a :class:`Transactions`, so
the wiring decides which database and which change feed it works with, and a service-level test can
hand it a fake.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import Engine

from omlsvc.db.changes import ChangeFeed
from omlsvc.db.uow import UnitOfWork


class UnitOfWorkFactory(Protocol):
    """What a service calls to open one transaction: ``with self._transactions(write=True) as uow``."""

    def __call__(self, *, write: bool = False) -> UnitOfWork: ...


class Transactions:
    """Units of work on one engine, announcing their changes to one worker's change feed."""

    def __init__(self, engine: Engine, changes: ChangeFeed | None = None) -> None:
        self.engine = engine
        #: the worker's feed, shared by every service and cache of the worker.
        self.changes = changes or ChangeFeed(engine)

    def __call__(self, *, write: bool = False) -> UnitOfWork:
        return UnitOfWork(self.engine, write=write, announcer=self.changes)
