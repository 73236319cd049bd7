"""The documents' error responses come from the one error table (``omlsvc.openapi.error_table``)."""

from __future__ import annotations

from typing import Any

from omlsvc.core.errors import OmlError
from omlsvc.openapi.builders import error_responses, response_name
from omlsvc.openapi.error_table import STATUS_BY_ERROR, TRANSPORT_STATUSES, code_of_status, error_statuses
from omlsvc.openapi.service import service_document


class ModelRetired(OmlError):
    """The model was retired by its owner; its versions stay readable."""

    code = "MODEL_RETIRED"


def _referenced_statuses(document: dict[str, Any]) -> set[int]:
    return {
        int(status)
        for item in document["paths"].values()
        for method, operation in item.items()
        if method != "parameters"
        for status in operation["responses"]
        if int(status) >= 400
    }


def test_every_status_of_the_error_table_has_a_response_named_after_its_code() -> None:
    responses = service_document("http://oml.example.com")["components"]["responses"]
    statuses = {status for _, status in STATUS_BY_ERROR} | set(TRANSPORT_STATUSES)
    assert list(responses) == [response_name(status) for status in sorted(statuses)]
    assert response_name(413) == "PayloadTooLarge" and code_of_status(413) == "PAYLOAD_TOO_LARGE"
    for response in responses.values():
        assert response["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def test_operations_answer_only_with_statuses_the_error_table_knows() -> None:
    document = service_document("http://oml.example.com")
    assert _referenced_statuses(document) <= set(error_statuses())


def test_a_too_many_requests_answer_declares_its_retry_after_header() -> None:
    responses = service_document("http://oml.example.com")["components"]["responses"]
    assert responses["TooManyRequests"]["headers"]["Retry-After"]["required"] is True
    assert [name for name, response in responses.items() if "headers" in response] == ["TooManyRequests"]


def test_a_new_error_class_shows_up_by_itself_described_by_its_docstring() -> None:
    table = (*STATUS_BY_ERROR, (ModelRetired, 410))
    responses = error_responses(table=table)
    assert responses["Gone"] == {
        "description": "The model was retired by its owner; its versions stay readable.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    assert "Gone" not in error_responses()


def test_a_status_without_prose_is_described_by_its_error_classes() -> None:
    (conflict,) = error_responses([409]).values()
    assert conflict["description"].startswith("The request clashes with the current state")
    (unexpected,) = error_responses([500]).values()
    assert unexpected["description"] == "Internal Server Error."
