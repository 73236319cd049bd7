"""The data directory is created 0700 and the SQLite database 0600 whatever the umask: the database
holds password hashes and the data directory private models, so no other account on the host may
read them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from omlsvc.cli import main
from omlsvc.config import Settings
from omlsvc.db.engine import make_engine
from omlsvc.db.setup import init_schema
from omlsvc.wiring import build_services


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual umask, under which files are created world-readable unless asked otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_service_creates_its_data_directory_0700_and_database_0600(tmp_path: Path) -> None:
    data = tmp_path / "deep" / "data"
    services = build_services(Settings.for_tests(data), gpu_count=0)
    try:
        init_schema(services.engine)
        services.auth.add_user("alice", "correct horse battery")
        with services.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            assert mode(data) == 0o700
            assert mode(data / "omlsvc.db") == 0o600
            for sidecar in (data / "omlsvc.db-wal", data / "omlsvc.db-shm"):
                assert mode(sidecar) == 0o600, sidecar
    finally:
        services.engine.dispose()
    assert mode(tmp_path / "deep") == 0o755  # parents are made as mkdir -p makes them


def test_db_init_creates_the_database_0600_in_a_0700_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert main(["db", "init"], environ={"OMLSVC_DATA_DIR": str(data)}) == 0
    assert mode(data) == 0o700
    assert mode(data / "omlsvc.db") == 0o600


def test_a_database_file_left_readable_by_an_older_version_is_made_private(tmp_path: Path) -> None:
    database = tmp_path / "omlsvc.db"
    engine = make_engine(f"sqlite:///{database}")
    init_schema(engine)
    engine.dispose()
    database.chmod(0o644)
    engine = make_engine(f"sqlite:///{database}")
    engine.dispose()
    assert mode(database) == 0o600
