"""Checking real request and response bodies against a deployment's own OpenAPI document.

Bodies validate with ``openapi_schema_validator.OAS30Validator`` against the document's schemas,
``$ref``s resolved through a ``referencing`` registry that holds the whole document.
"""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

DOC_URI = "urn:omlsvc:test:deployment-document"


def schema_validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """An OAS 3.0 validator for ``schema`` (typically a ``$ref``) that resolves refs in ``document``."""
    registry: Registry[Any] = Registry().with_resource(
        DOC_URI, Resource.from_contents(document, default_specification=DRAFT4)
    )
    if "$ref" in schema:
        schema = {"$ref": DOC_URI + schema["$ref"]}
    return OAS30Validator(schema, registry=registry, format_checker=oas30_format_checker)


def operation(document: dict[str, Any]) -> dict[str, Any]:
    (path_item,) = document["paths"].values()
    post: dict[str, Any] = path_item["post"]
    return post


def request_validator(document: dict[str, Any], media_type: str = "application/json") -> Any:
    return schema_validator(document, operation(document)["requestBody"]["content"][media_type]["schema"])


def response_validator(document: dict[str, Any], status: str = "200") -> Any:
    response = operation(document)["responses"][status]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return schema_validator(document, response["content"]["application/json"]["schema"])


def assert_valid(validator: Any, instance: Any) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert not errors, errors


def assert_invalid(validator: Any, instance: Any) -> None:
    with pytest.raises(ValidationError):
        validator.validate(instance)
