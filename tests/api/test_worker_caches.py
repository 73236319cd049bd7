"""Per-worker caches (verified tokens, deployments) through the HTTP API, on SQLite and PostgreSQL.

A repeated score costs no database round trip, yet a revocation, a disabled user, an undeploy or a
deleted model take effect at once in the worker that made the change and within one second in
every other worker: here a second app built on its own engine, as a second gunicorn worker is.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
from sqlalchemy import Engine, event

from omlsvc.config import Settings
from omlsvc.db.engine import make_engine
from omlsvc.rest.app import create_app
from omlsvc.wiring import Services, build_services
from tests import modelzoo
from tests.api.conftest import Caller, login
from tests.api.forms import store_model

DEPLOYMENTS = "/omlmod/v1/deployment"
REVOKE = "/omlusers/api/oauth2/v1/token/revoke"
#: The architecture's bound on how long any worker may act on what it cached.
WITHIN = 1.0


@pytest.fixture
def other_worker(settings: Settings, database: tuple[str, Engine]) -> Iterator[falcon.testing.TestClient]:
    """A second worker: same database and settings, its own engine, services and caches."""
    engine = make_engine(database[0])
    yield falcon.testing.TestClient(create_app(settings, services=build_services(settings, engine=engine)))
    engine.dispose()


@pytest.fixture
def house(alice: Caller, tmp_path: Path) -> dict[str, Any]:
    """A regressor deployed by alice at ``house``, and a body to score it with."""
    zoo = modelzoo.make_regressor_zip(tmp_path)
    model_id = store_model(alice, zoo.zip_path, name="house", shared="true")
    assert alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "house"}).status_code == 201
    return {
        "model_id": model_id,
        "body": {"inputRecords": [{"float_input": zoo.sample["float_input"].tolist()}]},
    }


def score(client: falcon.testing.TestClient, token: str, body: dict[str, Any]) -> falcon.testing.Result:
    return client.simulate_post(
        f"{DEPLOYMENTS}/house/score", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def eventually(check: Any) -> float:
    """Seconds until ``check()`` holds; fails if it does not within the one-second bound (plus slack
    for a slow test machine, reported separately so a real violation is still visible)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < WITHIN + 0.5, "not seen within a second"
        time.sleep(0.05)
    return time.monotonic() - started


def test_repeated_scores_make_no_database_round_trip(
    alice: Caller, house: dict[str, Any], database: tuple[str, Engine]
) -> None:
    assert score(alice.client, alice.token, house["body"]).status_code == 200
    statements: list[str] = []

    def seen(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()).lower())

    event.listen(database[1], "before_cursor_execute", seen)
    try:
        for _ in range(20):
            assert score(alice.client, alice.token, house["body"]).status_code == 200
    finally:
        event.remove(database[1], "before_cursor_execute", seen)
    # nothing but the change-counter poll (at most twice a second), never a query per request
    queries = [s for s in statements if s not in ("begin", "begin immediate")]
    assert all("from changes" in query for query in queries), queries
    assert len(queries) <= 2, queries


def test_a_revoked_token_is_refused_by_every_worker_within_a_second(
    client: falcon.testing.TestClient, other_worker: falcon.testing.TestClient, house: dict[str, Any]
) -> None:
    bob = login(client, "bob")
    assert score(other_worker, bob.token, house["body"]).status_code == 200  # cached there now
    assert bob.post(REVOKE, headers={"Content-Type": "application/json"}).status_code == 200
    assert score(client, bob.token, house["body"]).status_code == 401  # this worker: at once
    eventually(lambda: score(other_worker, bob.token, house["body"]).status_code == 401)


def test_a_disabled_users_token_is_refused_by_every_worker_within_a_second(
    client: falcon.testing.TestClient,
    other_worker: falcon.testing.TestClient,
    services: Services,
    house: dict[str, Any],
) -> None:
    bob = login(client, "bob")
    assert score(other_worker, bob.token, house["body"]).status_code == 200
    services.auth.set_disabled("bob")
    assert score(client, bob.token, house["body"]).status_code == 401
    eventually(lambda: score(other_worker, bob.token, house["body"]).status_code == 401)


def test_an_undeploy_is_seen_by_every_worker_within_a_second(
    alice: Caller, other_worker: falcon.testing.TestClient, house: dict[str, Any]
) -> None:
    assert score(other_worker, alice.token, house["body"]).status_code == 200
    assert alice.delete(f"{DEPLOYMENTS}/house").status_code == 204
    assert score(alice.client, alice.token, house["body"]).status_code == 404
    eventually(lambda: score(other_worker, alice.token, house["body"]).status_code == 404)


def test_a_redeployed_uri_scores_the_new_model_everywhere_within_a_second(
    alice: Caller, other_worker: falcon.testing.TestClient, house: dict[str, Any], tmp_path: Path
) -> None:
    assert "regression" in score(other_worker, alice.token, house["body"]).json["scoringResults"][0]
    assert alice.delete(f"{DEPLOYMENTS}/house").status_code == 204
    classifier = modelzoo.make_zipmap_classifier_zip(tmp_path)
    model_id = store_model(alice, classifier.zip_path, name="iris")
    assert alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "house"}).status_code == 201
    body = {"inputRecords": [{"float_input": classifier.sample["float_input"].tolist()}]}

    def classifies() -> bool:
        result = score(other_worker, alice.token, body)
        return result.status_code == 200 and "classifications" in result.json["scoringResults"][0]

    eventually(classifies)


def test_a_deploy_readies_the_model_in_the_deploying_worker(
    alice: Caller, services: Services, tmp_path: Path
) -> None:
    zoo = modelzoo.make_regressor_zip(tmp_path)
    model_id = store_model(alice, zoo.zip_path, name="ready")
    assert len(services.scoring.cache) == 0
    assert alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "ready"}).status_code == 201
    assert len(services.scoring.cache) == 1  # files fetched and session built before the 201
