"""The output tables of monitoring jobs (spec ``oml-monitoring.md`` sections 5 and 12) and the
bookkeeping that ``recompute`` needs (which periods are in the table already, which rows go).

Types per dialect (spec 13.7): TIMESTAMP WITH TIME ZONE is ``timestamptz`` on PostgreSQL and
ISO-8601 text on SQLite; NUMBER is a double; CLOB is text. Names are upper case and quoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Double,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    select,
)
from sqlalchemy import types as sqltypes

from omlsvc.jobs.monitoring.periods import Period, as_utc

DATA_MONITORING_COLUMNS = (
    "START_TIME",
    "END_TIME",
    "IS_BASELINE",
    "THRESHOLD",
    "HAS_DRIFT",
    "DRIFT",
    "FEATURE_NAME",
    "FEATURE_TYPE",
    "IMPORTANCE_VALUE",
    "FEATURE_METRICS",
    "CREATION_TIME",
)
MODEL_MONITORING_COLUMNS = (
    "START_TIME",
    "END_TIME",
    "IS_BASELINE",
    "MODEL_ID",
    "METRIC",
    "HAS_DRIFT",
    "DRIFT",
    "MODEL_TYPE",
    "THRESHOLD",
    "MODEL_METRICS",
    "CREATION_TIME",
)
DATA_BIAS_COLUMNS = ("FEATURE_NAME", "RESULT", "CREATION_TIME")

_TYPES: dict[str, sqltypes.TypeEngine[Any]] = {
    "IS_BASELINE": Integer(),
    "HAS_DRIFT": Integer(),
    "THRESHOLD": Double(),
    "DRIFT": Double(),
    "IMPORTANCE_VALUE": Double(),
    "METRIC": Double(),
    "FEATURE_NAME": String(128),
    "FEATURE_TYPE": String(16),
    "MODEL_ID": String(36),
    "MODEL_TYPE": String(16),
    "FEATURE_METRICS": Text(),
    "MODEL_METRICS": Text(),
    "RESULT": Text(),
}
_TIMES = ("START_TIME", "END_TIME", "CREATION_TIME")


def _time_type(dialect: str) -> sqltypes.TypeEngine[Any]:
    return String(40) if dialect == "sqlite" else DateTime(timezone=True)


def output_table(schema: str | None, name: str, columns: Sequence[str], dialect: str) -> Table:
    return Table(
        name,
        MetaData(),
        *(Column(c, _time_type(dialect) if c in _TIMES else _TYPES[c], quote=True) for c in columns),
        schema=schema,
        quote=True,
    )


def time_value(moment: datetime | None, dialect: str) -> Any:
    """A UTC instant as the dialect's column holds it (ISO-8601 text on SQLite)."""
    if moment is None:
        return None
    utc = as_utc(moment)
    return utc.isoformat() if dialect == "sqlite" else utc


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_utc(value)


def existing_state(connection: Connection, table: Table) -> tuple[bool, set[tuple[datetime, datetime]]]:
    """Whether baseline rows are present, and the (start, end) of every timed period in the table."""
    rows = connection.execute(
        select(table.c.IS_BASELINE, table.c.START_TIME, table.c.END_TIME).distinct()
    ).all()
    baseline = any(row[0] == 1 for row in rows)
    periods = {
        (start, end)
        for row in rows
        if row[0] == 0 and (start := _instant(row[1])) is not None and (end := _instant(row[2])) is not None
    }
    return baseline, periods


def delete_recomputed(
    connection: Connection, table: Table, periods: Sequence[Period | None], dialect: str
) -> None:
    """``recompute=true``: the baseline rows and the rows of every period of the current grid go (an
    untimed period: every untimed row); rows of periods outside the grid stay."""
    connection.execute(delete(table).where(table.c.IS_BASELINE == 1))
    for period in periods:
        if period is None:
            connection.execute(delete(table).where(table.c.START_TIME.is_(None)))
        else:
            connection.execute(
                delete(table).where(
                    and_(
                        time_value(period.start, dialect) == table.c.START_TIME,
                        time_value(period.end, dialect) == table.c.END_TIME,
                    )
                )
            )
