"""Services over a fresh SQLite database, each given a :class:`RecordingTransactions` factory."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from omlsvc.auth.store import UserStore
from omlsvc.config import Settings
from omlsvc.core.authorization import Principal
from omlsvc.db.engine import make_engine
from omlsvc.db.setup import init_schema
from omlsvc.db.transactions import Transactions
from omlsvc.deployment.service import DeploymentService
from omlsvc.repository.form import parse_model_form
from omlsvc.repository.rows import ModelRecord
from omlsvc.repository.service import ModelService
from tests import modelzoo
from tests.service.fakes import RecordingTransactions

ALICE = Principal("alice", ("developer",))
BOB = Principal("bob", ("developer",))


@pytest.fixture
def transactions(tmp_path: Path) -> Iterator[RecordingTransactions]:
    engine = make_engine(f"sqlite:///{tmp_path / 'omlsvc.db'}")
    init_schema(engine)
    real = Transactions(engine)
    with real(write=True) as uow:
        for principal in (ALICE, BOB):
            UserStore(uow.connection).add(principal.name, "-", principal.roles, datetime(2026, 1, 1))
        uow.commit()
    yield RecordingTransactions(real)
    engine.dispose()


@pytest.fixture
def models(transactions: RecordingTransactions, tmp_path: Path) -> ModelService:
    return ModelService(transactions, Settings.for_tests(tmp_path / "data"))  # type: ignore[arg-type]


@pytest.fixture
def deployments(transactions: RecordingTransactions) -> DeploymentService:
    return DeploymentService(transactions)  # type: ignore[arg-type]


def store(
    models: ModelService,
    owner: Principal,
    zoo: modelzoo.ZooModel,
    name: str = "house",
    *,
    shared: bool = False,
) -> ModelRecord:
    """Store ``zoo``'s package as ``owner`` would upload it."""
    upload = models.receive_upload(io.BytesIO(zoo.zip_path.read_bytes()))
    try:
        form = parse_model_form(
            {"modelName": name, "version": "1.0", "modelType": "ONNX", "shared": str(shared).lower()}
        )
        return models.store_model(owner, form, upload)
    finally:
        models.discard_upload(upload)
