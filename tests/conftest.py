"""Fixtures shared by the whole suite: databases, settings, the app and an HTTP client.

Every test that asks for ``database_url`` runs twice: on a fresh SQLite file and on the real
PostgreSQL server named by ``OMLSVC_TEST_DATABASE_URL`` (in a schema private to the pytest worker,
emptied between tests). When that variable is set the server must answer: an unreachable server
fails the run instead of silently skipping half of it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from omlsvc.config import Settings
from omlsvc.db.engine import make_engine
from omlsvc.db.schema import metadata
from omlsvc.db.setup import init_schema
from tests.jobdata import DatabaseRoles
from tests.postgres_lock import MARKER as POSTGRES_OUTAGE
from tests.postgres_lock import lock_directory, postgres_in_use

POSTGRES_ENV = "OMLSVC_TEST_DATABASE_URL"


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@pytest.fixture(autouse=True)
def _postgres_outage_guard(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Every test holds the PostgreSQL server shared; the one that stops it holds it alone
    (``tests/postgres_lock.py``)."""
    if postgres_url() is None:
        yield
        return
    exclusive = request.node.get_closest_marker(POSTGRES_OUTAGE) is not None
    with postgres_in_use(lock_directory(tmp_path_factory), exclusive=exclusive):
        yield


@pytest.fixture(scope="session")
def postgres_schema_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private schema on the test server for this pytest worker, dropped at the end."""
    url = postgres_url()
    if url is None:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    schema = f"omlsvc_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    try:
        with postgres_in_use(lock_directory(tmp_path_factory)), admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # an unreachable server must fail the run, not skip it
        pytest.fail(
            f"PostgreSQL at {make_url(url).render_as_string(hide_password=True)} is unreachable: {error}"
        )
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    yield scoped.render_as_string(hide_password=False)
    with postgres_in_use(lock_directory(tmp_path_factory)), admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def postgres_engine(postgres_schema_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = make_engine(postgres_schema_url)
    with postgres_in_use(lock_directory(tmp_path_factory)):
        init_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_roles(
    postgres_engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Database roles of the test users alice, bob and admin (unique names; dropped at the end with
    everything they own): on PostgreSQL a job reads and writes as its owner's role."""
    with postgres_in_use(lock_directory(tmp_path_factory)):
        with postgres_engine.connect() as connection:
            schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        roles = DatabaseRoles(postgres_engine, schema)
    yield roles.roles
    with postgres_in_use(lock_directory(tmp_path_factory)):
        roles.drop()


@pytest.fixture
def db_roles(request: pytest.FixtureRequest, database: tuple[str, Engine]) -> dict[str, str | None]:
    """User name -> database role to create the test users with (none on SQLite)."""
    if database[1].dialect.name == "sqlite":
        return {}
    return dict(request.getfixturevalue("postgres_roles"))


def empty_postgres(engine: Engine) -> None:
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables if table.name != "schema_info")
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """(url, engine) of an initialised, empty database of each supported kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'omlsvc.db'}"
        engine = make_engine(url)
        init_schema(engine)
        yield url, engine
        engine.dispose()
    else:
        engine = request.getfixturevalue("postgres_engine")
        empty_postgres(engine)
        yield request.getfixturevalue("postgres_schema_url"), engine


@pytest.fixture
def settings(tmp_path: Path, database: tuple[str, Engine]) -> Settings:
    return Settings.for_tests(tmp_path / "data", database_url=database[0])
