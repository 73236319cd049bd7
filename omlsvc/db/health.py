"""Readiness: the service is ready when its database answers."""

from __future__ import annotations

from sqlalchemy import text

from omlsvc.db.transactions import Transactions


class HealthService:
    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    def check_database(self) -> None:
        """Raise :class:`omlsvc.core.errors.Unavailable` unless a trivial query succeeds."""
        with self._transactions() as uow:
            probe = "SELECT 1 FROM DUAL" if self._transactions.engine.dialect.name == "oracle" else "SELECT 1"
            uow.connection.execute(text(probe))
