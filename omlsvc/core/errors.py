"""The one error hierarchy of omlsvc.

Domain errors know nothing of HTTP: each carries a stable upper-case ``code`` and a message built
from structured fields. ``omlsvc.openapi.error_table`` maps each class to a status in one table, so a
new error class needs exactly one line there. Driver and library exceptions are translated into these where
they arise (IntegrityError -> Conflict, BadZipFile -> InvalidModel, onnxruntime -> ScoringFailed).
"""

from __future__ import annotations

from collections.abc import Sequence


class OmlError(Exception):
    """Root of every error omlsvc reports to a client."""

    code = "ERROR"

    def __init__(self, message: str, *, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = tuple(details)

    def __reduce__(self) -> tuple[object, ...]:
        # Keep ``details`` when an error crosses a process boundary (validation runs in a child).
        return (_rebuild, (type(self), self.message, self.details))


def _rebuild(cls: type[OmlError], message: str, details: tuple[str, ...]) -> OmlError:
    return cls(message, details=details)


class InvalidInput(OmlError):
    """The request is malformed or breaks a documented rule."""

    code = "INVALID_INPUT"


class InvalidModel(InvalidInput):
    """An uploaded model package breaks the ONNX metadata specification; ``details`` lists every problem."""

    code = "INVALID_MODEL"


class InvalidImage(InvalidInput):
    """Image data that cannot be decoded, or that is too large to decode safely."""

    code = "INVALID_IMAGE"


class PayloadTooLarge(InvalidInput):
    """A body, upload or record batch is over its configured limit."""

    code = "PAYLOAD_TOO_LARGE"


class ResponseTooLarge(PayloadTooLarge):
    """The answer to a request would be over ``OMLSVC_MAX_RESPONSE_BYTES``; ask for less at once."""

    code = "RESPONSE_TOO_LARGE"


class Unauthorized(OmlError):
    """Missing, malformed, expired, revoked or wrongly signed credentials."""

    code = "UNAUTHORIZED"


class TokenExpired(Unauthorized):
    code = "TOKEN_EXPIRED"


class TooManyRequests(OmlError):
    """Too many failed logins for a user name or client address, or too many password checks at
    once in this worker: refused without checking anything; retrying after ``retry_after_s`` may
    succeed."""

    code = "TOO_MANY_REQUESTS"

    def __init__(self, message: str, *, retry_after_s: int = 1, details: Sequence[str] = ()) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = max(1, retry_after_s)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_too_many, (self.message, self.details, self.retry_after_s))


def _rebuild_too_many(message: str, details: tuple[str, ...], retry_after_s: int) -> TooManyRequests:
    return TooManyRequests(message, details=details, retry_after_s=retry_after_s)


class Forbidden(OmlError):
    """The caller may see the resource but may not change it."""

    code = "FORBIDDEN"


class NotFound(OmlError):
    """Absent, or invisible to the caller (the two are deliberately indistinguishable)."""

    code = "NOT_FOUND"


class Conflict(OmlError):
    """The request clashes with the current state (duplicate name, model still deployed, ...)."""

    code = "CONFLICT"


class ScoringFailed(OmlError):
    """onnxruntime refused inputs that passed our own checks."""

    code = "SCORING_FAILED"


class MemoryLimitExceeded(ScoringFailed):
    """A model run needs more memory than a worker lets onnxruntime hold, whatever else runs."""

    code = "MEMORY_LIMIT_EXCEEDED"


class ScoringTimeout(OmlError):
    """A model run was ended at its time limit (the deployment's ``scoreTimeout`` or
    ``OMLSVC_SCORE_TIMEOUT``); the worker thread is free again."""

    code = "SCORING_TIMEOUT"


class Unavailable(OmlError):
    """A dependency (the database) cannot be reached; retrying later may succeed."""

    code = "UNAVAILABLE"


# -- tasks: URL import (issue 15) ------------------------------------------------------------------


class UrlNotAllowed(InvalidInput):
    """A URL the service will not fetch: not http(s), or its host resolves to a loopback, link-local,
    private or otherwise non-public address that ``OMLSVC_IMPORT_ALLOW`` does not allow."""

    code = "URL_NOT_ALLOWED"


class FetchFailed(InvalidInput):
    """Fetching a URL failed: the server answered an error, stalled, sent too much or could not be reached."""

    code = "FETCH_FAILED"
