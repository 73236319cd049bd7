"""Which URLs the service fetches (issue 15): public addresses, or those the operator allows."""

from __future__ import annotations

import pytest

from omlsvc.core.errors import UrlNotAllowed
from omlsvc.core.urlsafety import AddressPolicy


def resolving(table: dict[str, list[str]]) -> AddressPolicy:
    return AddressPolicy((), resolver=lambda host, port: table[host])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/model.zip",
        "http://10.1.2.3/model.zip",
        "http://172.16.0.1/model.zip",
        "http://192.168.1.1/model.zip",
        "http://100.64.0.1/model.zip",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/model.zip",
        "http://[::1]/model.zip",
        "http://[fe80::1]/model.zip",
        "http://[fd00::1]/model.zip",
        "http://[::ffff:192.168.0.1]/model.zip",
        "http://224.0.0.1/model.zip",
    ],
)
def test_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(UrlNotAllowed, match="OMLSVC_IMPORT_ALLOW"):
        AddressPolicy(()).check(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/model.zip",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://user:secret@example.com/model.zip",
        "http:///model.zip",
        "http://example.com:99999/model.zip",
        "http://example.com/a b.zip",
        "http://example.com/" + "a" * 3000,
    ],
)
def test_other_schemes_credentials_and_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(UrlNotAllowed) as refused:
        resolving({"example.com": ["93.184.216.34"]}).check(url)
    assert "secret" not in refused.value.message


def test_a_name_that_resolves_to_any_private_address_is_refused() -> None:
    policy = resolving({"mixed.example": ["93.184.216.34", "10.0.0.1"]})
    with pytest.raises(UrlNotAllowed, match=r"10\.0\.0\.1"):
        policy.check("https://mixed.example/model.zip")


def test_public_addresses_pass_and_the_checked_address_is_the_one_connected_to() -> None:
    target = resolving({"models.example": ["93.184.216.34"]}).check("https://models.example:8443/m.zip?sig=1")
    assert (target.address, target.port, target.target) == ("93.184.216.34", 8443, "/m.zip?sig=1")
    assert target.host_header == "models.example:8443"


def test_the_allow_list_admits_networks_and_host_names() -> None:
    policy = AddressPolicy(
        ("10.0.0.0/8", "models.internal"),
        resolver=lambda host, port: {"models.internal": ["192.168.5.5"], "other": ["192.168.5.6"]}.get(
            host, [host.strip("[]")]
        ),
    )
    assert policy.check("http://10.2.3.4/m.zip").address == "10.2.3.4"
    assert policy.check("http://models.internal/m.zip").address == "192.168.5.5"
    with pytest.raises(UrlNotAllowed):
        policy.check("http://other/m.zip")
