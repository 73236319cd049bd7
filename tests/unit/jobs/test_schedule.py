"""repeatInterval in DBMS_SCHEDULER calendaring syntax, and when runs fall due."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from omlsvc.core.errors import InvalidInput
from omlsvc.jobs.schedule import Schedule, iso_utc, parse_repeat_interval, parse_timestamp

SUBMITTED = datetime(2025, 1, 3, 10, 15, 42, 118204)  # a Friday


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("FREQ=DAILY", "FREQ=DAILY"),
        ("freq=weekly; byday=mon, fri; byhour=6", "FREQ=WEEKLY;BYDAY=MON,FRI;BYHOUR=6"),
        ("FREQ=MONTHLY;BYDAY=-1FRI", "FREQ=MONTHLY;BYDAY=-1FRI"),
        ("FREQ=YEARLY;BYMONTH=FEB;BYMONTHDAY=29", "FREQ=YEARLY;BYMONTH=FEB;BYMONTHDAY=29"),
        ("FREQ=HOURLY;INTERVAL=4;", "FREQ=HOURLY;INTERVAL=4"),
        ("FREQ=MINUTELY;BYSECOND=0,30", "FREQ=MINUTELY;BYSECOND=0,30"),
        (
            "FREQ=MONTHLY;BYDAY=MON,TUE,WED,THU,FRI;BYSETPOS=-1",
            "FREQ=MONTHLY;BYDAY=MON,TUE,WED,THU,FRI;BYSETPOS=-1",
        ),
    ],
)
def test_calendaring_syntax_is_accepted_and_normalised(text: str, normalised: str) -> None:
    assert parse_repeat_interval(text).text == normalised


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "FREQ is required"),
        ("SYSDATE + 1", "not NAME=VALUE"),
        ("FREQ=FORTNIGHTLY", "FREQ=FORTNIGHTLY is not supported"),
        ("FREQ=DAILY;BYHOUR=24", "out of range"),
        ("FREQ=DAILY;BYDAY=FUNDAY", "is not a day"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be"),
        ("FREQ=DAILY;FREQ=WEEKLY", "given twice"),
        ("FREQ=DAILY;BYDATE=0115", "BYDATE is not supported"),
        ("FREQ=DAILY;EXCLUDE=HOLIDAYS", "EXCLUDE is not supported"),
        ("FREQ=DAILY;WHENEVER=1", "unknown clause WHENEVER"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "never matches"),
    ],
)
def test_what_cannot_be_read_is_refused_naming_the_clause(text: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        parse_repeat_interval(text)


def test_a_rule_that_never_matches_is_refused_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidInput):
        parse_repeat_interval("FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=31")
    assert time.perf_counter() - started < 1.0  # dateutil alone would search until the year 9999


def test_a_weekly_schedule_runs_on_its_days_until_max_runs() -> None:
    schedule = Schedule.parse(
        {"jobStartDate": "2025-01-06T02:00:00Z", "repeatInterval": "FREQ=WEEKLY;BYDAY=MON", "maxRuns": "2"}
    )
    first = schedule.next_run(SUBMITTED, SUBMITTED, 0)
    assert first == datetime(2025, 1, 6, 2, 0)
    second = schedule.next_run(SUBMITTED, first, 1, inclusive=False)
    assert second == datetime(2025, 1, 13, 2, 0)
    assert schedule.next_run(SUBMITTED, second, 2, inclusive=False) is None


def test_the_first_run_is_the_first_match_on_or_after_the_start_date() -> None:
    schedule = Schedule.parse(
        {"jobStartDate": "2025-01-08T00:00:00Z", "repeatInterval": "FREQ=WEEKLY;BYDAY=MON"}
    )
    assert schedule.next_run(SUBMITTED, SUBMITTED, 0) == datetime(2025, 1, 13, 0, 0)


def test_without_a_start_date_a_repeating_job_starts_at_once_then_follows_its_rule() -> None:
    schedule = Schedule.parse({"repeatInterval": "FREQ=HOURLY"})
    first = schedule.next_run(SUBMITTED, SUBMITTED, 0)
    assert first == SUBMITTED.replace(microsecond=0)
    assert schedule.next_run(SUBMITTED, first, 1, inclusive=False) == datetime(2025, 1, 3, 11, 15, 42)


def test_missed_occurrences_are_not_caught_up_one_by_one() -> None:
    schedule = Schedule.parse({"jobStartDate": "2025-01-01T00:00:00Z", "repeatInterval": "FREQ=HOURLY"})
    back_after_a_day = datetime(2025, 1, 2, 5, 30)
    assert schedule.next_run(SUBMITTED, back_after_a_day, 1, inclusive=False) == datetime(2025, 1, 2, 6, 0)


def test_no_run_after_the_end_date() -> None:
    schedule = Schedule.parse(
        {
            "jobStartDate": "2025-01-01T00:00:00Z",
            "jobEndDate": "2025-01-03T00:00:00Z",
            "repeatInterval": "FREQ=DAILY",
        }
    )
    assert schedule.next_run(SUBMITTED, datetime(2025, 1, 2), 1, inclusive=False) == datetime(2025, 1, 3)
    assert schedule.next_run(SUBMITTED, datetime(2025, 1, 3), 2, inclusive=False) is None
    assert schedule.ended(datetime(2025, 1, 3, 0, 0, 1))


def test_a_one_off_job_runs_once_at_its_start_or_at_once() -> None:
    assert Schedule.parse(None).next_run(SUBMITTED, SUBMITTED, 0) == SUBMITTED
    assert Schedule.parse(None).next_run(SUBMITTED, SUBMITTED, 1) is None
    later = Schedule.parse({"jobStartDate": "2025-02-01T08:00:00+02:00"})
    assert later.next_run(SUBMITTED, SUBMITTED, 0) == datetime(2025, 2, 1, 6, 0)


def test_the_echo_is_normalised_and_a_partial_update_keeps_the_rest() -> None:
    schedule = Schedule.parse(
        {"jobStartDate": "2025-01-06T02:00:00Z", "maxRuns": "50", "repeatInterval": "freq=daily"}
    )
    assert schedule.to_json() == {
        "jobStartDate": "2025-01-06T02:00:00Z",
        "jobEndDate": None,
        "repeatInterval": "FREQ=DAILY",
        "maxRuns": 50,
    }
    changed = schedule.updated({"maxRuns": 5, "repeatInterval": None})
    assert changed.to_json() == {
        "jobStartDate": "2025-01-06T02:00:00Z",
        "jobEndDate": None,
        "repeatInterval": None,
        "maxRuns": 5,
    }


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ([], "must be an object"),
        ({"every": "day"}, "unknown field"),
        ({"maxRuns": 0}, "maxRuns must be an integer from 1 to "),
        ({"maxRuns": "many"}, "maxRuns must be"),
        ({"maxRuns": True}, "maxRuns must be"),
        ({"jobStartDate": "next monday"}, "not an ISO-8601"),
        ({"jobStartDate": 5}, "ISO-8601"),
        ({"repeatInterval": 3}, "must be a string"),
        (
            {"jobStartDate": "2025-02-01T00:00:00Z", "jobEndDate": "2025-01-01T00:00:00Z"},
            "before jobStartDate",
        ),
    ],
)
def test_a_bad_schedule_is_refused(body: object, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        Schedule.parse(body)


def test_timestamps_are_kept_as_naive_utc_and_written_back_with_z() -> None:
    moment = parse_timestamp("2024-05-12T04:33:16.5+02:00", "jobStartDate")
    assert moment == datetime(2024, 5, 12, 2, 33, 16, 500000)
    assert iso_utc(moment) == "2024-05-12T02:33:16.500000Z"
    assert iso_utc(datetime(2024, 5, 12)) == "2024-05-12T00:00:00Z"
