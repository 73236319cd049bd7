"""Download a URL to a file, safely: only addresses :mod:`omlsvc.core.urlsafety` allows (each redirect
checked again), a connect and a read timeout, a total time limit and a size limit.

urllib3 does the HTTP; this module decides where it may connect. It connects to the address the
policy checked (the host name goes in ``Host`` and, for https, in SNI and the certificate check),
so a DNS answer that changes between the check and the connection cannot redirect it.
"""

from __future__ import annotations

import io
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol
from urllib.parse import urljoin

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.ssl_match_hostname import CertificateError as HostnameMismatch

from omlsvc.core.errors import FetchFailed, PayloadTooLarge
from omlsvc.core.urlsafety import AddressPolicy, Target

REDIRECTS = (301, 302, 303, 307, 308)
READ_BLOCK_BYTES = 256 * 1024
USER_AGENT = "omlsvc-import/1"


class Sink(Protocol):
    """Where fetched bytes go (a file opened for writing, or a wrapper that hashes on the way)."""

    def write(self, data: bytes, /) -> int: ...


#: Called with the bytes received so far and the announced total (None when not announced).
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    total_timeout_s: float = 3600.0
    max_redirects: int = 5


def fetch(
    url: str,
    sink: Sink,
    policy: AddressPolicy,
    limits: FetchLimits,
    progress: Progress | None = None,
) -> int:
    """Write the body at ``url`` into ``sink``; returns its size. Raises :class:`UrlNotAllowed`,
    :class:`PayloadTooLarge` or :class:`FetchFailed`, each with a message fit for the caller (the
    URL's query string, which may hold a token, is never quoted)."""
    deadline = time.monotonic() + limits.total_timeout_s
    for _ in range(limits.max_redirects + 1):
        target = policy.check(url)
        response = _request(target, limits, deadline)
        try:
            if response.status in REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    raise FetchFailed(f"The server answered {response.status} without a Location.")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchFailed(f"The server answered HTTP {response.status} for {_shown(target)}.")
            return _copy(response, sink, target, limits, deadline, progress)
        finally:
            response.release_conn()
            response.close()
    raise FetchFailed(f"More than {limits.max_redirects} redirects.")


def _request(target: Target, limits: FetchLimits, deadline: float) -> urllib3.BaseHTTPResponse:
    timeout = urllib3.Timeout(
        connect=min(limits.connect_timeout_s, _left(deadline, target)),
        read=min(limits.read_timeout_s, _left(deadline, target)),
    )
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            timeout=timeout,
            retries=False,
            maxsize=1,
        )
    else:
        pool = urllib3.HTTPConnectionPool(
            target.address, target.port, timeout=timeout, retries=False, maxsize=1
        )
    headers = {"Host": target.host_header, "User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    try:
        return pool.urlopen(
            "GET",
            target.target,
            headers=headers,
            redirect=False,
            retries=False,
            preload_content=False,
            decode_content=False,
            assert_same_host=False,
        )
    except NewConnectionError:  # (a subclass of the timeout error in urllib3 2)
        raise FetchFailed(
            f"{_shown(target)} could not be reached (connection refused or unreachable)."
        ) from None
    except Urllib3Timeout:
        raise FetchFailed(f"{_shown(target)} did not answer within the time limit.") from None
    except Urllib3SSLError as exc:
        raise FetchFailed(f"{_shown(target)} could not be fetched: {_tls_reason(exc)}.") from None
    except Urllib3Error as exc:
        raise FetchFailed(f"{_shown(target)} could not be fetched: {_reason(exc)}.") from None


def _copy(
    response: urllib3.BaseHTTPResponse,
    sink: Sink,
    target: Target,
    limits: FetchLimits,
    deadline: float,
    progress: Progress | None,
) -> int:
    announced = response.headers.get("Content-Length")
    total = int(announced) if announced and announced.isdigit() else None
    if total is not None and total > limits.max_bytes:
        raise PayloadTooLarge(
            f"The file is {total} bytes, over the upload limit of {limits.max_bytes} bytes."
        )
    size = 0
    try:
        while True:
            _left(deadline, target)
            block = response.read1(READ_BLOCK_BYTES)
            if not block:
                break
            size += len(block)
            if size > limits.max_bytes:
                raise PayloadTooLarge(f"The file is over the upload limit of {limits.max_bytes} bytes.")
            sink.write(block)
            if progress is not None:
                progress(size, total)
    except Urllib3Timeout:
        raise FetchFailed(
            f"{_shown(target)} stopped sending for more than {limits.read_timeout_s:g} s."
        ) from None
    except Urllib3Error as exc:
        raise FetchFailed(f"Reading from {_shown(target)} failed: {_reason(exc)}.") from None
    if total is not None and size != total:
        raise FetchFailed(f"{_shown(target)} sent {size} of the {total} bytes it announced.")
    return size


def _left(deadline: float, target: Target) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchFailed(f"Fetching from {_shown(target)} took longer than the total time limit.")
    return left


def _shown(target: Target) -> str:
    """Host and path, never the query string (it may carry a signature or a token)."""
    path = target.target.split("?", 1)[0]
    return f"{target.scheme}://{target.host_header}{path}"[:300]


def _tls_reason(exc: Exception) -> str:
    """Why the TLS handshake failed, in OpenSSL's words when it was the certificate check (an
    authority this host does not trust, another host's name, an expired certificate): what an
    operator needs to fix it (a private authority goes in ``SSL_CERT_FILE``)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"the server's certificate was not accepted ({cause.verify_message})"
        if isinstance(cause, HostnameMismatch):  # urllib3 checks the name itself, after the handshake
            return f"the server's certificate was not accepted ({cause})"
        cause = cause.__cause__ or cause.__context__
    return "the TLS handshake failed"


def _reason(exc: Exception) -> str:
    reason = getattr(exc, "reason", None)
    return type(reason or exc).__name__


@dataclass(frozen=True)
class BytesFetcher:
    """:func:`fetch` into memory, for small files such as the images a score request names by URL
    (issue 16): ``fetcher(url, timeout_s)`` is the body, fetched under ``policy`` and ``limits`` within
    the lesser of ``timeout_s`` and the limits' total time (``limits.max_bytes`` bounds the memory)."""

    policy: AddressPolicy
    limits: FetchLimits

    def __call__(self, url: str, timeout_s: float, /) -> bytes:
        limits = replace(self.limits, total_timeout_s=min(self.limits.total_timeout_s, timeout_s))
        buffer = io.BytesIO()
        try:
            fetch(url, buffer, self.policy, limits)
        except PayloadTooLarge:  # fetch's own message speaks of uploads
            raise PayloadTooLarge(f"The file is over the limit of {limits.max_bytes} bytes.") from None
        return buffer.getvalue()
