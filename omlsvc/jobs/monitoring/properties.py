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

import json
from dataclasses import dataclass
from typing import Any

from omlsvc.core.errors import InvalidInput
from omlsvc.jobs.monitoring.fields import (
    bin_count,
    column_names,
    label,
    model_list,
    number,
    unquote,
)
from omlsvc.jobs.monitoring.metrics import PERFORMANCE_METRICS
from omlsvc.jobs.monitoring.sections import PERIOD_FIELDS, Common, Periods, read_common, read_periods
from omlsvc.jobs.properties import COMMON_FIELDS, _boolean, _identifier, _one_of

DATA_MONITORING = "DATA_MONITORING"
MODEL_MONITORING = "MODEL_MONITORING"
DATA_BIAS = "DATA_BIAS"
MONITORING_TYPES = (DATA_MONITORING, MODEL_MONITORING, DATA_BIAS)

#: Default limits (spec 2 and 3), overridable by settings.
DEFAULT_MAX_FEATURES = 250
DEFAULT_MAX_MODELS = 20

DATA_FIELDS = (*COMMON_FIELDS, *PERIOD_FIELDS, "featureList", "anchorColumn")
MODEL_FIELDS = (
    *COMMON_FIELDS,
    *PERIOD_FIELDS,
    "modelList",
    "performanceMetric",
    "targetColumn",
    "positiveClass",
)
BIAS_FIELDS = (
    *COMMON_FIELDS,
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
    common = read_common(raw, problems)
    result: MonitoringProperties
    if job_type == DATA_BIAS:
        result = _bias(raw, common, problems, limits)
    else:
        periods = read_periods(raw, problems)
        if job_type == DATA_MONITORING:
            features = column_names(raw, "featureList", problems, limit=limits.max_features)
            anchor = _identifier(raw, "anchorColumn", problems)
            result = DataMonitoringProperties(common, periods, features, anchor)
        else:
            models = model_list(raw, problems, limits.max_models)
            metric = _one_of(raw, "performanceMetric", PERFORMANCE_METRICS, problems)
            target = _identifier(raw, "targetColumn", problems)
            if target is None and "targetColumn is required" not in problems:
                problems.append(
                    "targetColumn is required: the column of baselineData and newData that holds the true "
                    "target (ONNX models do not name it)"
                )
            positive = label(raw, "positiveClass", problems)
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


def _bias(raw: dict[str, Any], common: Common, problems: list[str], limits: Limits) -> DataBiasProperties:
    """A DATA_BIAS job's own fields; exactly one of ``outcomeThreshold`` and ``positiveOutcome``."""
    outcome = raw.get("outcomeColumn")
    outcome_column = _identifier(
        {"outcomeColumn": unquote(outcome) if isinstance(outcome, str) else outcome},
        "outcomeColumn",
        problems,
        required=True,
    )
    threshold = number(raw, "outcomeThreshold", problems)
    positive = label(raw, "positiveOutcome", problems)
    if (threshold is None) == (
        positive is None
    ) and "outcomeThreshold must be a finite number" not in problems:
        problems.append("give one of outcomeThreshold (numeric outcome) or positiveOutcome")
    properties = DataBiasProperties(
        common=common,
        input_data=_identifier(raw, "inputData", problems, required=True) or "",
        sensitive_features=column_names(
            raw, "sensitiveFeatures", problems, limit=limits.max_features, required=True
        )
        or (),
        strata=column_names(raw, "strata", problems, limit=limits.max_features),
        outcome_column=outcome_column or "",
        outcome_threshold=threshold,
        positive_outcome=positive,
        replace_result_table=_boolean(raw, "replaceResultTable", problems),
        pairwise_mode=_boolean(raw, "pairwiseMode", problems),
        categorical_bin_num=bin_count(raw, "categoricalBinNum", problems),
        numerical_bin_num=bin_count(raw, "numericalBinNum", problems),
    )
    return properties
