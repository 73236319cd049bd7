"""``X-Forwarded-Proto``/``-Host``/``-For`` are believed only from a proxy listed in
``OMLSVC_TRUSTED_PROXIES`` (none by default): no client can plant another host in the links and
OpenAPI ``servers`` the service hands out."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import falcon
import falcon.testing
import pytest

from omlsvc.config import Settings
from omlsvc.rest.app import create_app
from omlsvc.rest.web import client_address
from omlsvc.wiring import Services
from tests import modelzoo
from tests.api.conftest import Caller, login
from tests.api.forms import store_model

FORGED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example.com", "X-Forwarded-For": "6.6.6.6"}
PROXY = "10.1.2.3"


class WhoAmI:
    """A test route that shows what the service believes about the caller."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"client": client_address(req)}


def client_with(settings: Settings, services: Services, *trusted: str) -> falcon.testing.TestClient:
    networks = Settings.from_env({"OMLSVC_TRUSTED_PROXIES": ",".join(trusted)}).trusted_proxies
    app = create_app(dataclasses.replace(settings, trusted_proxies=networks), services=services)
    app.add_route("/omlmod/v1/whoami", WhoAmI())
    return falcon.testing.TestClient(app)


@pytest.fixture
def deployed(alice: Caller, tmp_path: Path) -> str:
    model_id = store_model(alice, modelzoo.make_regressor_zip(tmp_path).zip_path, name="house")
    assert alice.post("/omlmod/v1/deployment", json={"modelId": model_id, "uri": "house"}).status_code == 201
    return "house"


def documents(caller: Caller, uri: str, remote_addr: str) -> dict[str, object]:
    """What a caller at ``remote_addr`` sending the forged headers is told."""

    def get(path: str) -> falcon.testing.Result:
        return caller.client.simulate_get(path, headers={**caller.headers, **FORGED}, remote_addr=remote_addr)

    return {
        "link": get("/omlmod/v1").json["links"][0]["href"],
        "service servers": get("/omlmod/v1/api").json["servers"],
        "deployment servers": get(f"/omlmod/v1/deployment/{uri}/api").json["servers"],
        "deployment link": get(f"/omlmod/v1/deployment/{uri}").json["links"][0]["href"],
        "client": get("/omlmod/v1/whoami").json["client"],
    }


def test_forwarded_headers_from_an_untrusted_client_are_ignored(
    settings: Settings, services: Services, deployed: str
) -> None:
    for trusted in ((), (f"{PROXY}/32",)):
        alice = login(client_with(settings, services, *trusted), "alice")
        seen = documents(alice, deployed, remote_addr="192.0.2.10")
        assert "evil" not in repr(seen), (trusted, seen)
        assert seen["link"] == "http://falconframework.org/omlmod/v1"
        assert seen["deployment servers"] == [{"url": "http://falconframework.org"}]
        assert seen["client"] == "192.0.2.10"


def test_forwarded_headers_from_a_trusted_proxy_name_the_clients_host(
    settings: Settings, services: Services, deployed: str
) -> None:
    alice = login(client_with(settings, services, "10.0.0.0/8"), "alice")
    seen = documents(alice, deployed, remote_addr=PROXY)
    assert seen["link"] == "https://evil.example.com/omlmod/v1"
    assert seen["service servers"] == [{"url": "https://evil.example.com"}]
    assert seen["deployment servers"] == [{"url": "https://evil.example.com"}]
    assert seen["deployment link"] == "https://evil.example.com/omlmod/v1/deployment/house"
    assert seen["client"] == "6.6.6.6"


def test_a_trusted_proxys_chain_names_the_first_untrusted_hop_and_garbage_is_ignored(
    settings: Settings, services: Services
) -> None:
    alice = login(client_with(settings, services, "10.0.0.0/8"), "alice")

    def seen(headers: dict[str, str]) -> falcon.testing.Result:
        return alice.client.simulate_get(
            "/omlmod/v1/whoami", headers={**alice.headers, **headers}, remote_addr=PROXY
        )

    chain = {"X-Forwarded-For": "6.6.6.6, 203.0.113.7, 10.9.9.9"}
    assert seen(chain).json["client"] == "203.0.113.7"
    assert seen({"X-Forwarded-For": "not-an-address"}).json["client"] == PROXY
    odd = {"X-Forwarded-Host": "evil.example.com/path", "X-Forwarded-Proto": "gopher"}
    link = alice.client.simulate_get("/omlmod/v1", headers={**alice.headers, **odd}, remote_addr=PROXY).json[
        "links"
    ][0]["href"]
    assert link == "http://falconframework.org/omlmod/v1"


def test_behind_the_nginx_front_the_unix_socket_peer_is_the_proxy(
    settings: Settings, services: Services, deployed: str, tmp_path: Path
) -> None:
    """``omlsvc serve --front nginx``: gunicorn listens on a unix socket only nginx may open, so a
    peer without an address is the proxy; over TCP the same peer is a stranger and is ignored."""
    front = dataclasses.replace(settings, unix_socket=tmp_path / "omlsvc.sock")
    for app_settings, believed in ((front, True), (settings, False)):
        app = create_app(app_settings, services=services)
        app.add_route("/omlmod/v1/whoami", WhoAmI())
        alice = login(falcon.testing.TestClient(app), "alice")
        seen = documents(alice, deployed, remote_addr="")
        assert (seen["client"] == "6.6.6.6") is believed, seen
        assert ("evil" in seen["link"]) is believed, seen
