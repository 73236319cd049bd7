"""The one mapping from errors to HTTP, read by the REST app and by the OpenAPI documents.

Every domain error class maps to a status here (the most specific class wins) and every status an
answer may carry has a stable upper-case code: a domain error sends its own ``code``; an error Falcon
raises itself (unknown route, wrong method or media type) sends its status's. The OpenAPI documents
derive their error responses from these tables (:func:`error_statuses`, :func:`code_of_status`), so
a new error class shows up in them by itself.

It lives with the documents, below the REST transport that serves them: no falcon, and nothing of
ours but the error hierarchy.
"""

from __future__ import annotations

from http import HTTPStatus

from omlsvc.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MemoryLimitExceeded,
    NotFound,
    OmlError,
    PayloadTooLarge,
    ScoringFailed,
    ScoringTimeout,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)

#: The one table from domain error to HTTP status; the most specific class wins.
STATUS_BY_ERROR: tuple[tuple[type[OmlError], int], ...] = (
    (PayloadTooLarge, 413),
    (InvalidInput, 400),
    (ScoringFailed, 400),
    (MemoryLimitExceeded, 400),
    (ScoringTimeout, 503),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TooManyRequests, 429),
    (Unavailable, 503),
)

#: Codes for errors Falcon raises itself, keyed by status.
CODE_BY_STATUS = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    411: "LENGTH_REQUIRED",
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE_ENTITY",
    429: "TOO_MANY_REQUESTS",
    431: "HEADERS_TOO_LARGE",
    500: "INTERNAL_ERROR",
    503: "UNAVAILABLE",
}

#: Statuses no domain error carries that an operation may still answer with: a Content-Type it does
#: not take (refused by Falcon) and an unexpected failure.
TRANSPORT_STATUSES = (415, 500)


def status_of(error: OmlError) -> int:
    """The status of ``error``: its most specific class in :data:`STATUS_BY_ERROR`, else 500."""
    for cls in type(error).__mro__:
        for error_class, status in STATUS_BY_ERROR:
            if cls is error_class:
                return status
    return 500


def code_of_status(status: int) -> str:
    """The code an error Falcon raises with ``status`` is sent with."""
    return CODE_BY_STATUS.get(status, HTTPStatus(status).name)


def error_statuses(
    table: tuple[tuple[type[OmlError], int], ...] = STATUS_BY_ERROR,
) -> tuple[int, ...]:
    """Every status an answer carrying the error body may have, ascending: the table's and the
    transport's own."""
    return tuple(sorted({status for _, status in table} | set(TRANSPORT_STATUSES)))


def errors_with_status(
    status: int, table: tuple[tuple[type[OmlError], int], ...] = STATUS_BY_ERROR
) -> tuple[type[OmlError], ...]:
    """The error classes the table maps to ``status``, in table order."""
    return tuple(cls for cls, mapped in table if mapped == status)
