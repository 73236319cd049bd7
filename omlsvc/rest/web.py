"""Helpers every Falcon resource shares: strict JSON bodies, links, pagination, response media.

Request bodies are parsed here rather than by Falcon's media handler: orjson rejects ``NaN`` and
``Infinity`` literals and never raises RecursionError, and the size limit is enforced before a byte
is read, so no body can crash or stall a worker.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode

import falcon
import falcon.media
import orjson

from omlsvc.config import Network as IPNetwork
from omlsvc.core.errors import InvalidInput, PayloadTooLarge
from omlsvc.core.limits import MAX_OFFSET, MAX_PAGE_SIZE

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def json_handler() -> falcon.media.JSONHandler:
    return falcon.media.JSONHandler(dumps=lambda obj: render_json(obj).decode("utf-8"), loads=orjson.loads)


def render_json(obj: Any) -> bytes:
    """The bytes :func:`json_handler` answers with, without the round trip through ``str`` that
    Falcon's handler makes (the score answer, serialized once per request, uses this directly)."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def multipart_handler() -> falcon.media.MultipartFormHandler:
    """Multipart forms with few parts; files are read from ``part.stream``, never buffered whole."""
    handler = falcon.media.MultipartFormHandler()
    handler.parse_options.max_body_part_count = 32
    handler.parse_options.max_body_part_buffer_size = 64 * 1024
    return handler


def read_body(req: falcon.Request, limit: int) -> bytes:
    """The raw body, refusing (413) anything over ``limit`` before and while reading it."""
    length = req.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"The request body of {length} bytes is over the limit of {limit} bytes.")
    data = req.bounded_stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
    return data


def read_json(req: falcon.Request, limit: int, *, required: bool = True) -> Any:
    """Parse a JSON request body strictly; ``{}`` for an absent body when not ``required``."""
    _require_media_type(req, (JSON,))
    data = read_body(req, limit)
    if not data.strip():
        if required:
            raise InvalidInput("The request needs a JSON body.")
        return {}
    return parse_json(data)


def parse_json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"The request body is not valid JSON: {exc}.") from None


def read_json_object(req: falcon.Request, limit: int, *, required: bool = True) -> dict[str, Any]:
    body = read_json(req, limit, required=required)
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.")
    return body


def read_form_or_json(req: falcon.Request, limit: int) -> dict[str, Any]:
    """The token endpoint takes JSON (Oracle's curl) and classic OAuth form posts alike."""
    if _media_type(req) == FORM:
        data = read_body(req, limit)
        try:
            return dict(parse_qsl(data.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except UnicodeDecodeError:
            raise InvalidInput("The form body is not UTF-8.") from None
    return read_json_object(req, limit)


def _media_type(req: falcon.Request) -> str | None:
    if not req.content_type:
        return None
    return req.content_type.split(";", 1)[0].strip().lower()


def _require_media_type(req: falcon.Request, allowed: tuple[str, ...]) -> None:
    media_type = _media_type(req)
    # A body without a Content-Type is read as JSON: curl's -d with -H 'Content-Type: ...' forgotten.
    if media_type is not None and media_type not in allowed and not media_type.endswith("+json"):
        raise falcon.HTTPUnsupportedMediaType(
            description=f"Expected {' or '.join(allowed)}, got {media_type}."
        )


def base_url(req: falcon.Request) -> str:
    """The scheme and host the client used, as :class:`ForwardedHeaders` decided them."""
    origin = getattr(req.context, "origin", None)
    return origin if isinstance(origin, str) else f"{req.scheme}://{req.netloc}"


def client_address(req: falcon.Request) -> str | None:
    """The caller's address, as :class:`ForwardedHeaders` decided it (None when unknown)."""
    address = getattr(req.context, "client_address", None)
    return address if isinstance(address, str) else req.env.get("REMOTE_ADDR")


class ForwardedHeaders:
    """Believes ``X-Forwarded-Proto``/``-Host``/``-For`` (and ``X-Request-Start``) only from a trusted proxy.

    Decided once per request from the direct peer (``REMOTE_ADDR``, which no client can forge): when
    it lies in one of ``trusted`` (``OMLSVC_TRUSTED_PROXIES``, none by default), the proxy's headers
    say which scheme and host the client used (links, OpenAPI ``servers``) and who the client is;
    otherwise they are ignored, so no client can plant another host in the links it is sent.
    """

    def __init__(self, trusted: Sequence[IPNetwork], *, unix_peer_trusted: bool = False) -> None:
        """``unix_peer_trusted``: gunicorn listens on a unix socket that only the service's user and
        group may open (``omlsvc serve --front nginx``): its peer, which has no address, is the proxy."""
        self._trusted = tuple(trusted)
        self._unix_peer_trusted = unix_peer_trusted

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        peer = req.env.get("REMOTE_ADDR")
        if not (self._trusts(peer) or (self._unix_peer_trusted and not peer)):
            # the request's own scheme, host and peer: what base_url and client_address fall back
            # to, computed only by the few answers that use them (a score answer has no links)
            return
        _believe_request_start(req)
        proto = _first(req.get_header("X-Forwarded-Proto")).lower()
        scheme = proto if proto in ("http", "https") else req.scheme
        forwarded_host = _first(req.get_header("X-Forwarded-Host"))
        host = forwarded_host if _HOST.fullmatch(forwarded_host) else req.netloc
        req.context.origin = f"{scheme}://{host}"
        req.context.client_address = self._client(req.get_header("X-Forwarded-For"), peer)

    def _trusts(self, address: str | None) -> bool:
        if not self._trusted or not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def _client(self, forwarded_for: str | None, peer: str | None) -> str | None:
        """The right-most address in ``X-Forwarded-For`` that is not one of our proxies."""
        hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
        client = peer
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                break  # a forged or garbled entry: believe nothing further left
            client = hop
            if not self._trusts(hop):
                break
        return client


#: A host name or IP literal with an optional port; anything else in X-Forwarded-Host is ignored.
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?"
)


def _first(value: str | None) -> str:
    return (value or "").split(",", 1)[0].strip()


def link(req: falcon.Request, path: str, rel: str = "self") -> dict[str, str]:
    return {"rel": rel, "href": base_url(req) + path}


def collection_links(
    req: falcon.Request, path: str, *, offset: int, limit: int | None, more: bool
) -> list[dict[str, str]]:
    """``self`` plus ``next``/``prev`` links (our paging extension) that keep the other filters."""
    links = [{"rel": "self", "href": base_url(req) + req.relative_uri}]
    if limit is None:
        return links
    params = {k: v for k, v in req.params.items() if k not in ("offset", "limit")}
    if more:
        links.append(
            link(
                req,
                f"{path}?{urlencode({**params, 'offset': offset + limit, 'limit': limit}, doseq=True)}",
                "next",
            )
        )
    if offset > 0:
        previous = max(0, offset - limit)
        links.append(
            link(
                req, f"{path}?{urlencode({**params, 'offset': previous, 'limit': limit}, doseq=True)}", "prev"
            )
        )
    return links


def paging(req: falcon.Request, max_limit: int = MAX_PAGE_SIZE) -> tuple[int, int | None]:
    offset = _int_param(req, "offset", 0)
    limit = _int_param(req, "limit", None)
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}.")
    if limit is not None and not 1 <= limit <= max_limit:
        raise InvalidInput(f"limit must be between 1 and {max_limit}.")
    return offset, limit


def _int_param(req: falcon.Request, name: str, default: Any) -> Any:
    raw = req.get_param(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"Query parameter {name} must be an integer, got {raw!r}.") from None


def text_param(req: falcon.Request, name: str, max_length: int = 4000) -> str | None:
    value = req.get_param(name)
    if value is not None and len(value) > max_length:
        raise InvalidInput(f"Query parameter {name} is longer than {max_length} characters.")
    return value


# -- issue 18: when the request reached the front proxy (the scoring "queue" phase) ---------------------

#: Longest wait believed from ``X-Request-Start``; anything older is a clock problem, not a queue.
MAX_QUEUE_S = 3600.0
_REQUEST_START = re.compile(r"t=([0-9]{9,16})(?:\.([0-9]{1,6}))?")


def arrival_of(req: falcon.Request) -> float | None:
    """When the request arrived, as a ``time.perf_counter()`` reading: at the trusted front proxy
    (its ``X-Request-Start``), else when this worker thread began it (the first middleware)."""
    arrived = getattr(req.context, "arrived_at", None)
    return arrived if arrived is not None else getattr(req.context, "started_at", None)


def _believe_request_start(req: falcon.Request) -> None:
    """``X-Request-Start: t=<epoch>`` from a trusted proxy (nginx's ``t=${msec}``: seconds with
    milliseconds; also milliseconds or microseconds as whole numbers) dates the request's arrival
    there, so the wait for a free worker thread counts as queue time."""
    match = _REQUEST_START.fullmatch((req.get_header("X-Request-Start") or "").strip())
    if match is None:
        return
    whole, fraction = match.group(1), match.group(2)
    started = float(f"{whole}.{fraction}") if fraction else float(whole)
    while started > 1e11:  # milliseconds or microseconds since the epoch
        started /= 1000.0
    waited = time.time() - started
    if 0.0 <= waited <= MAX_QUEUE_S:
        req.context.arrived_at = time.perf_counter() - waited
