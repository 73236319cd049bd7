"""The client's one table from the service's error codes to its exception classes covers every code the
service can send, each with the status the service sends it with."""

from __future__ import annotations

import inspect

import pytest

import omlsvc.core.errors as domain
from omlsvc.client.errors import (
    CLASS_BY_CODE,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    ServiceError,
    error_class,
    error_from_answer,
)
from omlsvc.openapi.error_table import CODE_BY_STATUS, status_of

DOMAIN_ERRORS = sorted(
    (cls for _, cls in inspect.getmembers(domain, inspect.isclass) if issubclass(cls, domain.OmlError)),
    key=lambda cls: cls.code,
)


@pytest.mark.parametrize("cls", DOMAIN_ERRORS, ids=lambda cls: cls.code)
def test_every_domain_error_code_has_its_class(cls: type[domain.OmlError]) -> None:
    status = status_of(cls("x"))
    if cls is domain.OmlError:  # the root is never raised itself: a 500
        assert error_class(cls.code, status) is ServerError
        return
    raised = CLASS_BY_CODE[cls.code]
    assert status in raised.statuses, (
        f"{cls.code} comes with {status}, {raised.__name__} says {raised.statuses}"
    )


@pytest.mark.parametrize(("status", "code"), sorted(CODE_BY_STATUS.items()))
def test_every_code_of_a_transport_error_has_its_class(status: int, code: str) -> None:
    assert status in CLASS_BY_CODE[code].statuses


def test_each_code_is_mapped_once() -> None:
    codes = [code for cls in {*CLASS_BY_CODE.values()} for code in cls.codes]
    assert len(codes) == len(set(codes))


def test_an_answer_becomes_its_exception_with_code_message_and_details() -> None:
    error = error_from_answer(
        400, {"code": "INVALID_MODEL", "message": "bad", "details": ["a", "b"]}, request_id="r1"
    )
    assert (error.code, error.message, error.details, error.status, error.request_id) == (
        "INVALID_MODEL",
        "bad",
        ("a", "b"),
        400,
        "r1",
    )
    assert isinstance(error, InvalidRequestError)
    limited = error_from_answer(429, {"code": "TOO_MANY_REQUESTS", "message": "wait"}, retry_after="3")
    assert isinstance(limited, RateLimitedError) and limited.retry_after_s == 3.0


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (404, {"code": "SOMETHING_NEW", "message": "m"}, NotFoundError, "SOMETHING_NEW"),
        (401, None, AuthenticationError, "UNAUTHORIZED"),
        (502, "<html>bad gateway</html>", ServerError, "BAD_GATEWAY"),
        (418, None, InvalidRequestError, "HTTP_418"),
        (405, None, ProtocolError, "METHOD_NOT_ALLOWED"),
    ],
)
def test_codes_new_to_the_client_and_foreign_answers_fall_back_to_their_status(
    status: int, body: object, cls: type[ServiceError], code: str
) -> None:
    error = error_from_answer(status, body)
    assert type(error) is cls and error.code == code
