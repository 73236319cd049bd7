"""Images by reference in JSON score records (issue 16): ``{"image": {"imageUrl": "http://..."}}``.

A local HTTP server (:mod:`tests.httpsource`) serves the pictures. Its addresses are loopback, which
these settings allow (``import_allow``, the URL import's allow list); one test builds the service
with the default settings to see loopback refused.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
from sqlalchemy import Engine

from omlsvc.config import Settings
from omlsvc.rest.app import create_app
from omlsvc.wiring import Services, build_services
from tests import modelzoo
from tests.api.conftest import PASSWORD, Caller, login
from tests.api.test_scoring import Deployed, photo
from tests.httpsource import Source, serving

DEPLOYMENTS = "/omlmod/v1/deployment"
#: The per-image byte limit is the request body limit (what a base64 image can be at most).
MAX_BYTES = 200_000
URL_TIMEOUT_S = 1.5
#: A query string that must never reach an error message (it may carry a signature or a token).
QUERY = "token=s3cr3t"


@pytest.fixture
def settings(tmp_path: Path, database: tuple[str, Engine]) -> Settings:
    return Settings.for_tests(
        tmp_path / "data",
        database_url=database[0],
        import_allow=("127.0.0.0/8",),
        max_request_bytes=MAX_BYTES,
        max_image_urls=3,
        image_url_connect_timeout_s=1.0,
        image_url_timeout_s=URL_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def source() -> Iterator[Source]:
    with serving() as running:
        running.files["/cat.png"] = photo(40, 30)
        running.files["/dog.jpg"] = photo(17, 23, "JPEG")
        running.files["/big.png"] = b"\x89PNG" + bytes(MAX_BYTES + 10)
        running.files["/notes.txt"] = b"not an image at all\n" * 10
        for path in list(running.files):  # the server looks files up by path and query
            running.files[f"{path}?{QUERY}"] = running.files[path]
        running.stall_s = 4.0
        yield running


@pytest.fixture
def pets(alice: Caller, tmp_path: Path) -> Deployed:
    return Deployed(alice, modelzoo.make_image_classifier_zip(tmp_path), "pets", "ONNX_IMG")


def by_url(url: str) -> dict[str, Any]:
    return {"image": {"imageUrl": url}}


def refused(caller: Caller, body: dict[str, Any], code: str) -> str:
    result = caller.post(f"{DEPLOYMENTS}/pets/score", json=body)
    assert result.status_code == 400, result.text
    assert result.json["code"] == code, result.json
    return str(result.json["message"])


def test_an_image_by_url_scores_as_the_same_image_in_base64(pets: Deployed, source: Source) -> None:
    files = [source.files["/cat.png"], source.files["/dog.jpg"]]
    inline = pets.score({"inputRecords": [{"image": base64.b64encode(f).decode()} for f in files]})
    referenced = pets.score(
        {"inputRecords": [by_url(source.url("/cat.png")), by_url(source.url("/redirect/dog.jpg"))]}
    )
    assert referenced == inline
    mixed = pets.score(
        {"inputRecords": [{"image": base64.b64encode(files[0]).decode()}, by_url(source.url("/dog.jpg"))]}
    )
    assert mixed == inline
    tensors = [
        pets.caller.post(
            f"{DEPLOYMENTS}/pets/score", json={"inputRecords": [record], "outputTensors": ["probabilities"]}
        ).json
        for record in ({"image": base64.b64encode(files[0]).decode()}, by_url(source.url("/cat.png")))
    ]
    assert "tensors" in tensors[0] and tensors[1] == tensors[0]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_loopback_is_refused_by_default(services: Services, source: Source, tmp_path: Path) -> None:
    strict = dataclasses.replace(services.settings, import_allow=())
    fresh = build_services(strict, engine=services.engine)
    caller = login(falcon.testing.TestClient(create_app(strict, services=fresh)), "alice", PASSWORD)
    Deployed(caller, modelzoo.make_image_classifier_zip(tmp_path), "pets", "ONNX_IMG")
    hits = dict(source.hits)
    message = refused(caller, {"inputRecords": [by_url(source.url("/cat.png"))]}, "URL_NOT_ALLOWED")
    assert message.startswith("record 0, input 'image', imageUrl: ")
    assert "127.0.0.1" in message and "OMLSVC_IMPORT_ALLOW" in message
    assert source.hits == hits  # refused before any connection


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_redirect_to_an_address_not_allowed_is_refused(pets: Deployed, source: Source) -> None:
    source.redirects["/to-metadata"] = "http://169.254.169.254/latest/meta-data/"
    body = {"inputRecords": [by_url(source.url("/cat.png")), by_url(source.url("/to-metadata"))]}
    message = refused(pets.caller, body, "URL_NOT_ALLOWED")
    assert message.startswith("record 1, input 'image', imageUrl: ") and "169.254.169.254" in message


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("path", "code", "says"),
    [
        (f"/missing.png?{QUERY}", "FETCH_FAILED", "HTTP 404"),
        (f"/big.png?{QUERY}", "FETCH_FAILED", f"limit of {MAX_BYTES} bytes"),
        (f"/notes.txt?{QUERY}", "INVALID_IMAGE", "image"),
        (f"/stall/cat.png?{QUERY}", "FETCH_FAILED", "stopped sending|time limit"),
    ],
    ids=["404", "too-large", "not-an-image", "stalled"],
)
def test_a_failed_fetch_is_a_400_that_names_the_record_and_hides_the_query(
    pets: Deployed, source: Source, path: str, code: str, says: str
) -> None:
    started = time.monotonic()
    message = refused(pets.caller, {"inputRecords": [by_url(source.url(path))]}, code)
    assert time.monotonic() - started < URL_TIMEOUT_S + 1.5
    assert message.startswith("record 0, input 'image', imageUrl: "), message
    assert re.search(says, message) and "s3cr3t" not in message and "token" not in message


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_too_many_urls_are_refused_before_any_is_fetched(pets: Deployed, source: Source) -> None:
    hits = dict(source.hits)
    message = refused(pets.caller, {"inputRecords": [by_url(source.url("/cat.png"))] * 4}, "INVALID_INPUT")
    assert "at most 3" in message and "OMLSVC_MAX_IMAGE_URLS" in message
    assert source.hits == hits


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"imageUrl": 5}, "imageUrl must be a non-empty string"),
        ({"imageUrl": "http://127.0.0.1/x", "headers": {}}, "unknown property 'headers'"),
        ({"imageUrl": "file:///etc/passwd"}, "Only http and https"),
        ({"imageUrl": "http://user:pw@127.0.0.1/x.png"}, "credentials"),
    ],
)
def test_a_malformed_reference_is_a_400_naming_the_record(pets: Deployed, value: Any, says: str) -> None:
    result = pets.caller.post(f"{DEPLOYMENTS}/pets/score", json={"inputRecords": [{"image": value}]})
    assert result.status_code == 400, result.text
    assert result.json["message"].startswith("record 0, input 'image'") and says in result.json["message"]
