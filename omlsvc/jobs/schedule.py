"""``jobSchedule``: parsed and checked once, then asked when the next run is due.

``repeatInterval`` is written in Oracle DBMS_SCHEDULER's calendaring syntax
(``FREQ=WEEKLY;BYDAY=MON,FRI;BYHOUR=6``), which is RFC 5545's RRULE grammar under other names for
days and months. We accept the calendaring clauses that map one to one onto
:class:`dateutil.rrule.rrule` (FREQ, INTERVAL, BYMONTH, BYWEEKNO, BYYEARDAY, BYMONTHDAY, BYDAY,
BYHOUR, BYMINUTE, BYSECOND, BYSETPOS) and refuse everything else (PL/SQL date expressions, named
schedules, INCLUDE/EXCLUDE/INTERSECT, BYDATE) with :class:`InvalidInput`, so a job never carries a
schedule we would silently misread.

Times are naive UTC throughout, like every timestamp in the database. Oracle semantics kept:

* without ``repeatInterval`` the job runs once, at ``jobStartDate`` or at once;
* with it, the first run is the first occurrence on or after ``jobStartDate`` (default: when the
  job was submitted), later runs follow the rule; occurrences missed while no runner was up are not
  caught up one by one: one run is made and the schedule continues from the present;
* no run after ``jobEndDate``; at most ``maxRuns`` scheduled runs (an ad-hoc ``RUN`` does not count).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from dateutil import rrule

from omlsvc.core.errors import InvalidInput
from omlsvc.core.values import parse_positive_int

FREQUENCIES = {
    "YEARLY": rrule.YEARLY,
    "MONTHLY": rrule.MONTHLY,
    "WEEKLY": rrule.WEEKLY,
    "DAILY": rrule.DAILY,
    "HOURLY": rrule.HOURLY,
    "MINUTELY": rrule.MINUTELY,
    "SECONDLY": rrule.SECONDLY,
}
WEEKDAYS = {
    "MON": rrule.MO,
    "TUE": rrule.TU,
    "WED": rrule.WE,
    "THU": rrule.TH,
    "FRI": rrule.FR,
    "SAT": rrule.SA,
    "SUN": rrule.SU,
}
MONTHS = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
    )
}
#: Clauses of the calendaring syntax that exist in Oracle but have no faithful rrule equivalent.
UNSUPPORTED = ("BYDATE", "BYPERIOD", "INCLUDE", "EXCLUDE", "INTERSECT", "PERIODS")
MAX_INTERVAL = 999  # Oracle's own upper bound for INTERVAL
MAX_REPEAT_INTERVAL_LENGTH = 4000
SCHEDULE_FIELDS = ("jobStartDate", "jobEndDate", "repeatInterval", "maxRuns")
#: A rule is checked for any occurrence in the last years the calendar has: the check is then bounded
#: (about 30 years of iteration, tens of milliseconds) even for a rule that never matches, which
#: dateutil would otherwise search until the year 9999 (seconds of CPU per request).
_PROBE_START = datetime(9970, 1, 1)

_BYDAY = re.compile(r"([+-]?\d{1,2})?([A-Z]{3})")


@dataclass(frozen=True)
class RepeatRule:
    """A parsed ``repeatInterval``: its normalised text and the arguments of ``dateutil.rrule``."""

    text: str
    freq: int
    options: tuple[tuple[str, Any], ...]

    def rule(self, dtstart: datetime, until: datetime | None = None) -> rrule.rrule:
        return rrule.rrule(
            self.freq, dtstart=dtstart.replace(microsecond=0), until=until, **dict(self.options)
        )


def parse_repeat_interval(text: str) -> RepeatRule:
    """Parse calendaring syntax; :class:`InvalidInput` names the clause that is wrong."""
    if len(text) > MAX_REPEAT_INTERVAL_LENGTH:
        raise InvalidInput(f"repeatInterval is longer than {MAX_REPEAT_INTERVAL_LENGTH} characters.")
    clauses: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip().upper(), re.sub(r"\s+", "", value).upper()
        if not sep or not name or not value:
            raise _bad(text, f"{part!r} is not NAME=VALUE")
        if name in clauses:
            raise _bad(text, f"{name} is given twice")
        clauses[name] = value
    if "FREQ" not in clauses:
        raise _bad(text, "FREQ is required (YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY, MINUTELY or SECONDLY)")
    freq_name = clauses["FREQ"]
    if freq_name not in FREQUENCIES:
        raise _bad(
            text,
            f"FREQ={freq_name} is not supported; use YEARLY, MONTHLY, WEEKLY, DAILY, HOURLY, MINUTELY or SECONDLY",
        )
    options: dict[str, Any] = {}
    for name, value in clauses.items():
        if name == "FREQ":
            continue
        if name in UNSUPPORTED:
            raise _bad(text, f"{name} is not supported by this service")
        parse = _CLAUSES.get(name)
        if parse is None:
            raise _bad(text, f"unknown clause {name}")
        key, parsed = parse(text, name, value)
        options[key] = parsed
    parsed_rule = RepeatRule(
        text=";".join(f"{name}={value}" for name, value in clauses.items()),
        freq=FREQUENCIES[freq_name],
        options=tuple(sorted(options.items())),
    )
    try:
        probe = parsed_rule.rule(_PROBE_START).after(_PROBE_START, inc=True)
    except (ValueError, TypeError) as exc:
        raise _bad(text, str(exc)) from None
    if probe is None:
        raise _bad(text, "the rule never matches a date")
    return parsed_rule


def _bad(text: str, why: str) -> InvalidInput:
    return InvalidInput(f"repeatInterval {text!r} is not valid calendaring syntax: {why}.")


def _numbers(low: int, high: int, *, zero: bool = True, names: dict[str, int] | None = None) -> Any:
    def parse(text: str, name: str, value: str) -> tuple[str, tuple[int, ...]]:
        numbers = []
        for item in value.split(","):
            if names and item in names:
                numbers.append(names[item])
                continue
            if not re.fullmatch(r"[+-]?\d{1,4}", item):
                raise _bad(text, f"{name} value {item!r} is not a number")
            number = int(item)
            if not low <= number <= high or (number == 0 and not zero):
                raise _bad(text, f"{name} value {number} is out of range ({low} to {high})")
            numbers.append(number)
        return name.lower(), tuple(numbers)

    return parse


def _interval(text: str, name: str, value: str) -> tuple[str, int]:
    if not value.isdigit() or not 1 <= int(value) <= MAX_INTERVAL:
        raise _bad(text, f"INTERVAL must be a whole number from 1 to {MAX_INTERVAL}")
    return "interval", int(value)


def _byday(text: str, name: str, value: str) -> tuple[str, tuple[rrule.weekday, ...]]:
    days = []
    for item in value.split(","):
        match = _BYDAY.fullmatch(item)
        if match is None or match.group(2) not in WEEKDAYS:
            raise _bad(
                text, f"BYDAY value {item!r} is not a day (MON, TUE, WED, THU, FRI, SAT, SUN, or e.g. -1FRI)"
            )
        day = WEEKDAYS[match.group(2)]
        if match.group(1) is not None:
            n = int(match.group(1))
            if n == 0 or not -53 <= n <= 53:
                raise _bad(text, f"BYDAY value {item!r} has an ordinal out of range")
            day = day(n)
        days.append(day)
    return "byweekday", tuple(days)


_CLAUSES: dict[str, Any] = {
    "INTERVAL": _interval,
    "BYMONTH": _numbers(1, 12, names=MONTHS),
    "BYWEEKNO": _numbers(-53, 53, zero=False),
    "BYYEARDAY": _numbers(-366, 366, zero=False),
    "BYMONTHDAY": _numbers(-31, 31, zero=False),
    "BYDAY": _byday,
    "BYHOUR": _numbers(0, 23),
    "BYMINUTE": _numbers(0, 59),
    "BYSECOND": _numbers(0, 59),
    "BYSETPOS": _numbers(-366, 366, zero=False),
}


# -- dates -----------------------------------------------------------------------------------------


def parse_timestamp(value: object, name: str) -> datetime | None:
    """An ISO-8601 date-time (``2024-05-12T02:33:16Z``) as naive UTC; no offset means UTC."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} must be an ISO-8601 date-time such as 2025-01-06T02:00:00Z.")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{name} {value!r} is not an ISO-8601 date-time such as 2025-01-06T02:00:00Z."
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def iso_utc(moment: datetime | None) -> str | None:
    """Naive UTC -> ``2025-01-06T02:00:00Z`` (microseconds shown only when there are any)."""
    if moment is None:
        return None
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds") + "Z"


# -- the schedule ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """A job's ``jobSchedule``; every field optional. All instants are naive UTC."""

    start: datetime | None = None
    end: datetime | None = None
    max_runs: int | None = None
    repeat: RepeatRule | None = None

    @classmethod
    def parse(cls, raw: object) -> Schedule:
        """Parse a whole ``jobSchedule`` (absent or null: run once, now)."""
        return cls().updated(raw)

    def updated(self, raw: object) -> Schedule:
        """This schedule with the fields present in ``raw`` replaced (null clears one): the partial
        update of ``POST /jobs/{jobId}``."""
        if raw is None:
            return self
        if not isinstance(raw, dict):
            raise InvalidInput("jobSchedule must be an object.")
        unknown = sorted(set(raw) - set(SCHEDULE_FIELDS))
        if unknown:
            raise InvalidInput(
                f"jobSchedule has unknown field(s) {', '.join(unknown)}; it takes {', '.join(SCHEDULE_FIELDS)}."
            )
        changes: dict[str, Any] = {}
        if "jobStartDate" in raw:
            changes["start"] = parse_timestamp(raw["jobStartDate"], "jobStartDate")
        if "jobEndDate" in raw:
            changes["end"] = parse_timestamp(raw["jobEndDate"], "jobEndDate")
        if "maxRuns" in raw:
            changes["max_runs"] = parse_positive_int(raw["maxRuns"], "maxRuns")
        if "repeatInterval" in raw:
            text = raw["repeatInterval"]
            if text is not None and not isinstance(text, str):
                raise InvalidInput("repeatInterval must be a string such as FREQ=DAILY.")
            changes["repeat"] = parse_repeat_interval(text) if text and text.strip() else None
        schedule = replace(self, **changes)
        if schedule.start is not None and schedule.end is not None and schedule.end < schedule.start:
            raise InvalidInput("jobEndDate is before jobStartDate.")
        return schedule

    def to_json(self) -> dict[str, Any]:
        """The normalised echo: every field present, null when unset, ``maxRuns`` a number."""
        return {
            "jobStartDate": iso_utc(self.start),
            "jobEndDate": iso_utc(self.end),
            "repeatInterval": None if self.repeat is None else self.repeat.text,
            "maxRuns": self.max_runs,
        }

    def next_run(
        self, anchor: datetime, not_before: datetime, runs_so_far: int, *, inclusive: bool = True
    ) -> datetime | None:
        """When the next scheduled run is due, or None once the schedule is exhausted.

        ``anchor`` stands in for a missing ``jobStartDate`` (the job's submission time);
        ``not_before`` is usually now; ``runs_so_far`` counts scheduled runs made since the job was
        (re-)enabled; ``inclusive`` says whether an occurrence exactly at ``not_before`` counts.
        A one-off job's only run is due at its start even if that is already past (it runs at once).
        """
        if self.max_runs is not None and runs_so_far >= self.max_runs:
            return None
        start = self.start or anchor
        if self.repeat is None:
            due: datetime | None = start if runs_so_far == 0 else None
        else:
            rule = self.repeat.rule(start, until=self.end)
            first = start.replace(microsecond=0)
            if not_before < first:
                due = rule.after(first, inc=True)
            else:
                due = rule.after(
                    not_before.replace(microsecond=0) if inclusive else not_before, inc=inclusive
                )
        if due is None or (self.end is not None and due > self.end):
            return None
        return due

    def ended(self, now: datetime) -> bool:
        """``jobEndDate`` has passed: no run, scheduled or ad hoc, may start any more."""
        return self.end is not None and now > self.end
