"""Shared pieces of the robustness suite: the OML error shape, leftovers, and a seeded world.

Hypothesis (used by schemathesis) keeps its example database and constants cache in a private
temporary folder, never in the checkout.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import falcon.testing
import pytest
from hypothesis.configuration import set_hypothesis_home_dir
from sqlalchemy import Engine, func, select

from omlsvc.config import Settings
from omlsvc.db.schema import deployments, model_chunks, models
from tests import modelzoo
from tests.api.conftest import Caller, admin, alice, bob, client, login, services  # noqa: F401 - fixtures shared with tests/api
from tests.api.forms import store_model

set_hypothesis_home_dir(tempfile.mkdtemp(prefix="omlsvc-hypothesis-"))

DEPLOYMENTS = "/omlmod/v1/deployment"
MODELS = "/omlmod/v1/models"
ERROR_KEYS = {"code", "message", "details"}


def assert_oml_error(result: falcon.testing.Result, *statuses: int) -> dict[str, object]:
    """The response is an error in the OML shape (``{"code", "message"}``, optional ``details``)."""
    assert result.status_code in statuses, (result.status_code, result.text[:500])
    return assert_error_body(result.json)


def assert_error_body(body: object) -> dict[str, object]:
    assert isinstance(body, dict), body
    assert {"code", "message"} <= set(body) <= ERROR_KEYS, body
    assert isinstance(body["code"], str) and body["code"].isupper() and body["code"], body
    assert isinstance(body["message"], str) and body["message"], body
    return body


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table that a model or deployment writes."""
    with engine.connect() as connection:
        return {
            table.name: int(connection.execute(select(func.count()).select_from(table)).scalar() or 0)
            for table in (models, model_chunks, deployments)
        }


def scratch_files(settings: Settings) -> list[str]:
    """What is left in ``<data_dir>/tmp``, where uploads are spooled and validated."""
    scratch = settings.data_dir / "tmp"
    return sorted(str(p.relative_to(scratch)) for p in scratch.rglob("*")) if scratch.exists() else []


@dataclass(frozen=True)
class World:
    """Alice's models: one shared and deployed, one private and deployed, one private and idle."""

    alice: Caller
    shared_id: str
    private_id: str
    idle_id: str
    shared_uri: str = "shared_iris"
    private_uri: str = "private_iris"


def seed_world(owner: Caller, directory: Path) -> World:
    zoo = modelzoo.make_zipmap_classifier_zip(directory)
    shared_id = store_model(owner, zoo.zip_path, name="iris", version="1.0", shared="true")
    private_id = store_model(owner, zoo.zip_path, name="iris", version="2.0")
    idle_id = store_model(owner, zoo.zip_path, name="iris", version="3.0")
    world = World(owner, shared_id, private_id, idle_id)
    for model_id, uri in ((shared_id, world.shared_uri), (private_id, world.private_uri)):
        result = owner.post(DEPLOYMENTS, json={"modelId": model_id, "uri": uri})
        assert result.status_code == 201, result.text
    return world


@pytest.fixture
def world(client: falcon.testing.TestClient, tmp_path: Path) -> Iterator[World]:  # noqa: F811 - the fixture
    yield seed_world(login(client, "alice"), tmp_path)
