"""Sessions end when the user's access ends.

A login starts a *family* of tokens: every token refreshed from it belongs to the same family, and
revoking any of them ends them all. A password change, disabling (even if the user is enabled again
later) and a role change end every token issued before it, at once in the worker that made the change
and within a second in every other worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import falcon.testing
import jwt
import pytest
from sqlalchemy import Engine

from omlsvc.config import Settings
from omlsvc.db.engine import make_engine
from omlsvc.rest.app import create_app
from omlsvc.wiring import Services, build_services
from tests.api.conftest import PASSWORD, Caller, login

TOKEN = "/omlusers/api/oauth2/v1/token"
REVOKE = "/omlusers/api/oauth2/v1/token/revoke"
PROTECTED = "/omlmod/v1/models"
NEW_PASSWORD = "a brand new password"
#: The architecture's bound on how long any worker may act on what it cached.
WITHIN = 1.0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def works(client: falcon.testing.TestClient, token: str) -> bool:
    status = client.simulate_get(PROTECTED, headers=bearer(token)).status_code
    assert status in (200, 401), status
    return status == 200


def refreshed(client: falcon.testing.TestClient, token: str) -> falcon.testing.Result:
    return client.simulate_post(TOKEN, json={"grant_type": "refresh_token", "refresh_token": token})


def refresh(client: falcon.testing.TestClient, token: str) -> str:
    result = refreshed(client, token)
    assert result.status_code == 200, result.text
    return str(result.json["accessToken"])


def revoke(client: falcon.testing.TestClient, token: str) -> None:
    assert client.simulate_post(REVOKE, headers=bearer(token)).status_code == 200


def password_login(client: falcon.testing.TestClient, name: str, password: str) -> int:
    return client.simulate_post(
        TOKEN, json={"grant_type": "password", "username": name, "password": password}
    ).status_code


# -- token families --------------------------------------------------------------------------------


def test_revoking_a_login_token_ends_every_token_refreshed_from_it(
    client: falcon.testing.TestClient, alice: Caller
) -> None:
    child = refresh(client, alice.token)
    grandchild = refresh(client, child)
    assert works(client, grandchild)
    revoke(client, alice.token)
    assert not works(client, child)
    assert not works(client, grandchild)
    assert refreshed(client, grandchild).status_code == 401
    assert refreshed(client, child).status_code == 401


def test_revoking_a_refreshed_token_ends_its_parent_and_siblings_too(
    client: falcon.testing.TestClient, alice: Caller
) -> None:
    first, second = refresh(client, alice.token), refresh(client, alice.token)
    revoke(client, second)
    for token in (alice.token, first, second):
        assert not works(client, token)
        assert refreshed(client, token).status_code == 401


def test_revoking_one_login_leaves_the_users_other_logins_alone(
    client: falcon.testing.TestClient,
) -> None:
    laptop, phone = login(client, "alice"), login(client, "alice")
    revoke(client, refresh(client, laptop.token))
    assert not works(client, laptop.token)
    assert works(client, phone.token)
    assert works(client, refresh(client, phone.token))


# -- a change of the user's access ends every earlier token ----------------------------------------


def test_a_password_change_ends_every_earlier_token(
    client: falcon.testing.TestClient, services: Services, alice: Caller
) -> None:
    child = refresh(client, alice.token)
    services.auth.set_password("alice", NEW_PASSWORD)
    for token in (alice.token, child):
        assert not works(client, token)
        assert refreshed(client, token).status_code == 401
    assert password_login(client, "alice", PASSWORD) == 401
    assert works(client, login(client, "alice", NEW_PASSWORD).token)


def test_disabling_and_enabling_again_does_not_bring_old_tokens_back(
    client: falcon.testing.TestClient, services: Services, alice: Caller
) -> None:
    child = refresh(client, alice.token)
    services.auth.set_disabled("alice")
    services.auth.set_disabled("alice", False)
    for token in (alice.token, child):
        assert not works(client, token)
        assert refreshed(client, token).status_code == 401
    assert works(client, login(client, "alice").token)


def test_a_role_change_ends_every_earlier_token(
    client: falcon.testing.TestClient, services: Services, alice: Caller
) -> None:
    services.auth.set_role("alice", "admin")
    assert not works(client, alice.token)
    assert refreshed(client, alice.token).status_code == 401
    promoted = login(client, "alice")
    assert jwt.decode(promoted.token, options={"verify_signature": False})["roles"] == ["developer", "admin"]
    services.auth.set_role("alice", "developer")
    assert not works(client, promoted.token)


def test_a_role_change_to_an_unknown_role_or_user_is_refused(services: Services) -> None:
    from omlsvc.core.errors import InvalidInput, NotFound

    with pytest.raises(InvalidInput):
        services.auth.set_role("alice", "root")
    with pytest.raises(NotFound):
        services.auth.set_role("nobody", "admin")


def test_other_users_tokens_survive_a_change_to_alice(
    client: falcon.testing.TestClient, services: Services, bob: Caller
) -> None:
    services.auth.set_password("alice", NEW_PASSWORD)
    services.auth.set_role("alice", "admin")
    assert works(client, bob.token)


@pytest.mark.parametrize("missing", ["fam", "gen"])
def test_a_token_without_family_or_generation_is_refused(
    client: falcon.testing.TestClient, settings: Settings, alice: Caller, missing: str
) -> None:
    """Tokens issued before sessions had families and generations: validly signed, still refused."""
    claims = jwt.decode(alice.token, options={"verify_signature": False})
    del claims[missing]
    assert settings.jwt_secret is not None
    old = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
    assert not works(client, old)
    assert refreshed(client, old).status_code == 401
    assert client.simulate_post(REVOKE, headers=bearer(old)).status_code == 401


# -- in every worker within a second ---------------------------------------------------------------


@pytest.fixture
def other_worker(settings: Settings, database: tuple[str, Engine]) -> Iterator[falcon.testing.TestClient]:
    """A second worker: same database and settings, its own engine, services and caches."""
    engine = make_engine(database[0])
    yield falcon.testing.TestClient(create_app(settings, services=build_services(settings, engine=engine)))
    engine.dispose()


def within_a_second(check: object) -> None:
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - started < WITHIN + 0.5, "not seen within a second"
        time.sleep(0.05)


def test_a_revoked_family_is_refused_by_every_worker_within_a_second(
    client: falcon.testing.TestClient, other_worker: falcon.testing.TestClient, alice: Caller
) -> None:
    child = refresh(client, alice.token)
    assert works(other_worker, child)  # cached there now
    revoke(client, alice.token)
    assert not works(client, child)
    within_a_second(lambda: not works(other_worker, child))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda auth: auth.set_password("alice", NEW_PASSWORD), id="password"),
        pytest.param(
            lambda auth: (auth.set_disabled("alice"), auth.set_disabled("alice", False)), id="disable-enable"
        ),
        pytest.param(lambda auth: auth.set_role("alice", "admin"), id="role"),
    ],
)
def test_a_change_of_access_is_seen_by_every_worker_within_a_second(
    client: falcon.testing.TestClient,
    other_worker: falcon.testing.TestClient,
    services: Services,
    alice: Caller,
    change: object,
) -> None:
    assert works(other_worker, alice.token)  # cached there now
    change(services.auth)  # type: ignore[operator]
    assert not works(client, alice.token)
    within_a_second(lambda: not works(other_worker, alice.token))
