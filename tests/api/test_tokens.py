"""Tokens, as in OML Services: obtain, refresh (up to 8 h after login), revoke; and every way a
token can be refused on ``/omlmod/**`` (401 with the OML error body)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import falcon.testing
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Engine

from omlsvc.config import Settings
from omlsvc.rest.app import create_app
from omlsvc.wiring import build_services
from tests.api.conftest import PASSWORD, login

TOKEN = "/omlusers/api/oauth2/v1/token"
REVOKE = "/omlusers/api/oauth2/v1/token/revoke"
PROTECTED = "/omlmod/v1"


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_unauthorized(result: falcon.testing.Result, code: str = "UNAUTHORIZED") -> None:
    assert result.status_code == 401, result.text
    assert result.json["code"] == code
    assert isinstance(result.json["message"], str) and result.json["message"]
    assert result.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_is_obtained_with_oracles_json_body(client: falcon.testing.TestClient) -> None:
    result = client.simulate_post(
        TOKEN,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        body='{"grant_type":"password","username":"alice","password":"' + PASSWORD + '"}',
    )
    assert result.status_code == 200
    assert result.json["expiresIn"] == 3600
    assert result.json["tokenType"] == "Bearer"
    assert client.simulate_get(PROTECTED, headers=bearer(result.json["accessToken"])).status_code == 200
    assert "no-store" in result.headers["Cache-Control"]
    assert result.headers["Pragma"] == "no-cache"


def test_a_token_is_obtained_with_an_oauth_form_post(client: falcon.testing.TestClient) -> None:
    result = client.simulate_post(
        TOKEN,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=f"grant_type=password&username=alice&password={PASSWORD.replace(' ', '+')}",
    )
    assert result.status_code == 200
    assert result.json["tokenType"] == "Bearer"


def test_unknown_user_and_wrong_password_are_refused_alike(client: falcon.testing.TestClient) -> None:
    wrong = client.simulate_post(
        TOKEN, json={"grant_type": "password", "username": "alice", "password": "nope-nope"}
    )
    unknown = client.simulate_post(
        TOKEN, json={"grant_type": "password", "username": "mallory", "password": "x" * 9}
    )
    assert_unauthorized(wrong)
    assert wrong.json == unknown.json


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"grant_type": "client_credentials"},
        {"grant_type": "password", "username": "alice"},
        {"grant_type": "password", "username": 7, "password": PASSWORD},
    ],
)
def test_a_token_request_without_a_valid_grant_is_a_bad_request(
    client: falcon.testing.TestClient, body: dict
) -> None:
    result = client.simulate_post(TOKEN, json=body)
    assert result.status_code == 400
    assert result.json["code"] == "INVALID_INPUT"


def test_refresh_sends_the_current_token_and_gets_a_new_one(client: falcon.testing.TestClient) -> None:
    alice = login(client, "alice")
    result = client.simulate_post(
        TOKEN, headers=bearer(alice.token), json={"grant_type": "refresh_token", "refresh_token": alice.token}
    )
    assert result.status_code == 200
    assert result.json["accessToken"] != alice.token
    assert result.json["expiresIn"] == 3600
    assert client.simulate_get(PROTECTED, headers=bearer(result.json["accessToken"])).status_code == 200


def test_refresh_accepts_the_token_from_the_authorization_header_alone(
    client: falcon.testing.TestClient,
) -> None:
    alice = login(client, "alice")
    result = client.simulate_post(TOKEN, headers=bearer(alice.token), json={"grant_type": "refresh_token"})
    assert result.status_code == 200


def test_revoke_answers_ok_and_the_token_stops_working(client: falcon.testing.TestClient) -> None:
    alice = login(client, "alice")
    result = client.simulate_post(REVOKE, headers={**bearer(alice.token), "Content-Type": "application/json"})
    assert result.status_code == 200
    assert result.json == {"status": "ok"}
    assert_unauthorized(client.simulate_get(PROTECTED, headers=bearer(alice.token)))
    refresh = client.simulate_post(TOKEN, json={"grant_type": "refresh_token", "refresh_token": alice.token})
    assert_unauthorized(refresh)
    other = login(client, "alice")
    assert client.simulate_get(PROTECTED, headers=bearer(other.token)).status_code == 200


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clocked_client(
    settings: Settings, database: tuple[str, Engine], clock: FakeClock
) -> falcon.testing.TestClient:
    services = build_services(settings, engine=database[1], clock=clock)
    services.auth.add_user("alice", PASSWORD)
    return falcon.testing.TestClient(create_app(settings, services=services))


def test_an_expired_token_is_refused_with_token_expired(
    clocked_client: falcon.testing.TestClient, clock: FakeClock
) -> None:
    alice = login(clocked_client, "alice")
    clock.now += 3600
    result = clocked_client.simulate_get(PROTECTED, headers=bearer(alice.token))
    assert_unauthorized(result, code="TOKEN_EXPIRED")
    assert "expired" in result.json["message"]


def test_each_refresh_extends_by_an_hour_until_eight_hours_after_login(
    clocked_client: falcon.testing.TestClient, clock: FakeClock
) -> None:
    token = login(clocked_client, "alice").token
    for _ in range(8):
        clock.now += 3599
        result = clocked_client.simulate_post(
            TOKEN, json={"grant_type": "refresh_token", "refresh_token": token}
        )
        assert result.status_code == 200, result.text
        token = result.json["accessToken"]
    # 8 x 3599 s after login the last refresh only runs to the 8-hour mark...
    assert result.json["expiresIn"] == 8 * 3600 - 8 * 3599
    clock.now += result.json["expiresIn"]
    # ...and after it nothing can be refreshed any more.
    late = clocked_client.simulate_post(TOKEN, json={"grant_type": "refresh_token", "refresh_token": token})
    assert_unauthorized(late, code="TOKEN_EXPIRED")


def _other_token(
    claims: dict, key: object = "another-secret-of-sufficient-length", algorithm: str = "HS256"
) -> str:
    return jwt.encode(claims, key, algorithm=algorithm)  # type: ignore[arg-type]


def _claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _unsigned(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda token: None, id="missing"),
        pytest.param(lambda token: f"Basic {token}", id="wrong-scheme"),
        pytest.param(lambda token: "Bearer", id="empty-bearer"),
        pytest.param(lambda token: "Bearer not.a.jwt", id="garbage"),
        pytest.param(lambda token: f"Bearer {token} extra", id="two-tokens"),
        pytest.param(lambda token: f"Bearer {token[:-4]}AAAA", id="bad-signature"),
        pytest.param(lambda token: f"Bearer {_other_token(_claims_of(token))}", id="other-secret"),
        pytest.param(lambda token: f"Bearer {_unsigned(_claims_of(token))}", id="alg-none"),
        pytest.param(
            lambda token: "Bearer " + ".".join([token.split(".")[0], _tampered(token), token.split(".")[2]]),
            id="tampered-claims",
        ),
    ],
)
def test_every_malformed_or_forged_token_is_refused(client: falcon.testing.TestClient, make_header) -> None:
    token = login(client, "alice").token
    header = make_header(token)
    result = client.simulate_get(PROTECTED, headers={"Authorization": header} if header else {})
    assert_unauthorized(result)


def _tampered(token: str) -> str:
    claims = _claims_of(token)
    claims["roles"] = ["developer", "admin"]
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()


def test_a_disabled_users_tokens_stop_working_at_once(client: falcon.testing.TestClient, services) -> None:
    alice = login(client, "alice")
    services.auth.set_disabled("alice")
    assert_unauthorized(client.simulate_get(PROTECTED, headers=bearer(alice.token)))
    result = client.simulate_post(
        TOKEN, json={"grant_type": "password", "username": "alice", "password": PASSWORD}
    )
    assert_unauthorized(result)


def _write_rsa_pair(folder: Path) -> tuple[Path, Path, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = folder / "private.pem"
    public = folder / "public.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public.write_bytes(public_pem)
    return private, public, public_pem


def test_rs256_tokens_and_no_hs256_forgery_with_the_public_key(
    tmp_path: Path, settings: Settings, database: tuple[str, Engine]
) -> None:
    private, public, public_pem = _write_rsa_pair(tmp_path)
    rs_settings = Settings.for_tests(
        settings.data_dir,
        settings.database_url,
        jwt_private_key_file=private,
        jwt_public_key_file=public,
        jwt_secret=None,
    )
    services = build_services(rs_settings, engine=database[1])
    services.auth.add_user("alice", PASSWORD)
    client = falcon.testing.TestClient(create_app(rs_settings, services=services))
    token = login(client, "alice").token
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert client.simulate_get(PROTECTED, headers=bearer(token)).status_code == 200
    forged = jwt.api_jws.PyJWS()
    forged._algorithms["HS256"].prepare_key = lambda key: key  # type: ignore[method-assign]
    confused = forged.encode(json.dumps(_claims_of(token)).encode(), public_pem, algorithm="HS256")
    assert_unauthorized(client.simulate_get(PROTECTED, headers=bearer(confused)))
