"""Table grants on SQLite: which tables an administrator lets a user's jobs read.

SQLite is one file with no roles, so omlsvc keeps the grants itself (``table_grants``) and
:func:`omlsvc.core.authorization.may_read_table` applies them. PostgreSQL and Oracle decide with their own
privileges (``GRANT SELECT ... TO <the user's role>``); there ``omlsvc tables`` refuses and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from omlsvc.core.clock import utcnow
from omlsvc.core.errors import Conflict, InvalidInput, NotFound
from omlsvc.db.schema import table_grants
from omlsvc.db.transactions import Transactions
from omlsvc.jobs.directory import KnownUsers
from omlsvc.jobs.tables import DataTables


@dataclass(frozen=True)
class TableGrant:
    username: str
    table_name: str
    granted_by: str
    granted_at: datetime


class TableGrantStore:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def tables_of(self, username: str) -> list[str]:
        query = select(table_grants.c.table_name).where(table_grants.c.username == username)
        return list(self._connection.execute(query).scalars())

    def is_granted(self, username: str, table_name: str) -> bool:
        """Whether ``table_name`` (any case: SQLite's names are case-insensitive) is granted."""
        return any(name.upper() == table_name.upper() for name in self.tables_of(username))

    def add(self, grant: TableGrant) -> None:
        try:
            with self._connection.begin_nested():
                self._connection.execute(
                    insert(table_grants).values(
                        username=grant.username,
                        table_name=grant.table_name,
                        granted_by=grant.granted_by,
                        granted_at=grant.granted_at,
                    )
                )
        except IntegrityError:
            raise Conflict(f"{grant.table_name} is already granted to {grant.username}.") from None

    def remove(self, username: str, table_name: str) -> bool:
        result = self._connection.execute(
            delete(table_grants).where(
                table_grants.c.username == username, table_grants.c.table_name == table_name
            )
        )
        return bool(result.rowcount)

    def list(self, username: str | None = None) -> list[TableGrant]:
        query = select(table_grants).order_by(table_grants.c.username, table_grants.c.table_name)
        if username is not None:
            query = query.where(table_grants.c.username == username)
        return [
            TableGrant(r.username, r.table_name, r.granted_by, r.granted_at)
            for r in self._connection.execute(query)
        ]


class TableGrantService:
    """``omlsvc tables grant|revoke|list``: an administrator's tool, used from the command line."""

    def __init__(
        self, transactions: Transactions, users: KnownUsers, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        """``users``: the auth service, asked whether a user exists."""
        self._transactions = transactions
        self._users = users
        self._clock = clock

    def grant(self, table: str, username: str, granted_by: str) -> str:
        """Let ``username``'s jobs read ``table``; returns the table's real name."""
        self._sqlite_only()
        if self._users.find_user(username) is None:
            raise NotFound(f"User {username!r} does not exist.")
        with self._transactions(write=True) as uow:
            tables = DataTables(uow.connection)
            name = tables.find_table(None, table)
            if name is None:
                raise NotFound(f"There is no table or view {table!r}.")
            if tables.is_service_table(name):
                raise InvalidInput(f"{name} is one of omlsvc's own tables; no job may read it.")
            store = TableGrantStore(uow.connection)
            if store.is_granted(username, name):
                raise Conflict(f"{name} is already granted to {username}.")
            store.add(TableGrant(username, name, granted_by, self._clock()))
            uow.commit()
        return name

    def revoke(self, table: str, username: str) -> str:
        self._sqlite_only()
        with self._transactions(write=True) as uow:
            store = TableGrantStore(uow.connection)
            granted = [name for name in store.tables_of(username) if name.upper() == table.upper()]
            if not granted or not store.remove(username, granted[0]):
                raise NotFound(f"{table} is not granted to {username!r}.")
            uow.commit()
        return granted[0]

    def list(self, username: str | None = None) -> list[TableGrant]:
        with self._transactions() as uow:
            return TableGrantStore(uow.connection).list(username)

    def _sqlite_only(self) -> None:
        if self._transactions.engine.dialect.name != "sqlite":
            raise InvalidInput(
                f"On {self._transactions.engine.dialect.name} the database's own privileges decide what jobs read: "
                "GRANT SELECT ON the table TO the user's database role (see the README, "
                '"Jobs and database access").'
            )
