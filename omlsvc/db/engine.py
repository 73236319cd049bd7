"""Engines per dialect.

Made per gunicorn worker (by ``create_app``), never at import time: connection pools do not
survive a fork. SQLite gets WAL, a busy timeout and enforced foreign keys so that several workers
share one file safely; Oracle uses python-oracledb's thin mode (no client libraries needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from omlsvc.private_files import make_private_dir, make_private_file

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Execution option a writing unit of work sets on its connection (see ``_begin``).
WRITE_OPTION = "omlsvc_write"


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            # Private whatever the umask: the file holds password hashes. SQLite gives its -wal and
            # -shm files the database file's mode.
            make_private_file(make_private_dir(Path(database).parent) / Path(database).name)
        engine = create_engine(
            parsed,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            **kwargs,
        )
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin)
        return engine
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "oracle" and parsed.drivername == "oracle":
        parsed = parsed.set(drivername="oracle+oracledb")
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 opens transactions lazily and on its own terms; take control so that
    # SQLAlchemy's begin() really begins one (see the "begin" listener below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _begin(connection: Any) -> None:
    # A unit of work that writes asks for BEGIN IMMEDIATE: it takes the write lock up front, so two
    # workers never both read and then fail to upgrade to a write lock ("database is locked") in the
    # middle of a transaction. Readers begin deferred and never block anyone under WAL.
    write = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
