"""Sharing a model with named users (``/omlmod/v1/models/{modelId}/grants``), on SQLite and PostgreSQL.

Alice keeps a private iris classifier deployed at ``iris``. Granting bob VIEW lets him list, read,
download and score it and use it in a job, but not change, delete, deploy, undeploy or grant it;
taking the grant back hides it from him again, at once in this worker and within a second in every
other one. Carol, who holds no grant, never sees the model nor learns whom it is granted to.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
from sqlalchemy import Engine, func, select

from omlsvc.config import Settings
from omlsvc.db.engine import make_engine
from omlsvc.db.schema import model_grants
from omlsvc.rest.app import create_app
from omlsvc.wiring import Services, build_services
from tests import modelzoo
from tests.api.conftest import PASSWORD, Caller, login
from tests.api.forms import store_model
from tests.api.test_worker_caches import eventually
from tests.jobdata import InputTables, grant_table

MODELS = "/omlmod/v1/models"
DEPLOYMENTS = "/omlmod/v1/deployment"
JOBS = "/omlmod/v1/jobs"


@pytest.fixture
def carol(client: falcon.testing.TestClient, services: Services) -> Caller:
    services.auth.add_user("carol", PASSWORD)
    return login(client, "carol")


@pytest.fixture
def iris(alice: Caller, tmp_path: Path) -> dict[str, Any]:
    """Alice's private classifier, deployed at ``iris``, and a body to score it with."""
    zoo = modelzoo.make_zipmap_classifier_zip(tmp_path)
    model_id = store_model(alice, zoo.zip_path, name="iris")
    assert alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "iris"}).status_code == 201
    return {
        "model_id": model_id,
        "grants": f"{MODELS}/{model_id}/grants",
        "zip": zoo.zip_path.read_bytes(),
        "body": {"inputRecords": [{"float_input": zoo.sample["float_input"].tolist()}]},
    }


@pytest.fixture
def other_worker(settings: Settings, database: tuple[str, Engine]) -> Iterator[falcon.testing.TestClient]:
    """A second worker: same database, its own engine, services and caches."""
    engine = make_engine(database[0])
    yield falcon.testing.TestClient(create_app(settings, services=build_services(settings, engine=engine)))
    engine.dispose()


def grant(caller: Caller, iris: dict[str, Any], user: str, **extra: object) -> falcon.testing.Result:
    return caller.post(iris["grants"], json={"user": user, "permission": "VIEW", **extra})


def listed(caller: Caller, path: str, key: str, value: str) -> bool:
    result = caller.get(path)
    assert result.status_code == 200, result.text
    return any(item[key] == value for item in result.json["items"])


def score(client: falcon.testing.TestClient, caller: Caller, iris: dict[str, Any]) -> int:
    return client.simulate_post(
        f"{DEPLOYMENTS}/iris/score", json=iris["body"], headers=caller.headers
    ).status_code


def test_a_viewer_lists_reads_downloads_and_scores_a_model_granted_to_them(
    alice: Caller, bob: Caller, iris: dict[str, Any]
) -> None:
    model_id = iris["model_id"]
    assert bob.get(f"{MODELS}/{model_id}").status_code == 404
    assert score(bob.client, bob, iris) == 404

    result = grant(alice, iris, "bob")
    assert result.status_code == 201, result.text
    assert result.json["username"] == "bob"
    assert result.json["permission"] == "VIEW"
    assert result.json["grantedBy"] == "alice"
    assert result.json["grantedOn"].endswith("Z")

    assert listed(bob, MODELS, "modelId", model_id)
    assert listed(bob, DEPLOYMENTS, "uri", "iris")
    details = bob.get(f"{MODELS}/{model_id}")
    assert details.status_code == 200
    assert details.json["shared"] is False
    assert bob.get(f"{MODELS}/{model_id}/metadata").status_code == 200
    assert bob.get(f"{MODELS}/{model_id}/content").content == iris["zip"]
    assert bob.get(f"{DEPLOYMENTS}/iris").status_code == 200
    assert bob.get(f"{DEPLOYMENTS}/iris/api").status_code == 200
    scored = bob.post(f"{DEPLOYMENTS}/iris/score", json=iris["body"])
    assert scored.status_code == 200, scored.text
    assert len(scored.json["scoringResults"]) == len(iris["body"]["inputRecords"][0]["float_input"])


def test_a_viewer_may_use_the_model_in_a_job(
    alice: Caller,
    bob: Caller,
    iris: dict[str, Any],
    database: tuple[str, Engine],
    db_roles: dict[str, str | None],
) -> None:
    tables = InputTables(database[1])
    try:
        x, _ = modelzoo._iris()
        table = tables.features("iris_in", x[:10])
        grant_table(database[1], table, "bob", db_roles.get("bob"))  # the input table, as an admin would
        body = {
            "jobProperties": {
                "jobName": "BOBS_IRIS",
                "jobType": "MODEL_SCORING",
                "modelId": iris["model_id"],
                "inputData": table,
                "outputData": "BOBS_IRIS_OUT",
                "supplementalColumnNames": ["ID", "SPECIES"],
            }
        }
        refused = bob.post(JOBS, json=body)
        assert refused.status_code == 400
        assert "does not exist" in refused.json["message"]
        assert grant(alice, iris, "bob").status_code == 201
        created = bob.post(JOBS, json=body)
        assert created.status_code == 201, created.text
        assert bob.get(f"{JOBS}/{created.json['jobId']}").status_code == 200
    finally:
        tables.drop_all()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "{models}/{id}", {"namespace": "BOBS"}),
        ("DELETE", "{models}/{id}", None),
        ("DELETE", "{deployments}/iris", None),
        ("POST", "{models}/{id}/grants", {"user": "carol", "permission": "VIEW"}),
        ("GET", "{models}/{id}/grants", None),
        ("DELETE", "{models}/{id}/grants/bob", None),
    ],
)
def test_a_viewer_may_not_change_undeploy_delete_or_share_the_model(
    alice: Caller,
    bob: Caller,
    carol: Caller,
    iris: dict[str, Any],
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    assert grant(alice, iris, "bob").status_code == 201
    target = path.format(models=MODELS, deployments=DEPLOYMENTS, id=iris["model_id"])
    kwargs: dict[str, Any] = {} if body is None else {"json": body}
    result = bob.client.simulate_request(method, target, headers=bob.headers, **kwargs)
    assert result.status_code == 403, result.text
    assert result.json["code"] == "FORBIDDEN"
    assert alice.get(f"{MODELS}/{iris['model_id']}").json["users"] == [
        {"username": "alice", "permission": "OWN"},
        {"username": "bob", "permission": "VIEW"},
    ]
    assert score(alice.client, alice, iris) == 200


def test_a_viewer_may_not_deploy_the_model(alice: Caller, bob: Caller, tmp_path: Path) -> None:
    model_id = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, name="house")
    assert alice.post(f"{MODELS}/{model_id}/grants", json={"user": "bob"}).status_code == 201
    result = bob.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "bobs_house"})
    assert result.status_code == 403
    assert bob.get(f"{DEPLOYMENTS}/bobs_house").status_code == 404


def test_a_revoked_grant_hides_the_model_at_once_here_and_within_a_second_in_every_worker(
    alice: Caller, bob: Caller, iris: dict[str, Any], other_worker: falcon.testing.TestClient
) -> None:
    assert grant(alice, iris, "bob").status_code == 201
    assert score(other_worker, bob, iris) == 200  # the deployment is cached in that worker now
    assert score(bob.client, bob, iris) == 200

    assert alice.delete(f"{iris['grants']}/bob").status_code == 204

    assert score(bob.client, bob, iris) == 404  # this worker: at once
    assert bob.get(f"{MODELS}/{iris['model_id']}").status_code == 404
    assert bob.get(f"{MODELS}/{iris['model_id']}/content").status_code == 404
    assert not listed(bob, MODELS, "modelId", iris["model_id"])
    assert not listed(bob, DEPLOYMENTS, "uri", "iris")
    eventually(lambda: score(other_worker, bob, iris) == 404)
    assert alice.delete(f"{iris['grants']}/bob").status_code == 404  # nothing left to revoke


def test_a_new_grant_reaches_every_worker_within_a_second(
    alice: Caller, bob: Caller, iris: dict[str, Any], other_worker: falcon.testing.TestClient
) -> None:
    assert score(other_worker, bob, iris) == 404
    assert score(other_worker, alice, iris) == 200  # the deployment is cached there, without bob
    assert grant(alice, iris, "bob").status_code == 201
    eventually(lambda: score(other_worker, bob, iris) == 200)


def test_the_owner_sees_every_grant_a_viewer_only_the_owner_and_themself(
    alice: Caller, bob: Caller, carol: Caller, admin: Caller, iris: dict[str, Any]
) -> None:
    model_id = iris["model_id"]
    assert grant(alice, iris, "carol").status_code == 201
    assert grant(alice, iris, "bob").status_code == 201
    everyone = [
        {"username": "alice", "permission": "OWN"},
        {"username": "bob", "permission": "VIEW"},
        {"username": "carol", "permission": "VIEW"},
    ]
    assert alice.get(f"{MODELS}/{model_id}").json["users"] == everyone
    assert admin.get(f"{MODELS}/{model_id}").json["users"] == everyone
    (entry,) = [m for m in alice.get(MODELS).json["items"] if m["modelId"] == model_id]
    assert entry["users"] == everyone

    for viewer in (bob, carol):
        own_view = [
            {"username": "alice", "permission": "OWN"},
            {"username": viewer.name, "permission": "VIEW"},
        ]
        assert viewer.get(f"{MODELS}/{model_id}").json["users"] == own_view
        (entry,) = [m for m in viewer.get(MODELS).json["items"] if m["modelId"] == model_id]
        assert entry["users"] == own_view

    grants = alice.get(iris["grants"])
    assert grants.status_code == 200
    assert [(g["username"], g["permission"], g["grantedBy"]) for g in grants.json["items"]] == [
        ("bob", "VIEW", "alice"),
        ("carol", "VIEW", "alice"),
    ]
    assert admin.get(iris["grants"]).json["items"] == grants.json["items"]


def test_someone_without_a_grant_never_sees_the_model_nor_its_viewers(
    alice: Caller, bob: Caller, carol: Caller, iris: dict[str, Any]
) -> None:
    model_id = iris["model_id"]
    assert grant(alice, iris, "bob").status_code == 201
    for path in (
        f"{MODELS}/{model_id}",
        f"{MODELS}/{model_id}/content",
        iris["grants"],
        f"{DEPLOYMENTS}/iris",
    ):
        result = carol.get(path)
        assert result.status_code == 404, path
        assert "bob" not in result.text
    assert score(carol.client, carol, iris) == 404
    assert not listed(carol, MODELS, "modelId", model_id)
    assert carol.delete(f"{iris['grants']}/bob").status_code == 404

    # shared with everyone, carol sees the model, and still only its owner among its users
    shared_id = store_model(alice, iris["zip"], name="iris_shared", shared="true")
    assert alice.post(f"{MODELS}/{shared_id}/grants", json={"user": "bob"}).status_code == 201
    details = carol.get(f"{MODELS}/{shared_id}")
    assert details.status_code == 200
    assert details.json["users"] == [{"username": "alice", "permission": "OWN"}]
    assert "bob" not in carol.get(MODELS).text
    assert carol.get(f"{MODELS}/{shared_id}/grants").status_code == 403


def test_granting_twice_changes_nothing(alice: Caller, bob: Caller, iris: dict[str, Any]) -> None:
    first = grant(alice, iris, "bob")
    again = grant(alice, iris, "bob")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    assert len(alice.get(iris["grants"]).json["items"]) == 1


def test_an_admin_may_grant_and_revoke_on_anyones_model(
    alice: Caller, bob: Caller, admin: Caller, iris: dict[str, Any]
) -> None:
    result = grant(admin, iris, "bob")
    assert result.status_code == 201
    assert result.json["grantedBy"] == "admin"
    assert bob.get(f"{MODELS}/{iris['model_id']}").status_code == 200
    assert admin.delete(f"{iris['grants']}/bob").status_code == 204
    assert bob.get(f"{MODELS}/{iris['model_id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "problem"),
    [
        ({"user": "nobody", "permission": "VIEW"}, 404, "No user nobody"),
        ({"user": "alice", "permission": "VIEW"}, 400, "owns model"),
        ({"user": "bob", "permission": "OWN"}, 400, "permission"),
        ({"user": "bob", "permission": "view"}, 400, "permission"),
        ({"user": "bob", "permission": "VIEW", "expires": "never"}, 400, "expires"),
        ({"permission": "VIEW"}, 400, "user is required"),
        ({"user": "bob\n", "permission": "VIEW"}, 400, "user is required"),
        ({"user": 7}, 400, "user is required"),
        ({"user": "b" * 129}, 400, "user is required"),
    ],
)
def test_a_grant_names_an_existing_user_other_than_the_owner_and_a_known_permission(
    alice: Caller, iris: dict[str, Any], body: dict[str, object], status: int, problem: str
) -> None:
    result = alice.post(iris["grants"], json=body)
    assert result.status_code == status, result.text
    assert problem in result.json["message"]
    assert alice.get(iris["grants"]).json["items"] == []


def test_a_grant_without_a_permission_is_a_view_grant(
    alice: Caller, bob: Caller, iris: dict[str, Any]
) -> None:
    result = alice.post(iris["grants"], json={"user": "bob"})
    assert result.status_code == 201
    assert result.json["permission"] == "VIEW"


def test_grants_end_with_their_model(
    alice: Caller, bob: Caller, tmp_path: Path, database: tuple[str, Engine]
) -> None:
    model_id = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, name="house")
    assert alice.post(f"{MODELS}/{model_id}/grants", json={"user": "bob"}).status_code == 201
    assert grant_rows(database[1]) == 1
    assert alice.delete(f"{MODELS}/{model_id}").status_code == 204
    assert bob.get(f"{MODELS}/{model_id}").status_code == 404
    assert grant_rows(database[1]) == 0


def grant_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(model_grants)).scalar() or 0)


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", "/grants"), ("POST", "/grants"), ("DELETE", "/grants/bob")]
)
def test_the_grants_endpoints_need_a_token(
    client: falcon.testing.TestClient, iris: dict[str, Any], method: str, suffix: str
) -> None:
    result = client.simulate_request(method, f"{MODELS}/{iris['model_id']}{suffix}", json={"user": "bob"})
    assert result.status_code == 401
    assert result.json["code"] == "UNAUTHORIZED"
