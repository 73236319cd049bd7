"""What the client raises: one class per family of the service's error codes, mapped once.

The service answers every error as ``{"code": "...", "message": "..."}`` with a stable upper-case
code (``omlsvc/openapi/error_table.py`` on the server side). :func:`error_from_answer` turns such an
answer into the class that :data:`CLASS_BY_CODE` names for its code, so callers catch a family
(``except NotFoundError``) and still read the exact ``code``. A code this client does not know yet
(a newer server) falls back to its status's family, never to a bare exception.

Nothing here imports the server's packages: the client is installed and used without them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any


class ClientError(Exception):
    """Root of everything the client raises."""


class TransportError(ClientError):
    """No answer came back: the service could not be reached, or did not answer in time."""


class ServiceError(ClientError):
    """The service answered with an error. ``code`` is its stable code, ``message`` its sentence,
    ``details`` the list some errors carry (every problem of an invalid model), ``status`` the HTTP
    status and ``request_id`` the id the server logged the request under."""

    #: The codes this family stands for, and the HTTP statuses they come with.
    codes: tuple[str, ...] = ()
    statuses: tuple[int, ...] = ()

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 0,
        details: Sequence[str] = (),
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details = tuple(details)
        self.request_id = request_id


class InvalidRequestError(ServiceError):
    """The request breaks a documented rule (400): a bad field, parameter or body."""

    #: URL_NOT_ALLOWED and FETCH_FAILED: a model import's URL (issue 15's tasks).
    codes: tuple[str, ...] = (
        "INVALID_INPUT",
        "BAD_REQUEST",
        "UNPROCESSABLE_ENTITY",
        "URL_NOT_ALLOWED",
        "FETCH_FAILED",
    )
    statuses: tuple[int, ...] = (400, 422)


class InvalidModelError(InvalidRequestError):
    """A model package breaks the ONNX metadata specification; ``details`` lists every problem."""

    codes: tuple[str, ...] = ("INVALID_MODEL",)
    statuses: tuple[int, ...] = (400,)


class InvalidImageError(InvalidRequestError):
    """Image data the service cannot decode, or too large to decode safely."""

    codes: tuple[str, ...] = ("INVALID_IMAGE",)
    statuses: tuple[int, ...] = (400,)


class ScoringError(InvalidRequestError):
    """The model refused inputs that passed the service's checks, or needed too much memory."""

    codes: tuple[str, ...] = ("SCORING_FAILED", "MEMORY_LIMIT_EXCEEDED")
    statuses: tuple[int, ...] = (400,)


class PayloadTooLargeError(InvalidRequestError):
    """A body, upload, record batch, answer, URI or header set is over the service's limit."""

    codes: tuple[str, ...] = ("PAYLOAD_TOO_LARGE", "RESPONSE_TOO_LARGE", "URI_TOO_LONG", "HEADERS_TOO_LARGE")
    statuses: tuple[int, ...] = (400, 413, 414, 431)


class ProtocolError(ServiceError):
    """The request does not fit the route (wrong method, media type, missing length): a client that
    does not match the server's version."""

    codes: tuple[str, ...] = (
        "METHOD_NOT_ALLOWED",
        "NOT_ACCEPTABLE",
        "LENGTH_REQUIRED",
        "UNSUPPORTED_MEDIA_TYPE",
    )
    statuses: tuple[int, ...] = (405, 406, 411, 415)


class AuthenticationError(ServiceError):
    """Missing, wrong, revoked or wrongly signed credentials (401)."""

    codes: tuple[str, ...] = ("UNAUTHORIZED",)
    statuses: tuple[int, ...] = (401,)


class TokenExpiredError(AuthenticationError):
    """The token expired and could not be refreshed (past the refresh window, or no password)."""

    codes: tuple[str, ...] = ("TOKEN_EXPIRED",)
    statuses: tuple[int, ...] = (401,)


class PermissionDeniedError(ServiceError):
    """The caller may see the resource but not change it (403)."""

    codes: tuple[str, ...] = ("FORBIDDEN",)
    statuses: tuple[int, ...] = (403,)


class NotFoundError(ServiceError):
    """Absent, or invisible to the caller (404)."""

    codes: tuple[str, ...] = ("NOT_FOUND",)
    statuses: tuple[int, ...] = (404,)


class ConflictError(ServiceError):
    """The request clashes with the current state: a duplicate, a deployed model, a concurrent change."""

    codes: tuple[str, ...] = ("CONFLICT",)
    statuses: tuple[int, ...] = (409,)


class RateLimitedError(ServiceError):
    """Too many failed logins or concurrent password checks (429); ``retry_after_s`` says when to
    try again."""

    codes: tuple[str, ...] = ("TOO_MANY_REQUESTS",)
    statuses: tuple[int, ...] = (429,)
    retry_after_s: float | None = None


class UnavailableError(ServiceError):
    """The service or its database cannot answer now (503); retrying later may succeed."""

    codes: tuple[str, ...] = ("UNAVAILABLE",)
    statuses: tuple[int, ...] = (503,)


class ScoringTimeoutError(UnavailableError):
    """A model run was ended at its time limit."""

    codes: tuple[str, ...] = ("SCORING_TIMEOUT",)
    statuses: tuple[int, ...] = (503,)


class ServerError(ServiceError):
    """An unexpected failure in the service (500); ``request_id`` finds it in the server's log."""

    codes: tuple[str, ...] = ("INTERNAL_ERROR",)
    statuses: tuple[int, ...] = (500,)


class TaskFailedError(ClientError):
    """A long operation (import, variant, profile) ended FAILED or CANCELED; ``task`` is its last state."""

    def __init__(self, task: Any) -> None:
        super().__init__(f"task {task.task_id} ended {task.status}: {task.message or ''}".rstrip(": "))
        self.task = task


_FAMILIES: tuple[type[ServiceError], ...] = (
    InvalidRequestError,
    InvalidModelError,
    InvalidImageError,
    ScoringError,
    PayloadTooLargeError,
    ProtocolError,
    AuthenticationError,
    TokenExpiredError,
    PermissionDeniedError,
    NotFoundError,
    ConflictError,
    RateLimitedError,
    UnavailableError,
    ScoringTimeoutError,
    ServerError,
)

#: The one table from the service's code to the class raised for it.
CLASS_BY_CODE: Mapping[str, type[ServiceError]] = {code: cls for cls in _FAMILIES for code in cls.codes}

#: For codes this client does not know: the family of the status they came with.
_CLASS_BY_STATUS: Mapping[int, type[ServiceError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitedError,
    503: UnavailableError,
}


def error_class(code: str, status: int) -> type[ServiceError]:
    """The class raised for ``code``; by ``status`` when the code is new to this client."""
    known = CLASS_BY_CODE.get(code)
    if known is not None:
        return known
    if status in _CLASS_BY_STATUS:
        return _CLASS_BY_STATUS[status]
    if 400 <= status < 500 and status not in (401, 403, 404, 409, 429):
        return ProtocolError if status in ProtocolError.statuses else InvalidRequestError
    return ServerError if status >= 500 else ServiceError


def error_from_answer(
    status: int, body: Any, *, request_id: str | None = None, retry_after: str | None = None
) -> ServiceError:
    """The exception for an error answer: its JSON body when it has the service's shape, else a
    code and message made from the status."""
    if isinstance(body, Mapping) and isinstance(body.get("code"), str):
        code = str(body["code"])
        message = str(body.get("message") or code)
        raw_details = body.get("details")
        details = [str(d) for d in raw_details] if isinstance(raw_details, list) else []
    else:
        code = _status_code(status)
        message = f"HTTP {status}"
        details = []
    error = error_class(code, status)(code, message, status=status, details=details, request_id=request_id)
    if isinstance(error, RateLimitedError) and retry_after:
        with contextlib.suppress(ValueError):
            error.retry_after_s = float(retry_after)
    return error


def _status_code(status: int) -> str:
    """The code the service would send with ``status``, for answers that did not come from it (a
    proxy's 502 page)."""
    return _CODE_BY_STATUS.get(status, f"HTTP_{status}")


_CODE_BY_STATUS: Mapping[int, str] = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}
