"""Input tables for batch scoring tests: created with SQLAlchemy Core in the test's database.

On PostgreSQL every test of a session shares one schema, so tables get unique names and the
``input_tables`` fixture drops them (and the output tables of jobs that read them) afterwards.

Jobs read as their owner's database identity, so a table is readable only by the users it is made
for (``readers``): on SQLite it is granted to them (``table_grants``, as ``omlsvc tables grant``
does), on PostgreSQL ``GRANT SELECT`` goes to their roles (:class:`DatabaseRoles`).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    insert,
    inspect,
    text,
)

from omlsvc.auth.store import UserStore
from omlsvc.db.transactions import Transactions
from omlsvc.jobs.grants import TableGrantService

IRIS_COLUMNS = ("sepal_length", "sepal_width", "petal_length", "petal_width")
JOB_USERS = ("alice", "bob", "admin")


class DatabaseRoles:
    """PostgreSQL roles for the test users, with unique names (the server is shared): each may use and
    create tables in the test schema, and the test's login is a member of each, as an administrator
    sets up omlsvc's login (``sql/postgresql/grants.sql``). :meth:`drop` drops them and what they own."""

    def __init__(self, engine: Engine, schema: str, users: Sequence[str] = JOB_USERS) -> None:
        self.engine = engine
        self.roles = {user: f"omlsvc_t{uuid.uuid4().hex[:10]}_{user}" for user in users}
        with engine.begin() as connection:
            for role in self.roles.values():
                connection.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
                connection.execute(text(f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO "{role}"'))
                connection.execute(text(f'GRANT "{role}" TO CURRENT_USER'))

    def drop(self) -> None:
        with self.engine.begin() as connection:
            for role in self.roles.values():
                connection.execute(text(f'DROP OWNED BY "{role}" CASCADE'))
                connection.execute(text(f'DROP ROLE "{role}"'))


class InputTables:
    """Makes uniquely named input tables in one database, readable by ``readers`` (user name -> their
    database role, None on SQLite), and drops whatever it made."""

    def __init__(self, engine: Engine, readers: Mapping[str, str | None] | None = None) -> None:
        self.engine = engine
        self.readers = dict(readers or {})
        self._made: list[str] = []

    def grant(self, table: str, *users: str) -> None:
        """Let ``users``' jobs read ``table`` (default: the readers)."""
        for user in users or tuple(self.readers):
            grant_table(self.engine, table, user, self.readers.get(user))

    def name(self, stem: str) -> str:
        return f"{stem}_{uuid.uuid4().hex[:8]}"

    def features(
        self, stem: str, features: np.ndarray, *, labels: Sequence[str] | None = None, first_id: int = 0
    ) -> str:
        """``stem_xxxx(id INTEGER PRIMARY KEY, sepal_length .. petal_width FLOAT, species VARCHAR)``."""
        name = self.name(stem)
        table = Table(
            name,
            MetaData(),
            Column("id", Integer, primary_key=True, autoincrement=False),
            *(Column(c, Float) for c in IRIS_COLUMNS[: features.shape[1]]),
            Column("species", String(20)),
        )
        self._create(table)
        ids = np.arange(first_id, first_id + len(features))
        names = labels if labels is not None else ["unknown"] * len(features)
        self.load(table, [ids, *features.T.astype(np.float64), np.asarray(names, dtype=object)])
        return name

    def table(self, stem: str, columns: Sequence[Column[Any]], values: Sequence[Sequence[Any]]) -> str:
        """``stem_xxxx`` with ``columns``, filled column-wise from ``values`` (one sequence per column)."""
        name = self.name(stem)
        table = Table(name, MetaData(), *columns)
        self._create(table)
        self.load(table, values)
        return name

    def images(self, stem: str, images: Sequence[bytes]) -> str:
        """``stem_xxxx(id INTEGER PRIMARY KEY, name VARCHAR, photo BLOB)``."""
        name = self.name(stem)
        table = Table(
            name,
            MetaData(),
            Column("id", Integer, primary_key=True, autoincrement=False),
            Column("name", String(40)),
            Column("photo", LargeBinary),
        )
        self._create(table)
        with self.engine.begin() as connection:
            connection.execute(
                insert(table), [{"id": i, "name": f"img{i}", "photo": data} for i, data in enumerate(images)]
            )
        return name

    def load(self, table: Table, columns: Sequence[Any]) -> None:
        """Fast bulk load: COPY on PostgreSQL, executemany elsewhere."""
        rows = list(
            zip(*(c.tolist() if isinstance(c, np.ndarray) else list(c) for c in columns), strict=True)
        )
        if self.engine.dialect.name == "postgresql":
            buffer = io.StringIO()
            for row in rows:
                buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
            raw = self.engine.raw_connection()
            try:
                with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" FROM STDIN') as copy:  # type: ignore[attr-defined]
                    copy.write(buffer.getvalue())
                raw.commit()
            finally:
                raw.close()
            return
        names = [c.name for c in table.columns]
        with self.engine.begin() as connection:
            connection.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])

    def _create(self, table: Table) -> None:
        table.metadata.create_all(self.engine)
        self._made.append(table.name)
        self.grant(table.name)

    def drop_all(self) -> None:
        """Drop the input tables made (job output tables go with the PostgreSQL test schema)."""
        existing = set(inspect(self.engine).get_table_names())
        with self.engine.begin() as connection:
            for name in self._made:
                if name in existing:
                    connection.execute(text(f'DROP TABLE "{name}"'))


def grant_table(engine: Engine, table: str, user: str, role: str | None) -> None:
    """What an administrator does to let ``user``'s jobs read ``table``."""
    if engine.dialect.name == "sqlite":
        TableGrantService(Transactions(engine), _Users(engine)).grant(table, user, "admin")
        return
    with engine.begin() as connection:
        connection.execute(text(f'GRANT SELECT ON "{table}" TO "{role or user.lower()}"'))


def table_owner(engine: Engine, table: str) -> str:
    """The PostgreSQL role that owns ``table`` (on the search path)."""
    with engine.connect() as connection:
        return str(
            connection.execute(
                text(
                    "SELECT tableowner FROM pg_tables WHERE tablename = :t AND schemaname = current_schema()"
                ),
                {"t": table},
            ).scalar_one()
        )


def count_rows(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar() or 0)


def read_table(engine: Engine, table: str, order_by: str = "id") -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [
            dict(row._mapping)
            for row in connection.execute(text(f'SELECT * FROM "{table}" ORDER BY "{order_by}"'))
        ]


class _Users:
    """The users a grant asks about, read as the auth service reads them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def find_user(self, name: str) -> object | None:
        with self._engine.connect() as connection:
            return UserStore(connection).get(name)
