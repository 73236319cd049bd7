"""The console's page and files (issue 19): public, a strict policy, cache validators, a fixed list
of names; and no cookie ever stands in for a bearer token, so the console's calls cannot be forged
from another site."""

from __future__ import annotations

import gzip

import falcon.testing
import pytest

from omlsvc.rest.console import ASSET_DIR
from tests.api.conftest import Caller


def test_the_page_and_its_files_need_no_token_and_forbid_other_origins(
    client: falcon.testing.TestClient,
) -> None:
    page = client.simulate_get("/console")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in policy
    assert "unsafe" not in policy and "http" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert "http://" not in page.text and "https://" not in page.text


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("swagger-ui.css", "text/css; charset=utf-8"),
    ],
)
def test_files_carry_their_type_a_validator_and_gzip_when_asked(
    client: falcon.testing.TestClient, name: str, content_type: str
) -> None:
    plain = client.simulate_get(f"/console/assets/{name}")
    assert plain.status_code == 200
    assert plain.headers["content-type"] == content_type
    assert plain.headers["cache-control"] == "no-cache"
    assert plain.headers["vary"] == "Accept-Encoding"
    zipped = client.simulate_get(f"/console/assets/{name}", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(zipped.content) == plain.content
    again = client.simulate_get(f"/console/assets/{name}", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_the_console_scripts_name_no_other_origin() -> None:
    """(The SVG namespace and the base the router parses fragments against are names, not requests.)"""
    names = ("http://console.invalid", "http://www.w3.org/2000/svg")
    for path in ASSET_DIR.iterdir():
        text = path.read_text()
        for name in names:
            text = text.replace(name, "")
        assert "http://" not in text and "https://" not in text, path.name


@pytest.mark.parametrize(
    "name", ["index.html", "nope.js", "swagger-ui.js", "..%2Fconsole.py", "%2E%2E", "app.js%00", "APP.JS"]
)
def test_only_the_listed_files_are_served(client: falcon.testing.TestClient, name: str) -> None:
    result = client.simulate_get(f"/console/assets/{name}")
    assert result.status_code == 404
    assert result.json["code"] == "NOT_FOUND"


def test_the_root_sends_a_browser_to_the_console(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/", headers={"Accept": "text/html"})
    assert result.status_code == 302
    assert result.headers["location"] == "/console"


def test_a_token_in_a_cookie_authenticates_nothing(client: falcon.testing.TestClient, alice: Caller) -> None:
    """What a cross-site form or fetch could make the browser send: cookies, never the header."""
    for cookie in (
        f"token={alice.token}",
        f"Authorization=Bearer {alice.token}",
        f"accessToken={alice.token}",
    ):
        listed = client.simulate_get("/omlmod/v1/models", headers={"Cookie": cookie})
        assert listed.status_code == 401
        removed = client.simulate_post(
            "/omlmod/v1/deployment", headers={"Cookie": cookie}, json={"modelId": "x"}
        )
        assert removed.status_code == 401
    assert alice.get("/omlmod/v1/models").status_code == 200
