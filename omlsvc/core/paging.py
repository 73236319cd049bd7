"""Pages of a listing: fetch one row more than asked, so "is there a next page?" costs no count."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def fetch_page(fetch: Callable[[int | None], Sequence[T]], limit: int | None) -> tuple[list[T], bool]:
    """Call ``fetch(limit + 1)`` (``fetch(None)`` for everything) and split off the extra row."""
    rows = list(fetch(None if limit is None else limit + 1))
    if limit is not None and len(rows) > limit:
        return rows[:limit], True
    return rows, False
