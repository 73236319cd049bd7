"""Fetching a URL to a file (issue 15): bytes as served, redirects checked again, limits that hold."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from omlsvc.core.errors import FetchFailed, PayloadTooLarge, UrlNotAllowed
from omlsvc.core.fetch import FetchLimits, fetch
from omlsvc.core.urlsafety import AddressPolicy
from tests.httpsource import Source, serving, serving_https, trust_only

LOOPBACK_ONLY = AddressPolicy(("127.0.0.1/32",))


@pytest.fixture(scope="module")
def source() -> Iterator[Source]:
    with serving() as running:
        running.files["/data.bin"] = bytes(range(256)) * 4000
        yield running


def test_the_body_arrives_as_served_with_progress(source: Source) -> None:
    sink, seen = io.BytesIO(), []
    size = fetch(
        source.url("/redirect/data.bin"),
        sink,
        LOOPBACK_ONLY,
        FetchLimits(10**7),
        lambda n, t: seen.append((n, t)),
    )
    assert sink.getvalue() == source.files["/data.bin"] and size == len(sink.getvalue())
    assert seen[-1] == (size, size)


def test_a_redirect_to_an_address_not_allowed_is_refused(source: Source) -> None:
    port = source.server.server_address[1]
    source.redirects["/elsewhere"] = f"http://127.0.0.2:{port}/data.bin"  # loopback, but not allowed
    with pytest.raises(UrlNotAllowed, match=r"127\.0\.0\.2"):
        fetch(source.url("/elsewhere"), io.BytesIO(), LOOPBACK_ONLY, FetchLimits(10**7))
    source.redirects["/loop"] = "/loop"
    with pytest.raises(FetchFailed, match="redirects"):
        fetch(source.url("/loop"), io.BytesIO(), LOOPBACK_ONLY, FetchLimits(10**7, max_redirects=3))


def test_size_read_and_total_limits_hold(source: Source) -> None:
    with pytest.raises(PayloadTooLarge):
        fetch(source.url("/data.bin"), io.BytesIO(), LOOPBACK_ONLY, FetchLimits(1000))
    source.stall_s = 2.0
    with pytest.raises(FetchFailed, match="stopped sending"):
        fetch(
            source.url("/stall/data.bin"), io.BytesIO(), LOOPBACK_ONLY, FetchLimits(10**7, read_timeout_s=0.5)
        )
    source.slow_s = 3.0
    with pytest.raises(FetchFailed, match="total time limit"):
        fetch(
            source.url("/slow/data.bin"), io.BytesIO(), LOOPBACK_ONLY, FetchLimits(10**7, total_timeout_s=0.5)
        )
    source.slow_s = 0.0


def test_an_unreachable_server_is_a_clear_failure() -> None:
    with pytest.raises(FetchFailed, match="could not be reached"):
        fetch(
            "http://127.0.0.1:1/x.zip", io.BytesIO(), LOOPBACK_ONLY, FetchLimits(10**7, connect_timeout_s=1)
        )


# -- https: the server's certificate is checked against the authorities the process trusts ------------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusted(authority: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> trustme.CA:
    trust_only(authority, tmp_path, monkeypatch)
    return authority


def test_https_is_fetched_when_its_certificate_is_trusted_and_names_the_host(trusted: trustme.CA) -> None:
    with serving_https(trusted, "127.0.0.1") as source:
        source.files["/data.bin"] = bytes(range(256)) * 100
        sink = io.BytesIO()
        fetch(source.url("/redirect/data.bin"), sink, LOOPBACK_ONLY, FetchLimits(10**7))
    assert source.url("/").startswith("https://")
    assert sink.getvalue() == source.files["/data.bin"]


@pytest.mark.parametrize(
    ("issuer", "names", "why"),
    [
        ("another authority", ("127.0.0.1",), "unable to get local issuer certificate"),
        ("the trusted authority", ("models.example.com",), "doesn't match 'models.example.com'"),
    ],
)
def test_a_certificate_not_trusted_or_for_another_host_is_refused_before_any_request(
    trusted: trustme.CA, issuer: str, names: tuple[str, ...], why: str
) -> None:
    signer = trusted if issuer == "the trusted authority" else trustme.CA()
    with serving_https(signer, *names) as source:
        source.files["/data.bin"] = b"model bytes"
        with pytest.raises(FetchFailed, match="certificate was not accepted") as refused:
            fetch(source.url("/data.bin"), io.BytesIO(), LOOPBACK_ONLY, FetchLimits(10**7))
    assert why in refused.value.message
    assert source.hits == {}  # refused in the handshake: no request was sent
