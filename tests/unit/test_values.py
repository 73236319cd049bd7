"""Counts Oracle types as JSON numbers (``topN``, ``maxRuns``): integral numbers and their text."""

from __future__ import annotations

import pytest

from omlsvc.core.errors import InvalidInput
from omlsvc.core.values import parse_positive_int


@pytest.mark.parametrize(
    ("given", "expected"), [(2, 2), (2.0, 2), ("2", 2), ("2.0", 2), (" 50 ", 50), (None, None)]
)
def test_an_integral_number_or_its_text_is_that_integer(given: object, expected: int | None) -> None:
    assert parse_positive_int(given, "topN") == expected


@pytest.mark.parametrize(
    "given", [0, -1, 1.5, "1.5", "two", True, float("inf"), float("nan"), "", "1e3", [1], 1e40, 2**63]
)
def test_anything_else_is_refused_naming_the_field(given: object) -> None:
    with pytest.raises(InvalidInput, match="topN must be an integer from 1 to "):
        parse_positive_int(given, "topN")
