"""Fetching a URL to a file (issue 15): bytes as served, redirects checked again, limits that hold."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from omlsvc.core.errors import FetchFailed, PayloadTooLarge, UrlNotAllowed
from omlsvc.core.fetch import FetchLimits, fetch
from omlsvc.core.urlsafety import AddressPolicy
from tests.httpsource import Source, serving

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
