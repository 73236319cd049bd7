"""How a client's value is named in an error message: short, and never echoing more than a few
characters of what was sent."""

from __future__ import annotations

from typing import Any


def where_in_record(index: int, name: str) -> str:
    return f"record {index}, input {name!r}"


def location(index: tuple[int, ...], rank: int) -> str:
    if len(index) == 1:
        return f"row {index[0]}"
    if len(index) == 2 and rank == 2:
        return f"row {index[0]}, column {index[1]}"
    return "item " + "".join(f"[{i}]" for i in index)


def describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {show(value)}"
    if isinstance(value, list):
        return "an empty array" if not value else "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def show(value: Any) -> str:
    """A short, safe rendering of a client value for an error message."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
