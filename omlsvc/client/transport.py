"""HTTP under the client: one pooled ``requests`` session, timeouts, retries and the token.

Retries are urllib3's: connection failures (the request never left) are retried for every method;
read failures and 502/503/504 answers only for the idempotent methods (GET, HEAD, PUT, DELETE), so a
POST that may have reached the service (an upload, a RUN) is never sent twice. Every other error
answer becomes the :mod:`omlsvc.client.errors` class of its code.

:class:`Credentials` keeps the bearer token fresh: it is refreshed when less than a quarter of its
lifetime (at most a minute) is left, and a client that logged in with a password logs in again when
the refresh window is over. A 401 on a request of such a client is answered by one new login and one
retry of that request, when its body can be sent again.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from omlsvc import __version__
from omlsvc.client.errors import (
    AuthenticationError,
    ClientError,
    TransportError,
    error_from_answer,
)

TOKEN_PATH = "/omlusers/api/oauth2/v1/token"  # noqa: S105 (a path, not a secret)
REVOKE_PATH = "/omlusers/api/oauth2/v1/token/revoke"
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
#: Refresh when less than this share of a token's lifetime is left (and at most MAX_MARGIN_S).
REFRESH_SHARE = 0.25
MAX_MARGIN_S = 60.0

#: A body to send, or a function that makes it afresh (so a request can be sent again after a login).
Body = Callable[[], tuple[Any, Mapping[str, str]]]


def segment(value: str) -> str:
    """One path segment, every reserved character escaped (job ids hold ``$``)."""
    return quote(value, safe="")


class Http:
    """The pooled session, the base URL and the credentials; :meth:`call` sends one request."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        retries: int = 3,
        verify: bool | str = True,
        pool_size: int = 10,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ClientError(f"The service URL must start with http:// or https://, got {url!r}.")
        self.url = url.rstrip("/")
        self.timeout = (connect_timeout_s, timeout_s)
        self.session = requests.Session()
        self.session.verify = verify
        self.session.headers["User-Agent"] = f"omlsvc-client/{__version__}"
        self.session.headers["Accept"] = "application/json"
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            backoff_factor=0.2,
            allowed_methods=IDEMPOTENT,
            status_forcelist=(502, 503, 504),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.credentials: Credentials | None = None

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        authenticated: bool = True,
        timeout_s: float | None = None,
        replay_safe: bool = False,
    ) -> requests.Response:
        """Send one request and return its 2xx/3xx answer; raise the error class of anything else.

        ``replay_safe`` marks a POST that changes nothing when sent twice (a login, a refresh, a score
        call): when its connection is dropped before any answer (a pooled connection the server had
        just closed), it is sent once more on a fresh one. Other POSTs are never sent twice."""
        for attempt in (0, 1):
            sent_headers = dict(headers or {})
            if authenticated and self.credentials is not None:
                sent_headers["Authorization"] = f"Bearer {self.credentials.bearer()}"
            data = None
            if body is not None:
                data, extra = body()
                sent_headers.update(extra)
            try:
                response = self._send(
                    method,
                    path,
                    json_body=json_body,
                    params=params,
                    data=data,
                    headers=sent_headers,
                    stream=stream,
                    timeout_s=timeout_s,
                )
            except _Dropped as dropped:
                if not (replay_safe and attempt == 0 and (body is not None or data is None)):
                    raise dropped.error from None
                continue
            if response.status_code < 400:
                return response
            error = _error_of(response)
            if (
                attempt == 0
                and authenticated
                and isinstance(error, AuthenticationError)
                and self.credentials is not None
                and self.credentials.recover()
            ):
                continue
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`call` and the answer's JSON (None for an empty answer)."""
        response = self.call(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ClientError(f"{method} {path} answered {response.status_code} without JSON.") from None

    def pages(self, path: str, params: Mapping[str, Any], page_size: int) -> Iterator[dict[str, Any]]:
        """Every item of a paged collection, fetching ``page_size`` at a time while the service says
        there is a ``next`` page."""
        offset = 0
        while True:
            page = self.json("GET", path, params={**params, "offset": offset, "limit": page_size})
            items = page.get("items", [])
            yield from items
            more = any(link.get("rel") == "next" for link in page.get("links", []))
            if not more or not items:
                return
            offset += len(items)

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any,
        params: Mapping[str, Any] | None,
        data: Any,
        headers: Mapping[str, str],
        stream: bool,
        timeout_s: float | None,
    ) -> requests.Response:
        timeout = self.timeout if timeout_s is None else (self.timeout[0], timeout_s)
        try:
            return self.session.request(
                method,
                self.url + path,
                json=json_body,
                params={k: v for k, v in (params or {}).items() if v is not None},
                data=data,
                headers=headers,
                stream=stream,
                timeout=timeout,
            )
        except requests.exceptions.RetryError as exc:
            raise TransportError(f"{method} {path}: gave up after retries ({exc}).") from None
        except requests.exceptions.Timeout:
            raise TransportError(f"{method} {path}: no answer from {self.url} in time.") from None
        except requests.exceptions.ConnectionError as exc:
            if _no_answer(exc):
                raise _Dropped(
                    TransportError(f"{method} {path}: {self.url} closed the connection without an answer.")
                ) from None
            raise TransportError(f"{method} {path}: cannot reach {self.url} ({_reason(exc)}).") from None
        except requests.exceptions.RequestException as exc:
            raise TransportError(f"{method} {path}: {exc}") from None

    def close(self) -> None:
        self.session.close()


class _Dropped(Exception):
    """The connection ended before any answer came (carries the error to raise if not sent again)."""

    def __init__(self, error: TransportError) -> None:
        super().__init__(str(error))
        self.error = error


def _no_answer(exc: Exception) -> bool:
    text = repr(exc)
    return "RemoteDisconnected" in text or "ConnectionResetError" in text or "BrokenPipeError" in text


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "..."


def _error_of(response: requests.Response) -> ClientError:
    try:
        body = response.json()
    except ValueError:
        body = None
    finally:
        response.close()
    return error_from_answer(
        response.status_code,
        body,
        request_id=response.headers.get("X-Request-ID"),
        retry_after=response.headers.get("Retry-After"),
    )


def token_times(token: str) -> tuple[float, float] | None:
    """The ``iat`` and ``exp`` claims of a JWT (wall-clock times), read without verifying (that is the
    service's job): only to know when to refresh a token given to the client."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        expires = float(claims["exp"])
        return float(claims.get("iat", expires - 3600)), expires
    except (IndexError, ValueError, KeyError, TypeError):
        return None


class Credentials:
    """The bearer token of one client, refreshed before it expires; thread-safe."""

    def __init__(
        self,
        http: Http,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        clock: Callable[[], float] = time.time,
        on_token: Callable[[str], None] | None = None,
        refresh_share: float = REFRESH_SHARE,
        max_refresh_margin_s: float = MAX_MARGIN_S,
    ) -> None:
        """The token is refreshed when less than ``refresh_share`` of its lifetime, and at most
        ``max_refresh_margin_s``, is left."""
        if token is None and (username is None or password is None):
            raise ClientError("Give a token, or a username and a password.")
        self._http = http
        self._username = username
        self._password = password
        self._clock = clock
        self._lock = threading.Lock()
        self._on_token = on_token
        self._share = refresh_share
        self._max_margin = max_refresh_margin_s
        self._token = token
        self._expires_at: float | None = None
        self._lifetime = MAX_MARGIN_S * 4
        self.logged_in = False
        if token is not None:
            times = token_times(token)
            if times is not None:
                issued, self._expires_at = times
                self._lifetime = max(1.0, self._expires_at - issued)
        else:
            self._login()

    @property
    def token(self) -> str | None:
        return self._token

    def bearer(self) -> str:
        """The token to send now, refreshed first when it is about to expire."""
        with self._lock:
            if self._token is None:
                self._login()
            elif self._expires_at is not None:
                margin = min(self._max_margin, self._lifetime * self._share)
                if self._expires_at - self._clock() < margin:
                    self._refresh_or_login()
            assert self._token is not None
            return self._token

    def recover(self) -> bool:
        """After a 401: log in again when a password is known (True: send the request again)."""
        if self._password is None:
            return False
        with self._lock:
            self._login()
        return True

    def revoke(self) -> None:
        """End the login (every token refreshed from it stops working)."""
        with self._lock:
            token, self._token = self._token, None
        if token is None:
            return
        # an expired or already revoked token can no longer be used or refreshed by anyone
        with contextlib.suppress(AuthenticationError):
            self._http.call(
                "POST",
                REVOKE_PATH,
                headers={"Authorization": f"Bearer {token}"},
                authenticated=False,
                replay_safe=True,
            )

    def _login(self) -> None:
        assert self._username is not None and self._password is not None
        self._take(
            self._http.json(
                "POST",
                TOKEN_PATH,
                json_body={"grant_type": "password", "username": self._username, "password": self._password},
                authenticated=False,
                replay_safe=True,
            )
        )
        self.logged_in = True

    def _refresh_or_login(self) -> None:
        assert self._token is not None
        try:
            answer = self._http.json(
                "POST",
                TOKEN_PATH,
                json_body={"grant_type": "refresh_token", "refresh_token": self._token},
                headers={"Authorization": f"Bearer {self._token}"},
                authenticated=False,
                replay_safe=True,
            )
        except AuthenticationError:
            if self._password is None:
                raise
            self._login()
            return
        self._take(answer)

    def _take(self, answer: Any) -> None:
        token = answer["accessToken"]
        lifetime = float(answer.get("expiresIn") or 3600)
        self._token = token
        self._lifetime = lifetime
        self._expires_at = self._clock() + lifetime
        if self._on_token is not None:
            self._on_token(token)
