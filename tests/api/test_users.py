"""``/omlmod/v1/users`` (issue 19): user accounts for admins over HTTP, through the same auth service
calls as ``omlsvc users``; for anyone else the resources do not exist."""

from __future__ import annotations

import falcon.testing
import pytest

from omlsvc.wiring import Services
from tests.api.conftest import PASSWORD, Caller, login

USERS = "/omlmod/v1/users"
MODELS = "/omlmod/v1/models"
NEW_PASSWORD = "another fine password"


def _add(admin: Caller, name: str = "carol", **fields: object) -> falcon.testing.Result:
    return admin.post(USERS, json={"name": name, "password": PASSWORD, **fields})


def test_an_admin_lists_users_without_their_password_hashes(admin: Caller) -> None:
    result = admin.get(USERS)
    assert result.status_code == 200, result.text
    users = {item["name"]: item for item in result.json["items"]}
    assert set(users) == {"admin", "alice", "bob"}
    assert users["admin"]["role"] == "admin" and users["admin"]["roles"] == ["developer", "admin"]
    assert users["alice"]["role"] == "developer" and users["alice"]["enabled"] is True
    assert "scrypt" not in result.text and "hash" not in result.text.lower()
    assert users["bob"]["links"][0]["href"].endswith(f"{USERS}/bob")


def test_an_added_user_signs_in_and_a_duplicate_is_a_conflict(
    client: falcon.testing.TestClient, admin: Caller
) -> None:
    result = _add(admin, role="developer", dbRole="carol_jobs")
    assert result.status_code == 201, result.text
    assert result.headers["Location"].endswith(f"{USERS}/carol")
    assert result.json["dbRole"] == "carol_jobs" and result.json["enabled"] is True
    carol = login(client, "carol")
    assert carol.get(MODELS).status_code == 200
    again = _add(admin, password="some other password")
    assert again.status_code == 409 and again.json["code"] == "CONFLICT", again.text
    assert admin.get(f"{USERS}/carol").json["name"] == "carol"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "1bad", "password": PASSWORD}, "name"),
        ({"name": "carol", "password": "short"}, "password"),
        ({"name": "carol", "password": "x" * 257}, "password"),
        ({"name": "carol", "password": PASSWORD, "role": "root"}, "role"),
        ({"name": "carol", "password": PASSWORD, "dbRole": "no spaces"}, "dbRole"),
        ({"name": "carol"}, "password"),
        ({"name": 7, "password": PASSWORD}, "name"),
        ({"name": "carol", "password": PASSWORD, "colour": "red"}, "colour"),
    ],
)
def test_an_invalid_new_user_is_a_400_naming_the_field(
    admin: Caller, body: dict[str, object], field: str
) -> None:
    result = admin.post(USERS, json=body)
    assert result.status_code == 400, result.text
    assert result.json["code"] == "INVALID_INPUT" and field in result.json["message"]
    assert admin.get(f"{USERS}/carol").status_code == 404


def test_disabling_ends_the_users_tokens_and_enabling_lets_them_sign_in_again(
    client: falcon.testing.TestClient, admin: Caller, alice: Caller
) -> None:
    assert alice.get(MODELS).status_code == 200
    result = admin.post(f"{USERS}/alice", json={"enabled": False})
    assert result.status_code == 200 and result.json["enabled"] is False, result.text
    refused = alice.get(MODELS)
    assert refused.status_code == 401, refused.text
    denied = client.simulate_post(
        "/omlusers/api/oauth2/v1/token",
        json={"grant_type": "password", "username": "alice", "password": PASSWORD},
    )
    assert denied.status_code == 401
    assert admin.post(f"{USERS}/alice", json={"enabled": True}).json["enabled"] is True
    assert alice.get(MODELS).status_code == 401  # enabling never revives the old sessions
    assert login(client, "alice").get(MODELS).status_code == 200


def test_a_password_reset_and_a_role_change_take_effect(
    client: falcon.testing.TestClient, admin: Caller, alice: Caller
) -> None:
    result = admin.post(f"{USERS}/alice", json={"password": NEW_PASSWORD, "role": "admin"})
    assert result.status_code == 200, result.text
    assert result.json["role"] == "admin"
    assert alice.get(MODELS).status_code == 401
    new_alice = login(client, "alice", NEW_PASSWORD)
    assert new_alice.get(USERS).status_code == 200  # now an admin
    assert admin.post(f"{USERS}/alice", json={"role": "developer"}).json["role"] == "developer"
    assert login(client, "alice", NEW_PASSWORD).get(USERS).status_code == 404


@pytest.mark.parametrize(
    "body",
    [{}, {"enabled": "no"}, {"role": "root"}, {"password": "short"}, {"nickname": "x"}],
)
def test_an_invalid_change_is_a_400(admin: Caller, body: dict[str, object]) -> None:
    result = admin.post(f"{USERS}/alice", json=body)
    assert result.status_code == 400 and result.json["code"] == "INVALID_INPUT", result.text


def test_an_unknown_user_is_404_and_an_admin_cannot_lock_themselves_out(admin: Caller) -> None:
    assert admin.get(f"{USERS}/nobody").status_code == 404
    assert admin.post(f"{USERS}/nobody", json={"enabled": False}).status_code == 404
    for change in ({"enabled": False}, {"role": "developer"}):
        result = admin.post(f"{USERS}/admin", json=change)
        assert result.status_code == 409 and result.json["code"] == "CONFLICT", result.text
    assert admin.get(USERS).status_code == 200


def test_for_a_developer_and_without_a_token_the_users_api_does_not_exist(
    client: falcon.testing.TestClient, alice: Caller, services: Services
) -> None:
    calls = [
        ("GET", USERS, None),
        ("POST", USERS, {"name": "mallory", "password": PASSWORD, "role": "admin"}),
        ("POST", USERS, {"garbage": True}),
        ("GET", f"{USERS}/bob", None),
        ("GET", f"{USERS}/nobody", None),
        ("POST", f"{USERS}/bob", {"enabled": False}),
        ("POST", f"{USERS}/alice", {"role": "admin"}),
    ]
    answers = set()
    for method, path, body in calls:
        mine = client.simulate_request(method, path, headers=alice.headers, json=body)
        assert mine.status_code == 404, (method, path, mine.text)
        answers.add(mine.text)
        anonymous = client.simulate_request(method, path, json=body)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
    assert len(answers) == 1  # bob and nobody answer alike: no user name is confirmed
    assert services.auth.find_user("mallory") is None
    bob = services.auth.find_user("bob")
    assert bob is not None and not bob.disabled
    assert services.auth.find_user("alice").roles == ("developer",)  # type: ignore[union-attr]
