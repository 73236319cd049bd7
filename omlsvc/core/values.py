"""Request values every capability parses the same way."""

from __future__ import annotations

import re

from omlsvc.core.errors import InvalidInput

#: Oracle types its counts (``topN``, ``maxRuns``) as JSON ``number``s: an integral one (``2.0``, or
#: ``"2.0"`` as text) is that integer (issue 17).
_INTEGRAL_TEXT = re.compile(r"[0-9]{1,18}(\.0*)?")
#: The largest count taken: a signed 64-bit integer, what every database column and numpy index holds.
MAX_COUNT = 2**63 - 1
#: Past this a float no longer holds every integer exactly (a JSON number of 40 digits arrives as one).
_EXACT_FLOAT = 2.0**53


def parse_positive_int(value: object, name: str) -> int | None:
    """An integer of at least 1, given as a number with an integral value or (as Oracle's examples
    do) a numeric string."""
    if value is None:
        return None
    if isinstance(value, str) and _INTEGRAL_TEXT.fullmatch(value.strip()):
        value = int(float(value.strip()))
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_FLOAT:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_COUNT:
        raise InvalidInput(f"{name} must be an integer from 1 to {MAX_COUNT}.")
    return value
