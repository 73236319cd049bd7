"""Images by reference in JSON records (issue 16): ``{"<image input>": {"imageUrl": "https://..."}}``
in place of the base64 file.

The scoring core does no network I/O and decides no address policy of its own: it is handed an
:class:`ImageFetcher` (built in :mod:`omlsvc.wiring` from the URL import's
:class:`~omlsvc.core.urlsafety.AddressPolicy` and :func:`~omlsvc.core.fetch.fetch`, so ``OMLSVC_IMPORT_ALLOW``
rules both) and calls it once per ``imageUrl``. Without a fetcher every ``imageUrl`` is refused.

One request's URLs are limited in number (:attr:`ImageUrls.max_urls`, checked before anything is
fetched) and share one time budget (:attr:`ImageUrls.timeout_s`), so a request of slow servers
costs at most that long, not the number of URLs times it. Every failure is a 400 naming the record
and input; the messages come from :mod:`omlsvc.core.fetch`, which never quotes a URL's query string.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from omlsvc.core.errors import FetchFailed, InvalidInput, PayloadTooLarge, UrlNotAllowed
from omlsvc.core.limits import DEFAULT_MAX_IMAGE_URLS, IMAGE_URL_FIELD, MAX_IMAGE_URL_LENGTH
from omlsvc.scoring.client_values import describe, show

#: The one property of an image reference object.
URL_FIELD = IMAGE_URL_FIELD
#: Seconds all the image URLs of one request may take to fetch, together.
DEFAULT_IMAGE_URL_TIMEOUT_S = 15.0


class ImageFetcher(Protocol):
    """Fetches the bytes at ``url`` within ``timeout_s`` seconds, or raises
    :class:`~omlsvc.core.errors.UrlNotAllowed`, :class:`~omlsvc.core.errors.FetchFailed` or
    :class:`~omlsvc.core.errors.PayloadTooLarge` with a message fit for the caller."""

    def __call__(self, url: str, timeout_s: float, /) -> bytes: ...


@dataclass(frozen=True)
class ImageUrls:
    """Whether and how image records may reference their file by URL (None ``fetch``: never)."""

    fetch: ImageFetcher | None = None
    max_urls: int = DEFAULT_MAX_IMAGE_URLS
    timeout_s: float = DEFAULT_IMAGE_URL_TIMEOUT_S


def is_reference(value: Any) -> bool:
    """Whether an image input's value is an object (the only object form is ``{"imageUrl": ...}``)."""
    return type(value) is dict


class UrlRequest:
    """The image URLs of one request: counted before any is fetched, fetched within one deadline.

    Not thread-safe: one per request.
    """

    def __init__(self, urls: ImageUrls, count: int) -> None:
        if urls.fetch is not None and count > urls.max_urls:
            raise InvalidInput(
                f"{count} records reference their image by {URL_FIELD}; at most {urls.max_urls} may in one "
                "request (OMLSVC_MAX_IMAGE_URLS)"
            )
        self._urls = urls
        self._deadline = time.monotonic() + urls.timeout_s

    def fetch(self, value: dict[str, Any], where: str) -> bytes:
        """The image file ``value`` (``{"imageUrl": ...}``) names; errors say ``where`` (record, input)."""
        url = parse_reference(value, where)
        fetch = self._urls.fetch
        if fetch is None:
            raise InvalidInput(
                f"{where}: {URL_FIELD} is not enabled on this service (OMLSVC_MAX_IMAGE_URLS=0); send the "
                "image file as base64"
            )
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise FetchFailed(
                f"{where}: the images of this request took longer than {self._urls.timeout_s:g} s to fetch "
                "(OMLSVC_IMAGE_URL_TIMEOUT)"
            )
        try:
            return fetch(url, left)
        except UrlNotAllowed as exc:
            raise UrlNotAllowed(f"{where}, {URL_FIELD}: {exc.message}") from None
        except PayloadTooLarge as exc:  # the referenced file is too large, not this request: a 400
            raise FetchFailed(f"{where}, {URL_FIELD}: {exc.message}") from None
        except FetchFailed as exc:
            raise FetchFailed(f"{where}, {URL_FIELD}: {exc.message}") from None


def parse_reference(value: dict[str, Any], where: str) -> str:
    """The URL of ``{"imageUrl": "..."}``, or :class:`InvalidInput` saying what is wrong."""
    unknown = [key for key in value if key != URL_FIELD]
    if unknown:
        raise InvalidInput(
            f"{where}: unknown property {show(unknown[0])} of an image reference (it takes {URL_FIELD!r} only)"
        )
    url = value.get(URL_FIELD)
    if type(url) is not str or not url:
        raise InvalidInput(f"{where}: {URL_FIELD} must be a non-empty string, not {describe(url)}")
    if len(url) > MAX_IMAGE_URL_LENGTH:
        raise InvalidInput(f"{where}: {URL_FIELD} is longer than {MAX_IMAGE_URL_LENGTH} characters")
    return url
