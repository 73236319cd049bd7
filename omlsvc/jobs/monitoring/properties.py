"""``jobProperties`` of monitoring jobs (spec ``oml-monitoring.md`` sections 2, 3, 7 and 12): parsed,
checked, echoed and updated.

As for scoring (:mod:`omlsvc.jobs.properties`), every problem is reported in one :class:`InvalidInput`,
the echo (``to_json``) lists every field in Oracle's order with unset optionals ``null`` and
booleans/numbers normalised, and it is also the stored form (``from_text`` parses it back).

Our extensions, marked as such in the OpenAPI document: ``targetColumn`` (the column holding the
true target of MODEL_MONITORING; ONNX models do not name it) and ``positiveClass`` (the class binary
metrics are computed for).
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omlsvc.core.errors import InvalidInput
from omlsvc.core.patterns import IDENTIFIER, OUTPUT_NAME
from omlsvc.jobs.monitoring.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS
from omlsvc.jobs.monitoring.periods import FREQUENCIES
from omlsvc.jobs.properties import (
    MAX_DESCRIPTION,
    MAX_JOB_NAME,
    SERVICE_LEVELS,
    _boolean,
    _identifier,
    _text,
)
from omlsvc.jobs.schedule import iso_utc, parse_timestamp

DATA_MONITORING = "DATA_MONITORING"
MODEL_MONITORING = "MODEL_MONITORING"
DATA_BIAS = "DATA_BIAS"
MONITORING_TYPES = (DATA_MONITORING, MODEL_MONITORING, DATA_BIAS)

#: Default limits (spec 2 and 3), overridable by settings.
DEFAULT_MAX_FEATURES = 250
DEFAULT_MAX_MODELS = 20
#: ``threshold`` when none is given (spec 2; spec 3 for model monitoring, our choice).
DEFAULT_THRESHOLD = 0.7
PERFORMANCE_METRICS = (*CLASSIFICATION_METRICS, *REGRESSION_METRICS)

_COMMON = (
    "jobType",
    "inputSchemaName",
    "outputSchemaName",
    "outputData",
    "jobDescription",
    "jobName",
    "disableJob",
    "jobServiceLevel",
)
_PERIODS = (
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
DATA_FIELDS = (*_COMMON, *_PERIODS, "featureList", "anchorColumn")
MODEL_FIELDS = (*_COMMON, *_PERIODS, "modelList", "performanceMetric", "targetColumn", "positiveClass")
BIAS_FIELDS = (
    *_COMMON,
    "inputData",
    "sensitiveFeatures",
    "strata",
    "outcomeColumn",
    "outcomeThreshold",
    "positiveOutcome",
    "replaceResultTable",
    "pairwiseMode",
    "categoricalBinNum",
    "numericalBinNum",
)
#: Accepted on submission and ignored (spec 2: listed for model monitoring and bias jobs).
IGNORED = ("jobFlag",)
#: What ``updateProperties`` may change, per job type (spec 7).
UPDATABLE = {
    DATA_MONITORING: ("startDate", "endDate", "threshold", "recompute", "featureList"),
    MODEL_MONITORING: ("startDate", "endDate", "threshold", "recompute", "modelList"),
    DATA_BIAS: (),
}


@dataclass(frozen=True)
class Limits:
    max_features: int = DEFAULT_MAX_FEATURES
    max_models: int = DEFAULT_MAX_MODELS


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
        return {
            "jobType": job_type,
            "inputSchemaName": self.input_schema,
            "outputSchemaName": self.output_schema,
            "outputData": self.output_data,
            "jobDescription": self.description,
            "jobName": self.job_name,
            "disableJob": self.disable_job,
            "jobServiceLevel": self.service_level,
        }


class _Described:
    """What the service and the runner read of any job's properties, whatever its type."""

    common: Common

    @property
    def output_data(self) -> str:
        return self.common.output_data

    @property
    def output_schema(self) -> str | None:
        return self.common.output_schema

    @property
    def input_schema(self) -> str | None:
        return self.common.input_schema

    def to_text(self) -> str:
        return json.dumps(self.to_json())  # type: ignore[attr-defined]


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


@dataclass(frozen=True)
class DataMonitoringProperties(_Described):
    common: Common
    periods: Periods
    feature_list: tuple[str, ...] | None
    anchor_column: str | None

    job_type = DATA_MONITORING
    model_id = "-"  # omlsvc.jobs.store.NO_MODEL: no model to flag as deleted

    def to_json(self) -> dict[str, Any]:
        return {
            **self.common.common_json(DATA_MONITORING),
            **self.periods.periods_json(),
            "featureList": None if self.feature_list is None else list(self.feature_list),
            "anchorColumn": self.anchor_column,
        }


@dataclass(frozen=True)
class ModelMonitoringProperties(_Described):
    common: Common
    periods: Periods
    model_list: tuple[str, ...]
    performance_metric: str | None
    target_column: str
    positive_class: str | None

    job_type = MODEL_MONITORING

    @property
    def model_id(self) -> str:
        """The job's model as the jobs table records it (the first; the MODEL_DELETED flag follows it)."""
        return self.model_list[0]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.common.common_json(MODEL_MONITORING),
            **self.periods.periods_json(),
            "modelList": list(self.model_list),
            "performanceMetric": self.performance_metric,
            "targetColumn": self.target_column,
            "positiveClass": self.positive_class,
        }


@dataclass(frozen=True)
class DataBiasProperties(_Described):
    common: Common
    input_data: str
    sensitive_features: tuple[str, ...]
    strata: tuple[str, ...] | None
    outcome_column: str
    outcome_threshold: float | None
    positive_outcome: str | None
    replace_result_table: bool
    pairwise_mode: bool
    categorical_bin_num: int | None
    numerical_bin_num: int | None

    job_type = DATA_BIAS
    model_id = "-"  # omlsvc.jobs.store.NO_MODEL: no model to flag as deleted

    def to_json(self) -> dict[str, Any]:
        return {
            **self.common.common_json(DATA_BIAS),
            "inputData": self.input_data,
            "sensitiveFeatures": list(self.sensitive_features),
            "strata": None if self.strata is None else list(self.strata),
            "outcomeColumn": self.outcome_column,
            "outcomeThreshold": self.outcome_threshold,
            "positiveOutcome": self.positive_outcome,
            "replaceResultTable": self.replace_result_table,
            "pairwiseMode": self.pairwise_mode,
            "categoricalBinNum": self.categorical_bin_num,
            "numericalBinNum": self.numerical_bin_num,
        }


MonitoringProperties = DataMonitoringProperties | ModelMonitoringProperties | DataBiasProperties


def parse_monitoring(raw: dict[str, Any], limits: Limits = Limits()) -> MonitoringProperties:
    """The ``jobProperties`` of a monitoring job (``raw["jobType"]`` is one of :data:`MONITORING_TYPES`)."""
    job_type = raw["jobType"]
    fields = {DATA_MONITORING: DATA_FIELDS, MODEL_MONITORING: MODEL_FIELDS, DATA_BIAS: BIAS_FIELDS}[job_type]
    problems: list[str] = []
    unknown = sorted(set(raw) - set(fields) - set(IGNORED))
    if unknown:
        problems.append(f"unknown field(s) for {job_type}: {', '.join(unknown)}")
    common = _common(raw, problems)
    result: MonitoringProperties
    if job_type == DATA_BIAS:
        result = _bias(raw, common, problems, limits)
    else:
        periods = _periods(raw, problems)
        if job_type == DATA_MONITORING:
            features = _names(raw, "featureList", problems, limit=limits.max_features)
            anchor = _identifier(raw, "anchorColumn", problems)
            result = DataMonitoringProperties(common, periods, features, anchor)
        else:
            models = _model_list(raw, problems, limits.max_models)
            metric = _metric(raw, problems)
            target = _identifier(raw, "targetColumn", problems)
            if target is None and "targetColumn is required" not in problems:
                problems.append(
                    "targetColumn is required: the column of baselineData and newData that holds the true "
                    "target (ONNX models do not name it)"
                )
            positive = _label(raw, "positiveClass", problems)
            result = ModelMonitoringProperties(common, periods, models, metric, target or "", positive)
    if problems:
        raise InvalidInput("jobProperties is invalid: " + "; ".join(problems) + ".", details=problems)
    return result


def monitoring_from_text(text: str) -> MonitoringProperties:
    return parse_monitoring(json.loads(text), Limits(max_features=10**6, max_models=10**6))


def to_text(properties: MonitoringProperties) -> str:
    return json.dumps(properties.to_json())


def updated(
    properties: MonitoringProperties, changes: object, limits: Limits = Limits()
) -> MonitoringProperties:
    """``properties`` with ``updateProperties`` applied (spec 7): only the fields its type lets change,
    checked as at creation; another key is a 400 naming it."""
    allowed = UPDATABLE[properties.job_type]
    if not isinstance(changes, dict):
        raise InvalidInput("updateProperties must be an object.")
    refused = sorted(set(changes) - set(allowed))
    if refused:
        what = ", ".join(allowed) if allowed else "nothing (change its jobSchedule)"
        raise InvalidInput(
            f"updateProperties cannot change {', '.join(refused)} of a {properties.job_type} job; it may change {what}."
        )
    return parse_monitoring({**properties.to_json(), **changes}, limits)


# -- fields -----------------------------------------------------------------------------------------


def _common(raw: dict[str, Any], problems: list[str]) -> Common:
    level = raw.get("jobServiceLevel")
    if level is not None:
        if not isinstance(level, str) or level.upper() not in SERVICE_LEVELS:
            problems.append(f"jobServiceLevel must be one of {', '.join(SERVICE_LEVELS)}")
            level = None
        else:
            level = level.upper()
    return Common(
        job_name=_text(raw, "jobName", problems, required=True, limit=MAX_JOB_NAME) or "",
        output_data=_identifier(raw, "outputData", problems, required=True, pattern=OUTPUT_NAME) or "",
        input_schema=_identifier(raw, "inputSchemaName", problems),
        output_schema=_identifier(raw, "outputSchemaName", problems),
        description=_text(raw, "jobDescription", problems, limit=MAX_DESCRIPTION),
        service_level=level,
        disable_job=_boolean(raw, "disableJob", problems),
    )


def _periods(raw: dict[str, Any], problems: list[str]) -> Periods:
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


def _unquote(name: str) -> str:
    """Oracle's examples quote identifiers inside the strings (``"\\"GENDER\\""``): strip one level."""
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return name[1:-1]
    return name


def _names(
    raw: dict[str, Any], name: str, problems: list[str], *, limit: int, required: bool = False
) -> tuple[str, ...] | None:
    value = raw.get(name)
    if value is None:
        if required:
            problems.append(f"{name} is required")
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.append(f"{name} must be an array of column names")
        return None
    names = [_unquote(item) for item in value]
    if not names:
        problems.append(f"{name} must name at least one column")
        return None
    if len(names) > limit:
        problems.append(f"{name} names {len(names)} columns; at most {limit} are allowed")
        return None
    bad = [item for item in names if not IDENTIFIER.fullmatch(item)]
    if bad:
        problems.append(f"{name} holds names that are not column names: {', '.join(map(repr, bad))}")
        return None
    if len({item.upper() for item in names}) != len(names):
        problems.append(f"{name} names a column twice")
        return None
    return tuple(names)


def _model_list(raw: dict[str, Any], problems: list[str], limit: int) -> tuple[str, ...]:
    value = raw.get("modelList")
    if value is None:
        problems.append("modelList is required")
        return ("",)
    if not isinstance(value, list) or not all(
        isinstance(item, str) and 0 < len(item) <= 36 for item in value
    ):
        problems.append("modelList must be an array of model ids")
        return ("",)
    if not value:
        problems.append("modelList must name at least one model")
        return ("",)
    if len(value) > limit:
        problems.append(f"modelList names {len(value)} models; at most {limit} are allowed")
        return ("",)
    if len(set(value)) != len(value):
        problems.append("modelList names a model twice")
        return ("",)
    return tuple(value)


def _metric(raw: dict[str, Any], problems: list[str]) -> str | None:
    value = raw.get("performanceMetric")
    if value is None:
        return None
    if not isinstance(value, str) or value.upper() not in PERFORMANCE_METRICS:
        problems.append(f"performanceMetric must be one of {', '.join(PERFORMANCE_METRICS)}")
        return None
    return value.upper()


def _label(raw: dict[str, Any], name: str, problems: list[str]) -> str | None:
    """A class label or outcome value: text, or a number (kept as its text, ``1`` not ``1.0``)."""
    value = raw.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, int | float) and math.isfinite(value):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str) and 0 < len(value) <= 4000:
        return value
    problems.append(f"{name} must be a string or a number")
    return None


def _number(raw: dict[str, Any], name: str, problems: list[str]) -> float | None:
    value = raw.get(name)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value.strip())
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(f"{name} must be a finite number")
        return None
    return float(value)


def _bins(raw: dict[str, Any], name: str, problems: list[str]) -> int | None:
    value = raw.get(name)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 1000:
        problems.append(f"{name} must be an integer from 2 to 1000")
        return None
    return value


def _bias(raw: dict[str, Any], common: Common, problems: list[str], limits: Limits) -> DataBiasProperties:
    outcome = raw.get("outcomeColumn")
    outcome_column = _identifier(
        {"outcomeColumn": _unquote(outcome) if isinstance(outcome, str) else outcome},
        "outcomeColumn",
        problems,
        required=True,
    )
    threshold = _number(raw, "outcomeThreshold", problems)
    positive = _label(raw, "positiveOutcome", problems)
    if (threshold is None) == (
        positive is None
    ) and "outcomeThreshold must be a finite number" not in problems:
        problems.append("give one of outcomeThreshold (numeric outcome) or positiveOutcome")
    properties = DataBiasProperties(
        common=common,
        input_data=_identifier(raw, "inputData", problems, required=True) or "",
        sensitive_features=_names(
            raw, "sensitiveFeatures", problems, limit=limits.max_features, required=True
        )
        or (),
        strata=_names(raw, "strata", problems, limit=limits.max_features),
        outcome_column=outcome_column or "",
        outcome_threshold=threshold,
        positive_outcome=positive,
        replace_result_table=_boolean(raw, "replaceResultTable", problems),
        pairwise_mode=_boolean(raw, "pairwiseMode", problems),
        categorical_bin_num=_bins(raw, "categoricalBinNum", problems),
        numerical_bin_num=_bins(raw, "numericalBinNum", problems),
    )
    return properties
