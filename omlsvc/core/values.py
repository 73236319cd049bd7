"""Request values every capability parses the same way."""

from __future__ import annotations

from omlsvc.core.errors import InvalidInput


def parse_positive_int(value: object, name: str) -> int | None:
    """An integer of at least 1, given as a number or (as Oracle's examples do) a numeric string."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput(f"{name} must be an integer of at least 1.")
    return value
