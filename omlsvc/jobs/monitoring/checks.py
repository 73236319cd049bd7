"""What a monitoring job reads, found and checked as its owner may see it: its models (visible,
classification or regression, all of one function, a metric of their family) and its tables and
columns. Used when a job is created or updated (a 400 naming the problem) and again by the runner
before each run, since tables, grants and models change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omlsvc.core.authorization import may_see_model
from omlsvc.core.errors import InvalidInput, OmlError
from omlsvc.core.signature import Function, ScoringSpec
from omlsvc.jobs import fitting, lifecycle
from omlsvc.jobs.access import JobIdentity, UserTables
from omlsvc.jobs.directory import ModelRecords
from omlsvc.jobs.monitoring.metrics import CLASSIFICATION_METRICS, DEFAULT_METRIC, REGRESSION_METRICS
from omlsvc.jobs.monitoring.properties import (
    DataBiasProperties,
    DataMonitoringProperties,
    Limits,
    ModelMonitoringProperties,
    MonitoringProperties,
)
from omlsvc.jobs.monitoring.sources import NUMERIC, Source, feature_kind, find_source, require_time
from omlsvc.jobs.properties import ScoringJobProperties
from omlsvc.jobs.shapes import InputFeed

#: (name in the baseline, name in the new data): the same column of both tables.
Pair = tuple[str, str]


@dataclass(frozen=True)
class Checked:
    """Models of a model monitoring job as checked: (id, spec) in modelList order."""

    specs: tuple[tuple[str, ScoringSpec], ...]


@dataclass(frozen=True)
class Feature:
    names: Pair
    kind: str  # NUMERIC or CATEGORICAL


@dataclass(frozen=True)
class Sources:
    """The tables and real column names a run reads."""

    base: Source
    new: Source
    time: str | None = None
    caseid: Pair | None = None
    #: DATA_MONITORING
    features: tuple[Feature, ...] = ()
    anchor: Pair | None = None
    #: MODEL_MONITORING: the target, and the columns feeding each model (baseline names)
    target: Pair | None = None
    feeds: dict[str, tuple[InputFeed, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class BiasSource:
    source: Source
    sensitive: tuple[str, ...]
    strata: tuple[str, ...]
    outcome: str


def check_models(
    models: ModelRecords, identity: JobIdentity, properties: ModelMonitoringProperties, error: type[OmlError]
) -> Checked:
    """The models exist and are visible to the owner, are all classification or all regression models,
    and ``performanceMetric`` belongs to their family; else ``error`` naming the problem."""
    specs = []
    for model_id in properties.model_list:
        record = models.record(model_id)
        if record is None or not may_see_model(identity.principal, record.access):
            raise error(f"modelList: model {model_id} does not exist.")
        spec = ScoringSpec.from_json(record.spec_json)
        if spec.function not in (Function.CLASSIFICATION, Function.REGRESSION):
            raise error(
                f"modelList: model {model_id} is a {spec.function.value} model; monitoring takes classification "
                "and regression models only."
            )
        specs.append((model_id, spec))
    functions = {spec.function for _, spec in specs}
    if len(functions) > 1:
        raise error("modelList: the models must all be classification or all regression models.")
    function = next(iter(functions)).value.upper()
    metric = properties.performance_metric
    names = CLASSIFICATION_METRICS if function == "CLASSIFICATION" else REGRESSION_METRICS
    if metric is not None and metric not in names:
        raise error(
            f"performanceMetric {metric} does not apply to {function.lower()} models (use one of "
            f"{', '.join(names)}; default {DEFAULT_METRIC[function]})."
        )
    return Checked(tuple(specs))


def check_output_name(user: UserTables, job_id: str, output_data: str) -> None:
    limit = user.tables.max_identifier_length
    if len(lifecycle.output_table_name(job_id, output_data).encode()) > limit:
        raise InvalidInput(
            f"outputData {output_data!r} is too long: the output table {{jobId}}_{{outputData}} may have {limit} "
            f"characters on this database, which leaves {limit - len(job_id) - 1} for outputData."
        )


def find_bias_source(user: UserTables, properties: DataBiasProperties) -> BiasSource:
    source = find_source(user, properties.common.input_schema, properties.input_data, "inputData")
    sensitive = tuple(source.column(n, "sensitiveFeatures").name for n in properties.sensitive_features)
    strata = tuple(source.column(n, "strata").name for n in properties.strata or ())
    outcome = source.column(properties.outcome_column, "outcomeColumn")
    if properties.outcome_threshold is not None and feature_kind(outcome) != NUMERIC:
        raise InvalidInput(f"outcomeThreshold needs a numeric outcomeColumn; {outcome.name} is not numeric.")
    for name in (*sensitive, *strata):
        if feature_kind(source.column(name, "sensitiveFeatures")) is None:
            raise InvalidInput(f"sensitiveFeatures/strata: {name} is not a numeric or text column.")
    return BiasSource(source, sensitive, strata, outcome.name)


def find_sources(
    user: UserTables,
    properties: DataMonitoringProperties | ModelMonitoringProperties,
    limits: Limits,
    checked: Checked | None,
) -> Sources:
    """Baseline and new data as the owner may read them, with the columns the job names checked."""
    periods = properties.periods
    schema = properties.common.input_schema
    base = find_source(user, schema, periods.baseline_data, "baselineData")
    new = find_source(user, schema, periods.new_data, "newData")
    time = None if periods.time_column is None else require_time(new, periods.time_column)
    caseid = _pair(base, new, periods.caseid_column, "caseidColumn")
    if isinstance(properties, DataMonitoringProperties):
        excluded = {
            n.upper() for n in (periods.time_column, periods.caseid_column, properties.anchor_column) if n
        }
        return Sources(
            base,
            new,
            time,
            caseid,
            features=_features(base, new, properties, limits, excluded),
            anchor=_pair(base, new, properties.anchor_column, "anchorColumn"),
        )
    target = _pair(base, new, properties.target_column, "targetColumn")
    assert target is not None
    reserved = {n for n in (target[0], time, caseid[0] if caseid else None) if n}
    feeds = {
        model_id: _model_feeds(spec, base, new, reserved)
        for model_id, spec in (checked.specs if checked else ())
    }
    return Sources(base, new, time, caseid, target=target, feeds=feeds)


def check_sources(
    user: UserTables, job_id: str, properties: MonitoringProperties, limits: Limits, checked: Checked | None
) -> None:
    """Everything the job reads exists, may be read by the owner and fits; its output name fits."""
    if isinstance(properties, DataBiasProperties):
        find_bias_source(user, properties)
    else:
        find_sources(user, properties, limits, checked)
    user.output_schema(properties.common.output_schema)
    check_output_name(user, job_id, properties.common.output_data)


def _pair(base: Source, new: Source, name: str | None, field: str) -> Pair | None:
    if name is None:
        return None
    return base.column(name, field).name, new.column(name, field).name


def _features(
    base: Source, new: Source, properties: DataMonitoringProperties, limits: Limits, excluded: set[str]
) -> tuple[Feature, ...]:
    """``featureList``'s columns, or every numeric or text column of both tables but the time, case id
    and anchor columns (more than ``limits.max_features``: name them)."""
    chosen: list[Feature] = []
    if properties.feature_list is not None:
        for wanted in properties.feature_list:
            b, n = base.column(wanted, "featureList"), new.column(wanted, "featureList")
            kind = feature_kind(b)
            if kind is None or feature_kind(n) != kind:
                raise InvalidInput(
                    f"featureList: {b.name} is not a numeric or text column in both baselineData and newData."
                )
            chosen.append(Feature((b.name, n.name), kind))
        return tuple(chosen)
    for column in new.shape.columns:
        kind = feature_kind(column)
        other = base.shape.find(column.name)
        if kind is None or other is None or feature_kind(other) != kind or column.name.upper() in excluded:
            continue
        chosen.append(Feature((other.name, column.name), kind))
    if len(chosen) > limits.max_features:
        raise InvalidInput(
            f"baselineData and newData share {len(chosen)} numeric and text columns, more than "
            f"{limits.max_features}; name the features to monitor in featureList."
        )
    if not chosen:
        raise InvalidInput("baselineData and newData share no numeric or text column to monitor.")
    return tuple(chosen)


def _model_feeds(spec: ScoringSpec, base: Source, new: Source, reserved: set[str]) -> tuple[InputFeed, ...]:
    """The baseline columns feeding the model, as batch scoring maps them; each must be in newData too."""
    defaults = ScoringJobProperties(job_name="", model_id="", input_data="", output_data="")
    feeds = fitting.input_feeds(base.shape, spec, defaults, reserved)
    for feed in feeds:
        for name in feed.columns:
            new.column(name, "newData")
    return feeds
