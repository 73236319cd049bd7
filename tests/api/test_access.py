"""Deny by default: every route needs a valid token unless its resource is marked public, decided
after routing, so no spelling of a path (``//omlmod``, ``%2F``, ``/./``) gets past it.

Falcon's router strips leading slashes and routes ``//omlmod/v1/...`` like ``/omlmod/v1/...``; a
check on the raw path let such requests in without a token. These tests show the holes that were
found, closed, through the real API.
"""

from __future__ import annotations

import io
from pathlib import Path

import falcon
import falcon.testing
import pytest

from omlsvc.config import Settings
from omlsvc.rest.app import create_app
from omlsvc.rest.middleware import public
from omlsvc.wiring import Services
from tests import modelzoo
from tests.api.conftest import Caller
from tests.api.forms import multipart, store_model

DEPLOYMENTS = "/omlmod/v1/deployment"
MODELS = "/omlmod/v1/models"
SCORE_BODY = {"inputRecords": [{"float_input": [[1.0, 2.0, 3.0]]}]}


@pytest.fixture
def shared_deployment(alice: Caller, tmp_path: Path) -> tuple[str, str]:
    """(model id, uri) of a shared regressor Alice deployed."""
    model_id = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, name="house", shared="true")
    assert alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "house"}).status_code == 201
    return model_id, "house"


@pytest.fixture
def private_deployment(alice: Caller, tmp_path: Path) -> tuple[str, str]:
    """(model id, uri) of a private regressor Alice deployed."""
    model_id = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, name="secret")
    assert alice.post(DEPLOYMENTS, json={"modelId": model_id, "uri": "secret"}).status_code == 201
    return model_id, "secret"


def assert_unauthorized(result: falcon.testing.Result) -> None:
    assert result.status_code == 401, result.text
    assert result.json["code"] == "UNAUTHORIZED"
    assert result.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_second_leading_slash_does_not_read_a_deployment_without_a_token(
    client: falcon.testing.TestClient, shared_deployment: tuple[str, str]
) -> None:
    _, uri = shared_deployment
    assert_unauthorized(client.simulate_get(f"/{DEPLOYMENTS}/{uri}"))
    assert_unauthorized(client.simulate_get(f"//{DEPLOYMENTS}/{uri}"))


def test_a_second_leading_slash_does_not_score_without_a_token(
    client: falcon.testing.TestClient, shared_deployment: tuple[str, str]
) -> None:
    _, uri = shared_deployment
    result = client.simulate_post(f"/{DEPLOYMENTS}/{uri}/score", json=SCORE_BODY)
    assert_unauthorized(result)
    assert "scoringResults" not in result.text


def test_a_second_leading_slash_does_not_download_a_shared_model_without_a_token(
    client: falcon.testing.TestClient, shared_deployment: tuple[str, str]
) -> None:
    model_id, _ = shared_deployment
    result = client.simulate_get(f"/{MODELS}/{model_id}/content")
    assert not result.content.startswith(b"PK")
    assert_unauthorized(result)


def test_a_private_object_without_a_token_is_401_not_500_and_says_nothing_of_it(
    client: falcon.testing.TestClient, private_deployment: tuple[str, str]
) -> None:
    model_id, uri = private_deployment
    for path in (f"/{MODELS}/{model_id}", f"/{DEPLOYMENTS}/{uri}", f"/{MODELS}/no-such-model"):
        result = client.simulate_get(path)
        assert_unauthorized(result)
        assert "secret" not in result.text


def test_an_anonymous_upload_is_refused_before_anything_is_read_or_spooled(
    client: falcon.testing.TestClient, settings: Settings, tmp_path: Path
) -> None:
    data = modelzoo.make_regressor_zip(tmp_path).zip_path.read_bytes()
    body, content_type = multipart(
        {"modelName": "planted", "modelType": "ONNX", "version": "1.0"}, {"modelData": ("m.zip", data)}
    )
    stream = io.BytesIO(body)
    result = client.simulate_post(
        f"/{MODELS}",
        headers={"Content-Type": content_type},
        extras={"wsgi.input": stream, "CONTENT_LENGTH": str(len(body))},
    )
    assert_unauthorized(result)
    assert stream.tell() == 0  # not one byte of the body was read
    scratch = settings.data_dir / "tmp"
    assert not scratch.exists() or not any(scratch.iterdir())


def test_a_token_is_still_what_opens_the_doubled_slash_route(
    alice: Caller, shared_deployment: tuple[str, str]
) -> None:
    _, uri = shared_deployment
    result = alice.post(f"/{DEPLOYMENTS}/{uri}/score", json=SCORE_BODY)
    assert result.status_code == 200, result.text
    assert len(result.json["scoringResults"]) == 1


def test_a_principal_that_is_missing_is_401_even_behind_a_public_resource(
    settings: Settings, services: Services
) -> None:
    """A resource marked public by mistake that reads the caller gets a 401, never a 500."""

    @public
    class Careless:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            resp.media = {"who": req.context.principal.name}

    app = create_app(settings, services=services)
    app.add_route("/careless", Careless())
    assert_unauthorized(falcon.testing.TestClient(app).simulate_get("/careless"))


def test_every_answer_says_nosniff_and_no_store_errors_included(
    client: falcon.testing.TestClient, alice: Caller, settings: Settings, services: Services
) -> None:
    class Broken:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            raise RuntimeError("a bug")

    app = create_app(settings, services=services)
    app.add_route("/omlmod/v1/broken", Broken())
    broken = falcon.testing.TestClient(app).simulate_get("/omlmod/v1/broken", headers=alice.headers)
    answers = {
        "200": alice.get(MODELS),
        "200 public": client.simulate_get("/health/live"),
        "400": alice.post(DEPLOYMENTS, body=b"{", headers={"Content-Type": "application/json"}),
        "401": client.simulate_get(MODELS),
        "404": alice.get(f"{MODELS}/no-such-model"),
        "404 no route": client.simulate_get("/no/such/route"),
        "405": alice.client.simulate_put(MODELS, headers=alice.headers),
        "500": broken,
    }
    for name, result in answers.items():
        assert result.status_code == int(name.split()[0]), (name, result.text)
        assert result.headers["X-Content-Type-Options"] == "nosniff", name
        assert result.headers["Cache-Control"] == "no-store", name
    token = client.simulate_post(
        "/omlusers/api/oauth2/v1/token",
        json={"grant_type": "password", "username": "alice", "password": "correct horse battery"},
    )
    assert token.headers["Cache-Control"] == "no-cache, no-store, must-revalidate"
    assert token.headers["X-Content-Type-Options"] == "nosniff"
