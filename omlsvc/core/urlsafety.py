"""Which URLs the service itself may fetch (URL import; next, image URLs in score requests).

A URL a user hands the service makes the service a client inside its own network: without a rule it
would fetch the metadata endpoint of a cloud host, a database's HTTP port or an admin page bound to
127.0.0.1 for whoever asked (server-side request forgery). So only ``http`` and ``https`` are
fetched, the host is resolved here, and every address it resolves to must be public: loopback,
link-local, private, shared (CGNAT), multicast, reserved and unspecified addresses are refused unless
the operator allows them (``OMLSVC_IMPORT_ALLOW``: CIDRs, addresses or host names). The fetcher then
connects to the very address checked here (no second lookup an attacker's DNS could answer
differently), and checks every redirect again.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from omlsvc.core.errors import UrlNotAllowed

SCHEMES = ("http", "https")
MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``, ``port``) and what to ask for there."""

    scheme: str
    host: str
    port: int
    address: str
    #: path and query, as sent in the request line
    target: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver, as a connection would use it)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlNotAllowed(f"The host {host!r} cannot be resolved ({exc}).") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressPolicy:
    """Decides whether an address (of a host) may be fetched from; built from the allow list."""

    def __init__(self, allow: Sequence[str] = (), resolver: Resolver = system_resolver) -> None:
        self._networks: list[Network] = []
        self._hosts: set[str] = set()
        for item in allow:
            try:
                self._networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self._hosts.add(item.lower().rstrip("."))
        self._resolve = resolver

    def allows(self, host: str, address: str) -> bool:
        """Public addresses always; others only when their network or their host name is allowed."""
        if host.lower().rstrip(".") in self._hosts:
            return True
        ip = _plain(ipaddress.ip_address(address.split("%", 1)[0]))
        if any(ip in network for network in self._networks):
            return True
        return ip.is_global and not ip.is_multicast

    def check(self, url: str) -> Target:
        """The URL parsed and its host resolved to an allowed address, or :class:`UrlNotAllowed`
        saying why. Every address the host resolves to must be allowed (a name that resolves to a
        public and a private address is refused: which one a client uses is not ours to choose)."""
        parts = parse_url(url)
        host = parts.hostname or ""
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        addresses = self._resolve(host, port)
        if not addresses:
            raise UrlNotAllowed(f"The host {host!r} has no address.")
        refused = [a for a in addresses if not self.allows(host, a)]
        if refused:
            raise UrlNotAllowed(
                f"The host {host!r} resolves to {refused[0]}, a loopback, link-local, private or "
                "reserved address this service does not fetch from (an operator may allow it with "
                "OMLSVC_IMPORT_ALLOW)."
            )
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        return Target(parts.scheme, host, port, addresses[0], target)


def parse_url(url: str) -> SplitResult:
    """An ``http``/``https`` URL with a host and no credentials, or :class:`UrlNotAllowed`."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UrlNotAllowed(f"The URL must be an http or https URL of at most {MAX_URL_LENGTH} characters.")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise UrlNotAllowed("The URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise UrlNotAllowed("The URL is malformed (check its host and port).") from None
    if parts.scheme.lower() not in SCHEMES:
        raise UrlNotAllowed("Only http and https URLs are fetched.")
    if not parts.hostname:
        raise UrlNotAllowed("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UrlNotAllowed("The URL must not carry credentials (user:password@).")
    return parts._replace(scheme=parts.scheme.lower())


def _plain(ip: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (``::ffff:127.0.0.1``) is judged as the IPv4 address it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
