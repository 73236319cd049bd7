"""A model larger than 100 MB goes into PostgreSQL as BLOB chunks and comes back byte-identical."""

from __future__ import annotations

import hashlib
from pathlib import Path

import falcon.testing
import pytest
from sqlalchemy import Engine, func, select

from omlsvc.config import Settings
from omlsvc.db.schema import model_chunks
from omlsvc.rest.app import create_app
from omlsvc.wiring import build_services
from tests.api.conftest import PASSWORD, login
from tests.api.forms import store_model
from tests.conftest import empty_postgres
from tests.large_models import make_large_regressor_zip


@pytest.mark.slow
def test_a_model_over_100_mb_is_stored_in_postgresql_and_streamed_back(
    tmp_path: Path, postgres_engine: Engine, postgres_schema_url: str
) -> None:
    empty_postgres(postgres_engine)
    settings = Settings.for_tests(tmp_path / "data", postgres_schema_url)
    services = build_services(settings, engine=postgres_engine)
    services.auth.add_user("alice", PASSWORD)
    alice = login(falcon.testing.TestClient(create_app(settings, services=services)), "alice")
    zip_path = make_large_regressor_zip(tmp_path, megabytes=101)
    size = zip_path.stat().st_size
    assert size > 100 * 1024 * 1024

    model_id = store_model(alice, zip_path, name="large")

    with postgres_engine.connect() as connection:
        chunks = connection.execute(select(func.count()).select_from(model_chunks)).scalar_one()
    assert chunks == -(-size // settings.chunk_bytes)
    content = alice.get(f"/omlmod/v1/models/{model_id}/content")
    assert len(content.content) == size
    assert hashlib.sha256(content.content).hexdigest() == hashlib.sha256(zip_path.read_bytes()).hexdigest()
