"""Creating and upgrading the schema (``omlsvc db init`` / ``omlsvc db upgrade``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection, Engine, inspect, select
from sqlalchemy.schema import CreateColumn

from omlsvc.core.clock import utcnow
from omlsvc.core.errors import Conflict
from omlsvc.db.schema import SCHEMA_VERSION, metadata, schema_info


def init_schema(engine: Engine, clock: Callable[[], datetime] = utcnow) -> int:
    """Create whatever is missing and record the schema version; safe to run any number of times.

    Returns the recorded version. A database written by a newer omlsvc is refused rather than
    silently used with a schema this code does not know.
    """
    metadata.create_all(engine, checkfirst=True)
    with engine.begin() as connection:
        _add_missing_columns(connection)
        current = connection.execute(select(schema_info.c.version).where(schema_info.c.id == 1)).scalar()
        if current is None:
            connection.execute(schema_info.insert().values(id=1, version=SCHEMA_VERSION, updated_at=clock()))
        elif current > SCHEMA_VERSION:
            raise Conflict(
                f"The database schema is version {current}, newer than this omlsvc ({SCHEMA_VERSION}); upgrade omlsvc."
            )
        elif current < SCHEMA_VERSION:
            connection.execute(
                schema_info.update()
                .where(schema_info.c.id == 1)
                .values(version=SCHEMA_VERSION, updated_at=clock())
            )
    return SCHEMA_VERSION


def schema_version(engine: Engine) -> int | None:
    with engine.connect() as connection:
        if not engine.dialect.has_table(connection, schema_info.name):
            return None
        return connection.execute(select(schema_info.c.version).where(schema_info.c.id == 1)).scalar()


def _add_missing_columns(connection: Connection) -> None:
    """Upgrade tables made by an older version in place: every column added since is nullable or has
    a server default (a rule for schema changes), so ``ALTER TABLE ... ADD`` brings old rows along."""
    inspector = inspect(connection)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                ddl = CreateColumn(column).compile(dialect=connection.dialect)
                connection.exec_driver_sql(f"ALTER TABLE {table.name} ADD {ddl}")
