"""Model use cases (``ModelService``) over a recording unit-of-work factory."""

from __future__ import annotations

from pathlib import Path

import pytest

from omlsvc.core.errors import Conflict, Forbidden, NotFound
from omlsvc.repository.service import ModelService
from tests import modelzoo
from tests.service.conftest import ALICE, BOB, store
from tests.service.fakes import RecordingTransactions


def test_a_stored_model_is_read_in_one_unit_and_written_in_another(
    models: ModelService, transactions: RecordingTransactions, tmp_path: Path
) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)

    record = store(models, ALICE, zoo)

    assert transactions.opened == ["read", "write"]  # the duplicate check, then row and content together
    assert transactions.announced == []  # nothing cached can hold a model that did not exist
    assert models.get_model(ALICE, record.id) == record
    assert b"".join(models.content_of(record.id)) == zoo.zip_path.read_bytes()


def test_a_private_model_is_hidden_from_other_users_until_granted(
    models: ModelService, transactions: RecordingTransactions, tmp_path: Path
) -> None:
    record = store(models, ALICE, modelzoo.make_regressor_zip(tmp_path))

    with pytest.raises(NotFound):
        models.get_model(BOB, record.id)
    models.grant(ALICE, record.id, {"user": "bob", "permission": "VIEW"})

    assert models.get_model(BOB, record.id).id == record.id
    assert transactions.announced == ["changed"]
    with pytest.raises(Forbidden):
        models.delete_model(BOB, record.id)


def test_the_same_name_and_version_twice_is_a_conflict(models: ModelService, tmp_path: Path) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    store(models, ALICE, zoo)

    with pytest.raises(Conflict):
        store(models, ALICE, zoo)
    assert store(models, BOB, zoo).owner == "bob"  # names are per owner


def test_a_change_or_a_deletion_is_announced_to_the_worker_caches(
    models: ModelService, transactions: RecordingTransactions, tmp_path: Path
) -> None:
    record = store(models, ALICE, modelzoo.make_regressor_zip(tmp_path))
    transactions.forget()

    models.update_model(ALICE, record.id, {"description": "prices"})
    models.delete_model(ALICE, record.id)

    assert transactions.announced == ["changed", "changed"]
    assert b"".join(models.content_of(record.id)) == b""  # a deleted model has no bytes left
