"""The shapes a scoring plan is made of: a table as reflection saw it, the columns that feed one
model input, the columns of the output, and the kinds of each (plain values, no SQL, no model)."""

from __future__ import annotations

from dataclasses import dataclass

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
