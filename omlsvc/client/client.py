"""The :class:`Client`: one signed-in connection to an omlsvc service."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from omlsvc.client.deployments import Deployments
from omlsvc.client.jobs import Jobs
from omlsvc.client.models import Models
from omlsvc.client.scoring import Scoring
from omlsvc.client.tasks import Tasks
from omlsvc.client.transport import MAX_MARGIN_S, REFRESH_SHARE, Credentials, Http


class Client:
    """A typed client of the omlsvc REST API (the OML Services API and its extensions).

    ``Client(url, username=..., password=...)`` logs in (and logs in again when the 8-hour refresh
    window of a login is over); ``Client(url, token=...)`` uses a token obtained elsewhere (refreshed
    while its login allows). Either way the token is refreshed before it expires. ``close()`` (or the
    end of a ``with`` block) revokes a login the client made itself (``revoke_on_close`` decides for a
    given token; it is False there so that a shared token keeps working) and closes the connections.
    A token is refreshed when less than ``refresh_share`` of its lifetime (at most
    ``max_refresh_margin_s``) is left; a short-lived process that keeps its token between runs (the
    CLI) refreshes earlier, since an expired token can no longer be refreshed.

    ``timeout_s`` bounds the wait for each answer, ``retries`` the retries of connection failures and of
    idempotent requests (GET, PUT, DELETE) that met a 502/503/504 or a broken connection; a POST that
    may have reached the service is never sent twice. Errors the service answers are raised as the
    :mod:`omlsvc.client.errors` class of their code, carrying ``code`` and ``message``.
    """

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 10.0,
        retries: int = 3,
        verify: bool | str = True,
        revoke_on_close: bool | None = None,
        on_token: Callable[[str], None] | None = None,
        refresh_share: float = REFRESH_SHARE,
        max_refresh_margin_s: float = MAX_MARGIN_S,
    ) -> None:
        self._http = Http(
            url, timeout_s=timeout_s, connect_timeout_s=connect_timeout_s, retries=retries, verify=verify
        )
        try:
            self._credentials = Credentials(
                self._http,
                username=username,
                password=password,
                token=token,
                on_token=on_token,
                refresh_share=refresh_share,
                max_refresh_margin_s=max_refresh_margin_s,
            )
        except BaseException:
            self._http.close()
            raise
        self._http.credentials = self._credentials
        self._revoke_on_close = token is None if revoke_on_close is None else revoke_on_close
        self._closed = False
        self.tasks = Tasks(self._http)
        self.models = Models(self._http, self.tasks)
        self.deployments = Deployments(self._http)
        self.jobs = Jobs(self._http)
        self._scoring = Scoring(self._http)

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def token(self) -> str | None:
        """The current bearer token (it changes when refreshed)."""
        return self._credentials.token

    def score(self, uri: str, data: Any, **options: Any) -> list[dict[str, Any]]:
        """See :meth:`omlsvc.client.scoring.Scoring.score`."""
        return self._scoring.score(uri, data, **options)

    def score_image(self, uri: str, image: Any, **options: Any) -> dict[str, Any]:
        """See :meth:`omlsvc.client.scoring.Scoring.score_image`."""
        return self._scoring.score_image(uri, image, **options)

    def close(self) -> None:
        """Revoke the login (see the class) and close the connections; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._revoke_on_close:
                self._credentials.revoke()
        finally:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"
