"""Every bad token on every protected endpoint: 401 (or 404 for another user's private model), the
OML error body, and no data.

``tests/api/test_tokens.py`` shows each way a token is refused on one endpoint; here each refused
token is tried on all of them (a route that forgot its check would show up), after the fact
(a token refreshed for the full eight hours and then used), and on the token endpoints themselves.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import falcon.testing
import jwt
import pytest
from sqlalchemy import Engine

from omlsvc.config import Settings
from omlsvc.rest.app import create_app
from omlsvc.wiring import build_services
from tests import modelzoo
from tests.api.conftest import PASSWORD, login
from tests.api.forms import store_model
from tests.api.test_tokens import FakeClock, _write_rsa_pair
from tests.robustness.conftest import DEPLOYMENTS, MODELS, assert_error_body

TOKEN = "/omlusers/api/oauth2/v1/token"
REVOKE = "/omlusers/api/oauth2/v1/token/revoke"
SECRET_NAME = "alices_secret_model"
SCORE_BODY = {"inputRecords": [{"float_input": [[1.0, 2.0, 3.0]]}]}


@dataclass
class Setup:
    client: falcon.testing.TestClient
    clock: FakeClock
    model_id: str
    uri: str = "hidden_endpoint"

    def endpoints(self) -> list[tuple[str, str, dict[str, object] | None]]:
        """Every protected call, aimed at Alice's private model where it names one."""
        m, u = self.model_id, self.uri
        return [
            ("GET", "/omlmod/", None),
            ("GET", "/omlmod/v1", None),
            ("GET", "/omlmod/v1/api", None),
            ("GET", MODELS, None),
            ("GET", f"{MODELS}/{m}", None),
            ("POST", f"{MODELS}/{m}", {"namespace": "STOLEN"}),
            ("DELETE", f"{MODELS}/{m}", None),
            ("GET", f"{MODELS}/{m}/metadata", None),
            ("GET", f"{MODELS}/{m}/content", None),
            ("GET", DEPLOYMENTS, None),
            ("POST", DEPLOYMENTS, {"modelId": m, "uri": "hijacked"}),
            ("GET", f"{DEPLOYMENTS}/{u}", None),
            ("GET", f"{DEPLOYMENTS}/{u}/api", None),
            ("POST", f"{DEPLOYMENTS}/{u}/score", SCORE_BODY),
            ("DELETE", f"{DEPLOYMENTS}/{u}", None),
        ]


def _setup(settings: Settings, engine: Engine, tmp_path: Path, **overrides: object) -> Setup:
    clock = FakeClock()
    settings = Settings.for_tests(settings.data_dir, settings.database_url, **overrides)  # type: ignore[arg-type]
    services = build_services(settings, engine=engine, clock=clock)
    for name in ("alice", "bob"):
        services.auth.add_user(name, PASSWORD)
    client = falcon.testing.TestClient(create_app(settings, services=services))
    alice = login(client, "alice")
    model_id = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, name=SECRET_NAME)
    setup = Setup(client, clock, model_id)
    assert alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": setup.uri}).status_code == 201
    setup.alice_token = alice.token  # type: ignore[attr-defined]
    return setup


@pytest.fixture
def setup(settings: Settings, database: tuple[str, Engine], tmp_path: Path) -> Iterator[Setup]:
    yield _setup(settings, database[1], tmp_path)


def assert_refused_everywhere(
    setup: Setup, token: str | None, status: int = 401, code: str | None = None
) -> None:
    """``token`` gets ``status`` on every protected endpoint, and learns nothing."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    failures = []
    for method, path, body in setup.endpoints():
        if status == 404 and not (setup.model_id in path or setup.uri in path or body):
            continue  # lists and documents are open to every valid token
        result = setup.client.simulate_request(method, path, headers=headers, json=body)
        if result.status_code != status:
            failures.append(f"{method} {path}: {result.status_code} {result.text[:200]}")
            continue
        error = assert_error_body(result.json)
        if code is not None and error["code"] != code:
            failures.append(f"{method} {path}: code {error['code']}")
        if SECRET_NAME in result.text or "alice" in result.text:
            failures.append(f"{method} {path}: leaks {result.text[:200]}")
        if status == 401 and not result.headers.get("WWW-Authenticate", "").startswith("Bearer"):
            failures.append(f"{method} {path}: no WWW-Authenticate")
    assert not failures, "\n".join(failures)


def _refresh(setup: Setup, token: str) -> falcon.testing.Result:
    return setup.client.simulate_post(
        TOKEN,
        headers={"Authorization": f"Bearer {token}"},
        json={"grant_type": "refresh_token", "refresh_token": token},
    )


def _claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _forged(setup: Setup, how: str) -> str:
    token: str = setup.alice_token  # type: ignore[attr-defined]
    head, _, signature = token.split(".")
    claims = _claims(token)
    if how == "alg none":
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    if how == "alg none, no dot":
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}"
    if how == "subject changed":
        return f"{head}.{_b64({**claims, 'sub': 'bob'})}.{signature}"
    if how == "roles raised":
        return f"{head}.{_b64({**claims, 'roles': ['developer', 'admin']})}.{signature}"
    if how == "expiry extended":
        return f"{head}.{_b64({**claims, 'exp': int(claims['exp']) + 10**6})}.{signature}"  # type: ignore[call-overload]
    if how == "another secret":
        return jwt.encode(claims, "another-secret-of-the-same-length-xxxxxxxxxxxxxxxx", algorithm="HS256")
    if how == "HS384 with the right secret":
        return jwt.encode(claims, "test-secret-" + "x" * 40, algorithm="HS384")
    if how == "a header pointing at a key URL":
        return jwt.encode(
            claims,
            "k" * 40,
            algorithm="HS256",
            headers={"jku": "http://127.0.0.1:1/keys", "kid": "../../etc/passwd"},
        )
    if how == "no jti":
        return jwt.encode(
            {k: v for k, v in claims.items() if k != "jti"}, "test-secret-" + "x" * 40, algorithm="HS256"
        )
    if how == "issued before families and generations":
        old = {k: v for k, v in claims.items() if k not in ("fam", "gen")}
        return jwt.encode(old, "test-secret-" + "x" * 40, algorithm="HS256")
    if how == "generation raised":
        return f"{head}.{_b64({**claims, 'gen': int(claims['gen']) + 1})}.{signature}"  # type: ignore[call-overload]
    if how == "family changed":
        return f"{head}.{_b64({**claims, 'fam': 'f' * 32})}.{signature}"
    raise AssertionError(how)


FORGERIES = [
    "alg none",
    "alg none, no dot",
    "subject changed",
    "roles raised",
    "expiry extended",
    "another secret",
    "HS384 with the right secret",
    "a header pointing at a key URL",
    "no jti",
    "issued before families and generations",
    "generation raised",
    "family changed",
]


@pytest.mark.parametrize("how", FORGERIES)
def test_a_forged_token_is_refused_everywhere(setup: Setup, how: str) -> None:
    forged = _forged(setup, how)
    assert_refused_everywhere(setup, forged)
    assert _refresh(setup, forged).status_code == 401
    assert (
        setup.client.simulate_post(REVOKE, headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    )


def test_no_token_and_garbage_tokens_are_refused_everywhere(setup: Setup) -> None:
    assert_refused_everywhere(setup, None)
    for garbage in ("", "x", "a.b.c", "\u00e9" * 10, "Bearer", "e30.e30.", "." * 5000):
        assert_refused_everywhere(setup, garbage)


def test_an_expired_token_is_refused_everywhere_as_expired(setup: Setup) -> None:
    token = setup.alice_token  # type: ignore[attr-defined]
    setup.clock.now += 3600
    assert_refused_everywhere(setup, token, code="TOKEN_EXPIRED")
    assert _refresh(setup, token).status_code == 401


def test_a_revoked_token_is_refused_everywhere_at_once(setup: Setup) -> None:
    token = login(setup.client, "alice").token
    assert (
        setup.client.simulate_get(
            f"{MODELS}/{setup.model_id}", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
    assert setup.client.simulate_post(REVOKE, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert_refused_everywhere(setup, token)
    assert _refresh(setup, token).status_code == 401
    assert setup.client.simulate_post(REVOKE, headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_a_token_refreshed_before_its_login_was_revoked_is_refused_everywhere(setup: Setup) -> None:
    token = login(setup.client, "alice").token
    child = _refresh(setup, token).json["accessToken"]
    grandchild = _refresh(setup, child).json["accessToken"]
    assert setup.client.simulate_post(REVOKE, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for refreshed in (child, grandchild):
        assert_refused_everywhere(setup, refreshed)
        assert _refresh(setup, refreshed).status_code == 401


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda auth: auth.set_password("bob", "another password"), id="password"),
        pytest.param(
            lambda auth: (auth.set_disabled("bob"), auth.set_disabled("bob", False)), id="disable-enable"
        ),
        pytest.param(lambda auth: auth.set_role("bob", "admin"), id="role"),
    ],
)
def test_tokens_from_before_a_change_of_access_are_refused_everywhere(
    setup: Setup, settings: Settings, database: tuple[str, Engine], change: Callable[..., object]
) -> None:
    token = login(setup.client, "bob").token
    child = _refresh(setup, token).json["accessToken"]
    change(build_services(settings, engine=database[1]).auth)
    for earlier in (token, child):
        assert_refused_everywhere(setup, earlier)
        assert _refresh(setup, earlier).status_code == 401


def test_a_token_refreshed_for_eight_hours_ends_there(setup: Setup) -> None:
    token = setup.alice_token  # type: ignore[attr-defined]
    for _ in range(7):
        setup.clock.now += 3500
        result = _refresh(setup, token)
        assert result.status_code == 200, result.text
        token = result.json["accessToken"]
    setup.clock.now += 8 * 3600 - 7 * 3500  # exactly eight hours after the login
    assert_refused_everywhere(setup, token, code="TOKEN_EXPIRED")
    assert _refresh(setup, token).status_code == 401
    assert login(setup.client, "alice").token  # a new login starts a new eight hours


def test_a_disabled_users_token_is_refused_everywhere(
    setup: Setup, settings: Settings, database: tuple[str, Engine]
) -> None:
    token = login(setup.client, "bob").token
    services = build_services(settings, engine=database[1])
    services.auth.set_disabled("bob")
    assert_refused_everywhere(setup, token)


def test_another_users_valid_token_finds_nothing_of_a_private_model(setup: Setup) -> None:
    bob = login(setup.client, "bob")
    assert_refused_everywhere(setup, bob.token, status=404)
    listed = setup.client.simulate_get(MODELS, headers=bob.headers).json["items"]
    assert listed == []
    assert setup.client.simulate_get(DEPLOYMENTS, headers=bob.headers).json["items"] == []


def test_rs256_refuses_hs256_forgery_with_its_public_key_everywhere(
    settings: Settings, database: tuple[str, Engine], tmp_path: Path
) -> None:
    private, public, public_pem = _write_rsa_pair(tmp_path)
    setup = _setup(
        settings,
        database[1],
        tmp_path,
        jwt_private_key_file=private,
        jwt_public_key_file=public,
        jwt_secret=None,
    )
    claims = _claims(setup.alice_token)  # type: ignore[attr-defined]
    forger = jwt.api_jws.PyJWS()
    forger._algorithms["HS256"].prepare_key = lambda key: key  # type: ignore[method-assign]
    for payload in (claims, {**claims, "roles": ["developer", "admin"]}):
        confused = forger.encode(json.dumps(payload).encode(), public_pem, algorithm="HS256")
        assert_refused_everywhere(setup, confused)
    unsigned: Callable[[dict[str, object]], str] = lambda c: f"{_b64({'alg': 'none'})}.{_b64(c)}."  # noqa: E731
    assert_refused_everywhere(setup, unsigned(claims))
