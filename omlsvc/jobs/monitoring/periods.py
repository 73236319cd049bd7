"""The period grid of a monitoring job (spec ``oml-monitoring.md`` section 4): pure date arithmetic.

Periods are laid backwards from the end ``E*`` in steps of one unit; each earlier period ends one
second before the next one starts, the earliest is clipped at the start ``S*``. Rows are assigned
with half-open intervals ``[start_k, start_k+1)`` (the latest closed at ``E*``), so a row inside one
of the reported one-second gaps still counts.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from dateutil.relativedelta import relativedelta

FREQUENCIES = ("day", "week", "month", "year")
#: Periods laid out when no ``startDate`` is given (spec 4: at most 10 by default).
DEFAULT_PERIODS = 10
_ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime


def _unit(frequency: str) -> relativedelta:
    return {
        "day": relativedelta(days=1),
        "week": relativedelta(days=7),
        "month": relativedelta(months=1),
        "year": relativedelta(years=1),
    }[frequency.lower()]


def as_utc(moment: datetime) -> datetime:
    """A zone-less value is taken as UTC (spec 4)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def period_grid(
    first: datetime,
    last: datetime,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    frequency: str | None = None,
    max_periods: int = DEFAULT_PERIODS,
) -> list[Period]:
    """The periods, oldest first. ``first``/``last``: the earliest and latest time values of the new
    data; ``start``/``end``: the job's ``startDate``/``endDate``."""
    e_star = as_utc(end or last)
    if frequency is None:
        s_star = as_utc(start or first)
        return [Period(s_star, e_star)] if s_star <= e_star else []
    unit = _unit(frequency)
    if start is not None:
        s_star = as_utc(start)
    else:
        tenth = e_star - unit
        for _ in range(max_periods - 1):
            tenth = (tenth - _ONE_SECOND) - unit
        s_star = max(as_utc(first), tenth)
    periods: list[Period] = []
    period_end = e_star
    while period_end >= s_star:
        period_start = max(period_end - unit, s_star)
        periods.append(Period(period_start, period_end))
        period_end = period_start - _ONE_SECOND
    return periods[::-1]


def assign(times: list[datetime | None], periods: list[Period]) -> np.ndarray:
    """Index of the period each time falls in (half-open ``[start_k, start_k+1)``, the latest closed at
    its end), -1 for none (missing, before the first start, after the last end)."""
    result = np.full(len(times), -1, dtype=np.int64)
    if not periods:
        return result
    starts = [p.start for p in periods]
    final_end = periods[-1].end
    for i, moment in enumerate(times):
        if moment is None:
            continue
        value = as_utc(moment)
        if value < starts[0] or value > final_end:
            continue
        result[i] = bisect.bisect_right(starts, value) - 1
    return result
