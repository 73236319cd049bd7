"""Version documents, health probes, and the OML error body on everything Falcon refuses itself."""

from __future__ import annotations

import dataclasses
import ipaddress

import falcon.testing
import pytest

from omlsvc.config import Settings
from omlsvc.rest.app import create_app
from omlsvc.wiring import Services
from tests.api.conftest import Caller, login


def test_the_version_collection_lists_v1(alice: Caller) -> None:
    result = alice.get("/omlmod/")
    assert result.status_code == 200
    (version,) = result.json["items"]
    assert version["version"] == "v1"
    assert version["isLatest"] is True
    assert version["lifecycle"] == "active"
    assert version["links"][0] == {"rel": "self", "href": "http://falconframework.org/omlmod/v1"}


def test_the_v1_document_has_all_four_required_fields(alice: Caller) -> None:
    result = alice.get("/omlmod/v1")
    assert set(result.json) == {"version", "isLatest", "lifecycle", "links"}


def test_links_follow_the_host_the_client_used(settings: Settings, services: Services) -> None:
    """Behind a proxy listed in OMLSVC_TRUSTED_PROXIES (``tests/api/test_forwarded_headers.py``)."""
    trusted = dataclasses.replace(settings, trusted_proxies=(ipaddress.ip_network("127.0.0.1"),))
    alice = login(falcon.testing.TestClient(create_app(trusted, services=services)), "alice")
    result = alice.get(
        "/omlmod/v1",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "oml.example.com"},
        remote_addr="127.0.0.1",
    )
    assert result.json["links"][0]["href"] == "https://oml.example.com/omlmod/v1"


def test_health_probes_need_no_token(client: falcon.testing.TestClient) -> None:
    assert client.simulate_get("/health/live").json["status"] == "ok"
    assert client.simulate_get("/health/ready").json == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/no/such/thing", 404, "NOT_FOUND"),
        ("GET", "/omlmod/v1/no/such/thing", 404, "NOT_FOUND"),
        ("DELETE", "/omlmod/v1", 405, "METHOD_NOT_ALLOWED"),
        ("PUT", "/omlusers/api/oauth2/v1/token", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_unknown_routes_and_methods_answer_with_the_error_body(
    alice: Caller, method: str, path: str, status: int, code: str
) -> None:
    result = alice.client.simulate_request(method, path, headers=alice.headers)
    assert result.status_code == status
    assert result.json["code"] == code
    assert result.json["message"]
    assert result.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("application/json", b'{"grant_type": "password",', 400, "INVALID_INPUT"),
        ("application/json", b"[1, 2, 3]", 400, "INVALID_INPUT"),
        ("application/json", b'{"grant_type": NaN}', 400, "INVALID_INPUT"),
        ("application/json", b"[" * 30_000 + b"]" * 30_000, 400, "INVALID_INPUT"),
        ("application/json", b"\xff\xfe\x00garbage", 400, "INVALID_INPUT"),
        ("application/json", b"", 400, "INVALID_INPUT"),
        ("text/plain", b"grant_type=password", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("application/x-www-form-urlencoded", b"\xff=\xfe", 400, "INVALID_INPUT"),
        ("application/json", b"{" + b'"a": 1,' * 20_000 + b'"b": 2}', 413, "PAYLOAD_TOO_LARGE"),
    ],
)
def test_no_malformed_token_request_gets_a_server_error(
    client: falcon.testing.TestClient, content_type: str, body: bytes, status: int, code: str
) -> None:
    result = client.simulate_post(
        "/omlusers/api/oauth2/v1/token", headers={"Content-Type": content_type}, body=body
    )
    assert result.status_code == status, result.text
    assert result.json["code"] == code


def test_a_declared_length_over_the_limit_is_refused_before_reading(
    client: falcon.testing.TestClient,
) -> None:
    result = client.simulate_post(
        "/omlusers/api/oauth2/v1/token",
        headers={"Content-Type": "application/json", "Content-Length": str(10**12)},
        body=b"{}",
    )
    assert result.status_code == 413
    assert result.json["code"] == "PAYLOAD_TOO_LARGE"


def test_every_response_carries_a_request_id(client: falcon.testing.TestClient) -> None:
    given = client.simulate_get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    assert len(client.simulate_get("/nowhere").headers["X-Request-ID"]) == 32


def _routes(app: object) -> set[tuple[str, str]]:
    """(path template, method) of every route the app answers, read from Falcon's router."""
    found: set[tuple[str, str]] = set()

    def walk(nodes: list) -> None:
        for node in nodes:
            if node.resource is not None:
                for method, responder in node.method_map.items():
                    if getattr(responder, "__name__", "") != "method_not_allowed" and method != "OPTIONS":
                        found.add((node.uri_template, method.lower()))
            walk(node.children)

    walk(app._router._roots)  # type: ignore[attr-defined]
    return found


def test_the_service_document_is_valid_openapi_and_lists_every_route(alice: Caller) -> None:
    from openapi_spec_validator import validate

    result = alice.get("/omlmod/v1/api")
    assert result.status_code == 200
    assert result.headers["Access-Control-Allow-Origin"] == "*"
    document = result.json
    validate(document)
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    routes = {
        (template.replace("{model_id}", "{modelId}"), method)
        for template, method in _routes(alice.client.app)
    }
    assert routes - documented == set()
    assert documented - routes == set()
