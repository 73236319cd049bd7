"""The hand-runnable DDL in ``sql/`` and the SQLAlchemy schema are the same schema.

SQLite and PostgreSQL are built from the files and reflected back; Oracle, which cannot run here,
is checked by compiling the schema with SQLAlchemy's Oracle dialect.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, Table, inspect, text
from sqlalchemy.dialects.oracle.base import RESERVED_WORDS as ORACLE_RESERVED

from omlsvc.db.ddl import DIALECTS, render_ddl
from omlsvc.db.engine import make_engine
from omlsvc.db.schema import SCHEMA_VERSION, metadata
from omlsvc.db.setup import init_schema
from tests.conftest import postgres_url

SQL = Path(__file__).resolve().parents[2] / "sql"
ORACLE_IDENTIFIER_LIMIT = 30  # Oracle before 12.2; 128 bytes since, so 30 is safe everywhere


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "oracle"])
def test_the_sql_files_are_what_the_schema_renders(dialect: str) -> None:
    assert (SQL / dialect / "schema.sql").read_text() == render_ddl(dialect), (
        f"regenerate with: omlsvc db ddl --dialect {dialect} > sql/{dialect}/schema.sql"
    )


def describe(engine: Engine, tables: list[Table] | None = None) -> dict[str, dict[str, object]]:
    """Columns (type as the dialect spells it, nullability), keys and indexes of each table."""
    inspector = inspect(engine)
    dialect = engine.dialect
    described: dict[str, dict[str, object]] = {}
    for name in inspector.get_table_names():
        described[name] = {
            "columns": {
                c["name"]: (c["type"].compile(dialect=dialect), c["nullable"])
                for c in inspector.get_columns(name)
            },
            "primary_key": tuple(inspector.get_pk_constraint(name)["constrained_columns"]),
            "foreign_keys": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
                for fk in inspector.get_foreign_keys(name)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(name))
            + sorted(tuple(i["column_names"]) for i in inspector.get_indexes(name) if i["unique"]),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(name) if not i["unique"]
            ),
        }
    return described


def test_sqlite_built_from_the_file_matches_the_schema(tmp_path: Path) -> None:
    from_file = tmp_path / "from_file.db"
    with sqlite3.connect(from_file) as connection:
        connection.executescript((SQL / "sqlite" / "schema.sql").read_text())
    from_metadata = make_engine(f"sqlite:///{tmp_path / 'from_metadata.db'}")
    metadata.create_all(from_metadata)
    file_engine = make_engine(f"sqlite:///{from_file}")
    assert describe(file_engine) == describe(from_metadata)
    assert set(describe(file_engine)) == set(metadata.tables)


@pytest.fixture
def two_postgres_schemas() -> Iterator[tuple[Engine, Engine]]:
    url = postgres_url()
    if url is None:
        pytest.skip("OMLSVC_TEST_DATABASE_URL is not set")
    admin = make_engine(url)
    names = [f"omlsvc_ddl_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with admin.begin() as connection:
        for name in names:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
    engines = [make_engine(url, connect_args={"options": f"-csearch_path={name}"}) for name in names]
    yield engines[0], engines[1]
    for engine in engines:
        engine.dispose()
    with admin.begin() as connection:
        for name in names:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    admin.dispose()


def _run_script(engine: Engine, path: Path) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(path.read_text())


def test_postgresql_built_from_the_file_matches_the_schema(
    two_postgres_schemas: tuple[Engine, Engine],
) -> None:
    from_file, from_metadata = two_postgres_schemas
    _run_script(from_file, SQL / "postgresql" / "schema.sql")
    metadata.create_all(from_metadata)
    assert describe(from_file) == describe(from_metadata)
    assert set(describe(from_file)) == set(metadata.tables)


def test_postgresql_reassembles_a_model_blob_in_sql(two_postgres_schemas: tuple[Engine, Engine]) -> None:
    engine, _ = two_postgres_schemas
    _run_script(engine, SQL / "postgresql" / "schema.sql")
    _run_script(engine, SQL / "postgresql" / "model_blob.sql")
    chunks = [b"PK\x03\x04first", b"-second-", b"third\x00"]
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO users VALUES ('alice', 'x', 'developer', false, now())"),
        )
        connection.execute(
            text(
                "INSERT INTO models (id, name, version, model_type, shared, owner, created_at, sha256, size_bytes,"
                " chunk_count, mining_function, spec, model_metadata)"
                " VALUES ('m1', 'm', '1', 'ONNX', false, 'alice', now(), 'x', 24, 3, 'REGRESSION', '{}', '{}')"
            )
        )
        for seq in (2, 0, 1):  # inserted out of order on purpose
            connection.execute(
                text("INSERT INTO model_chunks VALUES ('m1', :seq, :data)"), {"seq": seq, "data": chunks[seq]}
            )
        blob = connection.execute(text("SELECT omlsvc_model_blob('m1')")).scalar()
    assert bytes(blob) == b"".join(chunks)


def _oracle_names() -> Iterator[tuple[str, str]]:
    for table in metadata.sorted_tables:
        yield "table", table.name
        for column in table.columns:
            yield f"column {table.name}.", column.name
        for constraint in table.constraints:
            yield "constraint", str(constraint.name)
        for index in table.indexes:
            yield "index", str(index.name)


def test_oracle_identifiers_are_short_and_never_reserved() -> None:
    for kind, name in _oracle_names():
        assert len(name.encode()) <= ORACLE_IDENTIFIER_LIMIT, f"{kind} {name} is too long for Oracle"
        assert name.lower() not in ORACLE_RESERVED, f"{kind} {name} is an Oracle reserved word"


def test_oracle_types_hold_blobs_timestamps_and_numbers() -> None:
    dialect = DIALECTS["oracle"]
    types = {
        (table.name, column.name): column.type.compile(dialect=dialect)
        for table in metadata.sorted_tables
        for column in table.columns
    }
    assert types[("model_chunks", "data")] == "BLOB"
    assert types[("models", "spec")] == "CLOB"
    assert types[("models", "created_at")] == "TIMESTAMP"
    assert types[("models", "size_bytes")] == "NUMBER(19)"
    assert types[("models", "shared")] == "SMALLINT"
    assert types[("models", "name")] == "VARCHAR2(50 CHAR)"


def test_the_oracle_blob_function_reads_the_schemas_chunk_table() -> None:
    script = (SQL / "oracle" / "model_blob.sql").read_text()
    chunks = metadata.tables["model_chunks"]
    assert (
        f"FROM {chunks.name} WHERE {chunks.c.model_id.name} = p_model_id ORDER BY {chunks.c.seq.name}"
        in script
    )
    assert f"c.{chunks.c.data.name}" in script


def test_upgrading_a_version_2_database_adds_the_new_columns_and_keeps_the_users(tmp_path: Path) -> None:
    """Version 3 adds a database identity and a token generation to every user; old rows keep working."""
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE users (name VARCHAR(128) PRIMARY KEY, password_hash VARCHAR(255) NOT NULL,"
            " roles VARCHAR(255) NOT NULL, disabled BOOLEAN NOT NULL, created_at DATETIME NOT NULL)"
        )
        connection.execute("INSERT INTO users VALUES ('alice', 'x', 'developer', 0, '2026-01-01 00:00:00')")
        connection.execute(
            "CREATE TABLE schema_info (id INTEGER PRIMARY KEY, version INTEGER, updated_at DATETIME)"
        )
        connection.execute("INSERT INTO schema_info VALUES (1, 2, '2026-01-01 00:00:00')")
    engine = make_engine(f"sqlite:///{path}")
    assert init_schema(engine) == SCHEMA_VERSION == 4
    with engine.connect() as connection:
        row = connection.execute(text("SELECT name, db_role, generation FROM users")).one()
    assert tuple(row) == ("alice", None, 0)
    assert {"model_grants", "table_grants", "login_failures", "tasks"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


def test_upgrading_a_version_3_database_adds_tasks_and_the_variant_source(tmp_path: Path) -> None:
    """Version 4 (issue 15) adds the tasks table and ``models.derived_from``; stored models stay."""
    path = tmp_path / "v3.db"
    engine = make_engine(f"sqlite:///{path}")
    init_schema(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE tasks"))
        connection.execute(text("ALTER TABLE models DROP COLUMN derived_from"))
        connection.execute(text("UPDATE schema_info SET version = 3"))
    assert "tasks" not in inspect(engine).get_table_names()
    assert init_schema(engine) == 4
    inspector = inspect(engine)
    assert "tasks" in inspector.get_table_names()
    assert "derived_from" in {c["name"] for c in inspector.get_columns("models")}
    engine.dispose()


def test_upgrading_adds_the_output_tensor_column_to_existing_deployments(tmp_path: Path) -> None:
    """Issue 16 adds ``deployments.output_tensor`` (nullable): an older database gains it in place and
    its deployments keep serving their whole model (null)."""
    path = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{path}")
    init_schema(engine)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE deployments DROP COLUMN output_tensor"))
    assert "output_tensor" not in {c["name"] for c in inspect(engine).get_columns("deployments")}
    init_schema(engine)
    assert "output_tensor" in {c["name"] for c in inspect(engine).get_columns("deployments")}
    engine.dispose()
