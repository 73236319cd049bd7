"""One source for identifier patterns: what the services check is what the documents declare.

Every name the service checks is a compiled pattern in :mod:`omlsvc.core.patterns`, used with
``fullmatch``. The OpenAPI documents carry the same expressions as anchored ``^...$`` strings, which
clients read in ECMA-262, OpenAPI's regex dialect, where ``$`` matches only at the very end (Python's
``$`` also matches before a trailing newline: ``re.search("^a$", "a\\n")`` matches). ``jsonschema_rs``
validates with ECMA-262 semantics, so it reads the documents as a client does.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from omlsvc.core import patterns
from omlsvc.core.patterns import anchored
from omlsvc.openapi.service import service_document
from omlsvc.openapi.tensor_values import NUMERIC_STRING_PATTERN

PACKAGE = Path(patterns.__file__).resolve().parents[1]

#: Per pattern: names it accepts, names it refuses. Every accepted name followed by a newline is
#: refused too (added below).
SAMPLES: dict[str, tuple[list[str], list[str]]] = {
    "USER_NAME": (
        ["alice", "A", "OML$USER#1", "a_b", "a" * 128],
        ["", "1alice", "_alice", "a" * 129, "al ice", "al-ice", "alicé", "ali\nce", "\nalice"],
    ),
    "DB_ROLE": (
        ["omlsvc_alice", "_r", "R$1", "a" * 63],
        ["", "1r", "r#", "a" * 64, "r-1", "r r", "r\n1"],
    ),
    "MODEL_ID": (
        ["6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f", "6f1c2d3e4a5b4c6d8e9f0a1b2c3d4e5f"],
        ["", "A" * 32, "a" * 31, "a" * 37, "a_" * 16, "6F1C2D3E-4A5B-4C6D-8E9F-0A1B2C3D4E5F"],
    ),
    "MODEL_NAME": (
        ["house_rg", "house#rg$2", "1", "a" * 50],
        ["", "a" * 51, "house-rg", "house rg", "hoüse"],
    ),
    "VERSION": (
        ["1", "1.0", "99.99", "0.5", "10.1"],
        ["", "1.", ".1", "100", "1.000", "01", "1.0.0", "v1", "1,0"],
    ),
    "NAMESPACE": (
        ["", "DEMO", "a_1", "a" * 50],
        ["a" * 51, "de-mo", "de mo", "dé", "DE$MO"],
    ),
    "DEPLOYMENT_URI": (
        ["house_rg", "1", "a" * 200],
        ["", "a" * 201, "house-rg", "house/rg", "house%20rg", "../x"],
    ),
    "JOB_ID": (
        ["OML$21FACAC2_B345_4485_B287_DBDADC3A1BC0"],
        [
            "",
            "OML$21facac2_b345_4485_b287_dbdadc3a1bc0",
            "OML%2421FACAC2_B345_4485_B287_DBDADC3A1BC0",
            "21FACAC2_B345_4485_B287_DBDADC3A1BC0",
            "OML$21FACAC2-B345-4485-B287-DBDADC3A1BC0",
            "OML$21FACAC2_B345_4485_B287_DBDADC3A1BC0_IRIS",
        ],
    ),
    "IDENTIFIER": (
        ["IRIS_IN", "_t", "t$#1", "a" * 128],
        ["", "1t", "a" * 129, "t t", 't"x', "t;drop", "t.x"],
    ),
    "OUTPUT_NAME": (
        ["IRIS_OUT", "t$#1", "a" * 128],
        ["", "_t", "1t", "a" * 129, "t-1"],
    ),
    "TENANT": (
        ["ocid1.tenancy.oc1..aaaaaaaaexample", "OMLDB", "t", "a-b_c.d", "a" * 255],
        ["", ".", "..", ".hidden", "-x", "a" * 256, "a/b", "a b", "a%2Fb", "tenänt"],
    ),
    "TASK_ID": (
        ["2c98b1c8-665f-4c0b-a49f-2a4267a4d5f4"],
        [
            "",
            "2C98B1C8-665F-4C0B-A49F-2A4267A4D5F4",
            "2c98b1c8665f4c0ba49f2a4267a4d5f4",
            "2c98b1c8-665f-4c0b-a49f",
        ],
    ),
    "SHA256_HEX": (
        ["a" * 64, "F" * 64, "0123456789abcdefABCDEF" + "0" * 42],
        ["", "a" * 63, "a" * 65, "g" * 64, "a" * 32 + " " + "a" * 31],
    ),
    "CONSOLE_ASSET": (
        ["app.js", "swagger-ui.css", "a_b.1", "a" * 100],
        ["", "a" * 101, "a/b", "a b", "a%2Fb", "app.js?x"],
    ),
}

#: Where the service document declares each pattern it declares: (schema, property).
DOCUMENTED = {
    "USER_NAME": [("GrantParam", "user"), ("ModelResponse", "createdBy"), ("ModelUser", "username")],
    "MODEL_ID": [("ModelResponse", "modelId"), ("EndpointParam", "modelId")],
    "MODEL_NAME": [("ModelResponse", "modelName"), ("ModelInputForm", "modelName")],
    "VERSION": [("ModelResponse", "version"), ("ModelInputForm", "version")],
    "NAMESPACE": [("ModelResponse", "namespace"), ("UpdateNamespaceParam", "namespace")],
    "DEPLOYMENT_URI": [("EndpointParam", "uri"), ("DeploymentEndpoint", "uri")],
}

PATTERNS = {name: value for name, value in vars(patterns).items() if isinstance(value, re.Pattern)}


def test_every_pattern_has_samples() -> None:
    assert set(SAMPLES) == set(PATTERNS)


def _cases() -> list[tuple[str, str, bool]]:
    cases = []
    for name, (accepted, refused) in SAMPLES.items():
        cases += [(name, sample, True) for sample in accepted]
        cases += [(name, sample, False) for sample in refused]
        cases += [(name, sample + "\n", False) for sample in accepted]
    return cases


def _schemas_declaring(name: str) -> list[dict[str, Any]]:
    schemas = service_document("http://oml.example.com")["components"]["schemas"]
    declared = [schemas[schema]["properties"][field] for schema, field in DOCUMENTED.get(name, [])]
    return declared or [{"type": "string", "pattern": anchored(PATTERNS[name])}]


@pytest.mark.parametrize(("name", "sample", "valid"), _cases(), ids=lambda v: repr(v)[:40])
def test_the_service_check_and_the_documented_pattern_agree(name: str, sample: str, valid: bool) -> None:
    assert (PATTERNS[name].fullmatch(sample) is not None) is valid
    for schema in _schemas_declaring(name):
        assert jsonschema_rs.validator_for(schema).is_valid(sample) is valid, schema


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_the_documents_write_the_patterns_the_services_check(name: str) -> None:
    for schema in _schemas_declaring(name):
        assert schema["pattern"] == anchored(PATTERNS[name])


def _patterns_in(node: object) -> set[str]:
    if isinstance(node, dict):
        found = {node["pattern"]} if isinstance(node.get("pattern"), str) else set()
        return found.union(*(_patterns_in(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_patterns_in(item) for item in node))
    return set()


def test_every_pattern_in_the_service_document_comes_from_the_core() -> None:
    declared = _patterns_in(service_document("http://oml.example.com"))
    assert declared
    assert declared <= {anchored(p) for p in PATTERNS.values()} | {NUMERIC_STRING_PATTERN}


def _string_constants(path: Path) -> set[str]:
    return {
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(PACKAGE.rglob("*.py")) if p != Path(patterns.__file__).resolve()],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_no_module_but_the_core_writes_an_identifier_pattern(path: Path) -> None:
    sources = {p.pattern for p in PATTERNS.values()} | {anchored(p) for p in PATTERNS.values()}
    assert not _string_constants(path) & sources
