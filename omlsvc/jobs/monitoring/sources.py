"""Where a monitoring job reads: its tables found as the job's owner may read them, their columns
classified, and read whole (in case id or key order, so sampling is repeatable).

Runs in the caller's transaction, inside :func:`omlsvc.jobs.access.user_tables`, exactly as batch
scoring finds its input: a table the owner may not read answers like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Table, select

from omlsvc.core.errors import InvalidInput
from omlsvc.jobs import shapes as p
from omlsvc.jobs.access import UserTables
from omlsvc.jobs.tables import DataTables

NUMERIC = "NUMERIC"
CATEGORICAL = "CATEGORICAL"
#: Rows read from one table by one run: the statistics hold them in memory.
MAX_ROWS = 2_000_000


@dataclass(frozen=True)
class Source:
    """A table a monitoring job reads, with its columns' kinds (:mod:`omlsvc.jobs.shapes` words)."""

    field: str
    table: Table
    shape: p.TableShape

    def column(self, wanted: str, field: str) -> p.ColumnShape:
        found = self.shape.find(wanted)
        if found is None:
            raise InvalidInput(f"{field}: {self.field} {self.table.name} has no column {wanted!r}.")
        return found


def find_source(user: UserTables, schema: str | None, wanted: str, field: str) -> Source:
    """The table or view ``wanted`` as the job's identity may read it, reflected."""
    try:
        found_schema, name = user.find_input(schema, wanted)
    except InvalidInput as exc:
        raise InvalidInput(exc.message.replace("inputData", field, 1)) from None
    table = user.tables.reflect(found_schema, name)
    return Source(field, table, DataTables.shape(table))


def feature_kind(column: p.ColumnShape) -> str | None:
    """NUMERIC, CATEGORICAL, or None for a column that cannot be monitored (dates, binaries, ...)."""
    if column.kind == p.NUMBER:
        return NUMERIC
    if column.kind == p.STRING:
        return CATEGORICAL
    return None


def require_time(source: Source, name: str) -> str:
    column = source.column(name, "timeColumn")
    if column.kind != p.TEMPORAL:
        raise InvalidInput(
            f"timeColumn: {column.name} of {source.table.name} is not a DATE or TIMESTAMP column."
        )
    return column.name


def read_columns(
    user: UserTables, source: Source, columns: Sequence[str], order: Sequence[str] = ()
) -> dict[str, list[Any]]:
    """The values of ``columns`` (real names), one list per column, ordered by ``order`` (else by the
    table's primary key) so a run reads rows in the same order every time."""
    user.guard_input(source.table)
    table = source.table
    keys = [table.c[name] for name in (order or source.shape.primary_key)]
    query = select(*(table.c[name] for name in columns)).order_by(*keys).limit(MAX_ROWS + 1)
    rows = user.connection.execute(query).all()
    if len(rows) > MAX_ROWS:
        raise InvalidInput(
            f"{source.field} {table.name} holds more than {MAX_ROWS} rows, more than one run reads."
        )
    return {name: [row[i] for row in rows] for i, name in enumerate(columns)}


def numeric_array(values: Sequence[Any]) -> np.ndarray:
    """Numbers as float64, None as NaN."""
    return np.asarray(
        [np.nan if v is None else float(v) for v in values],
        dtype=np.float64,
    )


def categorical_array(values: Sequence[Any]) -> np.ndarray:
    """Categories as text, None kept."""
    return np.asarray([None if v is None else str(v) for v in values], dtype=object)
