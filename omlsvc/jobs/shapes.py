"""The shapes a scoring plan is made of: a table as reflection saw it, the columns that feed one
model input, the columns of the output, and the kinds of each (plain values, no SQL, no model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omlsvc.core.errors import InvalidInput

# Column kinds, as :mod:`omlsvc.jobs.tables` classifies reflected types.
NUMBER = "NUMBER"
STRING = "STRING"
BINARY = "BINARY"
BOOLEAN = "BOOLEAN"
TEMPORAL = "TEMPORAL"
OTHER = "OTHER"

# Output column kinds.
COPY = "COPY"
DOUBLE = "DOUBLE"
TEXT = "TEXT"
INTEGER = "INTEGER"

PREFIX = "OML$"


@dataclass(frozen=True)
class ColumnShape:
    name: str
    kind: str


@dataclass(frozen=True)
class TableShape:
    """A table or view as reflection saw it: real names, column order and kinds, primary key."""

    schema: str | None
    name: str
    columns: tuple[ColumnShape, ...]
    primary_key: tuple[str, ...]

    def find(self, wanted: str) -> ColumnShape | None:
        """The column named ``wanted``: exactly, else case-insensitively when that is unambiguous."""
        for column in self.columns:
            if column.name == wanted:
                return column
        matches = [c for c in self.columns if c.name.upper() == wanted.upper()]
        if len(matches) > 1:
            raise InvalidInput(
                f"{self.name} has several columns named {wanted!r} in different cases; give the exact name."
            )
        return matches[0] if matches else None


@dataclass(frozen=True)
class InputFeed:
    """One model input and the columns that feed it; ``rank`` 1 means one value per row (``[N]``)."""

    name: str
    columns: tuple[str, ...]
    rank: int


@dataclass(frozen=True)
class OutputColumn:
    name: str
    kind: str
    #: for COPY: the input column copied.
    source: str | None = None


@dataclass(frozen=True)
class OutputBatch:
    """Output rows column by column, in the output table's column order: what one chunk writes.

    Column-wise because results leave the model as arrays and the bulk paths of every database take
    rows of plain values; no dict is built per row.
    """

    names: tuple[str, ...]
    columns: tuple[list[Any], ...]
    rows: int

    def tuples(self) -> list[tuple[Any, ...]]:
        """The rows as tuples, in order (for executemany and COPY)."""
        return list(zip(*self.columns, strict=True))

    def dicts(self) -> list[dict[str, Any]]:
        """The rows as column name -> value (for reading in tests and messages)."""
        return [dict(zip(self.names, row, strict=True)) for row in self.tuples()]
