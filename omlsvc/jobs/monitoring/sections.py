"""The sections of monitoring ``jobProperties`` that several job types share: what every job has
(:class:`Common`) and how DATA_MONITORING and MODEL_MONITORING cut new data into periods
(:class:`Periods`), with their readers.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omlsvc.core.errors import InvalidInput
from omlsvc.core.patterns import OUTPUT_NAME
from omlsvc.jobs.monitoring.periods import FREQUENCIES
from omlsvc.jobs.properties import (
    MAX_DESCRIPTION,
    MAX_JOB_NAME,
    SERVICE_LEVELS,
    _boolean,
    _identifier,
    _one_of,
    _text,
    common_echo,
)
from omlsvc.jobs.schedule import iso_utc, parse_timestamp

#: ``threshold`` when none is given (spec 2; spec 3 for model monitoring, our choice).
DEFAULT_THRESHOLD = 0.7
#: The fields of :class:`Periods`, in echo order.
PERIOD_FIELDS = (
    "baselineData",
    "newData",
    "timeColumn",
    "startDate",
    "endDate",
    "frequency",
    "threshold",
    "recompute",
    "caseidColumn",
)


@dataclass(frozen=True)
class Common:
    """What every job type has: names, schemas, service level."""

    job_name: str
    output_data: str
    input_schema: str | None
    output_schema: str | None
    description: str | None
    service_level: str | None
    disable_job: bool

    def common_json(self, job_type: str) -> dict[str, Any]:
        return common_echo(job_type, self)


@dataclass(frozen=True)
class Periods:
    """Baseline, new data and how new data is cut into periods (spec 2 and 4)."""

    baseline_data: str
    new_data: str
    time_column: str | None
    start_date: datetime | None
    end_date: datetime | None
    frequency: str | None
    threshold: float | None
    recompute: bool
    caseid_column: str | None

    @property
    def threshold_in_force(self) -> float:
        return DEFAULT_THRESHOLD if self.threshold is None else self.threshold

    def periods_json(self) -> dict[str, Any]:
        return {
            "baselineData": self.baseline_data,
            "newData": self.new_data,
            "timeColumn": self.time_column,
            "startDate": iso_utc(self.start_date),
            "endDate": iso_utc(self.end_date),
            "frequency": self.frequency,
            "threshold": self.threshold,
            "recompute": self.recompute,
            "caseidColumn": self.caseid_column,
        }


def read_common(raw: dict[str, Any], problems: list[str]) -> Common:
    """The fields every job type has (:data:`omlsvc.jobs.properties.COMMON_FIELDS`)."""
    level = _one_of(raw, "jobServiceLevel", SERVICE_LEVELS, problems)
    return Common(
        job_name=_text(raw, "jobName", problems, required=True, limit=MAX_JOB_NAME) or "",
        output_data=_identifier(raw, "outputData", problems, required=True, pattern=OUTPUT_NAME) or "",
        input_schema=_identifier(raw, "inputSchemaName", problems),
        output_schema=_identifier(raw, "outputSchemaName", problems),
        description=_text(raw, "jobDescription", problems, limit=MAX_DESCRIPTION),
        service_level=level,
        disable_job=_boolean(raw, "disableJob", problems),
    )


def read_periods(raw: dict[str, Any], problems: list[str]) -> Periods:
    """Baseline, new data and the period grid; dates and frequency need ``timeColumn``."""
    time_column = _identifier(raw, "timeColumn", problems)
    dates = []
    for name in ("startDate", "endDate"):
        try:
            dates.append(parse_timestamp(raw.get(name), name))
        except InvalidInput as exc:
            problems.append(exc.message.rstrip("."))
            dates.append(None)
    start, end = dates
    frequency = raw.get("frequency")
    if frequency is not None and (not isinstance(frequency, str) or frequency.lower() not in FREQUENCIES):
        problems.append(f"frequency must be one of {', '.join(FREQUENCIES)} (any case)")
        frequency = None
    if time_column is None:
        given = [name for name in ("startDate", "endDate", "frequency") if raw.get(name) is not None]
        if given:
            problems.append(f"{', '.join(given)} need(s) timeColumn")
    if start is not None and end is not None and start > end:
        problems.append("startDate is after endDate")
    threshold = raw.get("threshold")
    if isinstance(threshold, str):
        with contextlib.suppress(ValueError):
            threshold = float(threshold.strip())
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not math.isfinite(threshold)
        or threshold < 0
    ):
        problems.append("threshold must be a finite number of at least 0")
        threshold = None
    return Periods(
        baseline_data=_identifier(raw, "baselineData", problems, required=True) or "",
        new_data=_identifier(raw, "newData", problems, required=True) or "",
        time_column=time_column,
        start_date=start,
        end_date=end,
        frequency=frequency,
        threshold=None if threshold is None else float(threshold),
        recompute=_boolean(raw, "recompute", problems),
        caseid_column=_identifier(raw, "caseidColumn", problems),
    )
