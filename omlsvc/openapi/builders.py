"""The one builder toolkit of the OpenAPI documents: references, content, operations, parameters,
paging, collections, and error responses derived from the one error table.

Every helper returns fresh objects (no tuples, nothing shared between calls), so a document may be
edited by whoever receives it without changing the next one.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from omlsvc.core.errors import OmlError
from omlsvc.core.limits import MAX_OFFSET
from omlsvc.openapi.error_table import STATUS_BY_ERROR, code_of_status, error_statuses, errors_with_status

OPENAPI_VERSION = "3.0.3"
#: Where a document keeps its schema components; every schema ``$ref`` points below it.
SCHEMA_REF_PREFIX = "#/components/schemas/"
RESPONSE_REF_PREFIX = "#/components/responses/"
SECURITY_SCHEME = "bearerAuth"
#: Every protected operation may answer these: no valid token, an unexpected failure, no database.
COMMON_ERRORS = (401, 500, 503)

ErrorTable = tuple[tuple[type[OmlError], int], ...]


# --- references and content ----------------------------------------------------------------------


def schema_ref(name: str) -> dict[str, Any]:
    """A Reference Object to the component schema ``name``."""
    return {"$ref": SCHEMA_REF_PREFIX + name}


def json_content(schema: str | dict[str, Any]) -> dict[str, Any]:
    """``application/json`` content of a schema, given by component name or inline."""
    return {"application/json": {"schema": schema_ref(schema) if isinstance(schema, str) else schema}}


def json_body(schema: str) -> dict[str, Any]:
    """A required JSON request body of the component schema ``schema``."""
    return {"required": True, "content": json_content(schema)}


def ok(description: str, schema: str | dict[str, Any] | None = None, status: str = "200") -> dict[str, Any]:
    """A success response, with a JSON body when ``schema`` is given."""
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response["content"] = json_content(schema)
    return {status: response}


def created(description: str, schema: str) -> dict[str, Any]:
    """A 201 whose ``Location`` header names what was created."""
    return {
        "201": {
            "description": description,
            "headers": {"Location": {"schema": {"type": "string"}}},
            "content": json_content(schema),
        }
    }


def bearer_scheme(description: str | None = None) -> dict[str, Any]:
    """The security scheme of every protected operation: a JWT bearer token."""
    scheme = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    if description is not None:
        scheme["description"] = description
    return {SECURITY_SCHEME: scheme}


# --- operations and parameters -------------------------------------------------------------------


def operation(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    errors: Iterable[int],
    *,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    public: bool = False,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """An Operation Object: its success ``responses``, then a reference to the shared error response
    of each status in ``errors``; ``public`` operations need no token."""
    result: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    if tags:
        result["tags"] = list(tags)
    result["responses"] = {**responses, **error_refs(errors)}
    if body is not None:
        result["requestBody"] = body
    if parameters:
        result["parameters"] = parameters
    if public:
        result["security"] = []
    return result


def query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """An optional query parameter (a string unless ``schema`` says otherwise)."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def path_parameter(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A path parameter (a string unless ``schema`` says otherwise)."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def integer(minimum: int, maximum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": minimum}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def paging_parameters(limit_text: str, max_limit: int | None) -> list[dict[str, Any]]:
    """``offset`` and ``limit`` (our extension); bounded when ``max_limit`` is given."""
    bounded = max_limit is not None
    return [
        query("offset", "Our extension: items to skip.", integer(0, MAX_OFFSET if bounded else None)),
        query("limit", limit_text, integer(1, max_limit)),
    ]


# --- schema helpers ------------------------------------------------------------------------------


def links_schema(description: str | None = None) -> dict[str, Any]:
    """An array of ``Link`` objects."""
    schema: dict[str, Any] = {"type": "array", "items": schema_ref("Link")}
    if description is not None:
        schema["description"] = description
    return schema


def collection_schema(
    item: str, *, description: str | None = None, links: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A page of ``item`` objects with its links (``{"items": [...], "links": [...]}``)."""
    schema: dict[str, Any] = {"type": "object"}
    if description is not None:
        schema["description"] = description
    schema["required"] = ["items", "links"]
    schema["properties"] = {
        "items": {"type": "array", "items": schema_ref(item)},
        "links": links or links_schema(),
    }
    return schema


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


# --- error responses -----------------------------------------------------------------------------


def response_name(status: int) -> str:
    """The component name of the error response of ``status``: its code in CamelCase
    (``PAYLOAD_TOO_LARGE`` -> ``PayloadTooLarge``)."""
    return "".join(word.capitalize() for word in code_of_status(status).split("_"))


def error_refs(statuses: Iterable[int]) -> dict[str, Any]:
    """``responses`` entries that refer to the shared error response of each status."""
    return {str(status): {"$ref": RESPONSE_REF_PREFIX + response_name(status)} for status in statuses}


def error_responses(
    statuses: Iterable[int] | None = None,
    texts: Mapping[int, str] | None = None,
    headers: Mapping[int, dict[str, Any]] | None = None,
    table: ErrorTable = STATUS_BY_ERROR,
) -> dict[str, Any]:
    """``components.responses`` for ``statuses`` (all that the error table and the transport answer
    with, when ``None``), each the ``Error`` body described by ``texts``. A status without a text is
    described by the docstrings of the error classes the table maps to it, else by its HTTP phrase,
    so a new error class appears in every document by itself."""
    texts = texts or {}
    headers = headers or {}
    responses: dict[str, Any] = {}
    for status in error_statuses(table) if statuses is None else statuses:
        response: dict[str, Any] = {
            "description": texts.get(status) or _describe(status, table),
            "content": json_content("Error"),
        }
        if status in headers:
            response["headers"] = headers[status]
        responses[response_name(status)] = response
    return responses


def _describe(status: int, table: ErrorTable) -> str:
    docs = [inspect.getdoc(cls) for cls in errors_with_status(status, table)]
    texts = [" ".join(doc.split()) for doc in docs if doc]
    return " ".join(texts) or HTTPStatus(status).phrase + "."
