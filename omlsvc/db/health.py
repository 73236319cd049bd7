"""Readiness: the service is ready when its database answers."""

from __future__ import annotations

from sqlalchemy import Engine, text

from omlsvc.db.uow import UnitOfWork


class HealthService:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def check_database(self) -> None:
        """Raise :class:`omlsvc.core.errors.Unavailable` unless a trivial query succeeds."""
        with UnitOfWork(self._engine) as uow:
            probe = "SELECT 1 FROM DUAL" if self._engine.dialect.name == "oracle" else "SELECT 1"
            uow.connection.execute(text(probe))
