"""Services for the job runner tests, and input tables alice's jobs may read: on PostgreSQL (``pg``,
where several runners share one database) and on each supported database (``both``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from omlsvc.config import Settings
from omlsvc.wiring import Services, build_services
from tests.conftest import empty_postgres
from tests.jobdata import InputTables


def make_services(settings: Settings, engine: Engine, role: str | None) -> Services:
    """The object graph on ``engine``, with alice, whose jobs run as the database role ``role``."""
    services = build_services(settings, engine=engine)
    services.auth.add_user("alice", "correct horse battery", db_role=role)
    return services


@pytest.fixture
def pg(
    tmp_path: Path, postgres_engine: Engine, postgres_schema_url: str, postgres_roles: dict[str, str]
) -> Iterator[tuple[Services, InputTables]]:
    """Services on the PostgreSQL test schema, and input tables there that alice's role may read."""
    empty_postgres(postgres_engine)
    settings = Settings.for_tests(tmp_path / "data", database_url=postgres_schema_url)
    services = make_services(settings, postgres_engine, postgres_roles["alice"])
    tables = InputTables(postgres_engine, readers={"alice": postgres_roles["alice"]})
    yield services, tables
    tables.drop_all()


@pytest.fixture
def both(
    settings: Settings, database: tuple[str, Engine], db_roles: dict[str, str | None]
) -> Iterator[tuple[Services, InputTables]]:
    """The same on each supported database."""
    services = make_services(settings, database[1], db_roles.get("alice"))
    tables = InputTables(database[1], readers={"alice": db_roles.get("alice")})
    yield services, tables
    tables.drop_all()
