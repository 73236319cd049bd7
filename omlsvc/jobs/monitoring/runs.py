"""How a runner carries out a monitoring run: read baseline and new data as the job's owner, compute
every row of the run (no transaction open meanwhile), then write them all in ONE transaction with
the run's checkpoint, so a killed or superseded runner leaves no row behind.

The run is leased whole, as one chunk of :mod:`omlsvc.jobs.runs` (key range :data:`WHOLE_RUN`): the
lease, its take-over when a runner dies and its end run through the same code as batch scoring.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Table

from omlsvc.core.authorization import may_see_model
from omlsvc.core.clock import utcnow
from omlsvc.core.errors import InvalidInput, OmlError
from omlsvc.core.signature import Function, ScoringSpec
from omlsvc.db.transactions import Transactions
from omlsvc.jobs import fitting, lifecycle
from omlsvc.jobs.access import JobIdentity, JobOwnerOf, UserTables, identity_of, user_tables
from omlsvc.jobs.directory import JobOwners, ModelRecords
from omlsvc.jobs.monitoring import bias, data, model, output
from omlsvc.jobs.monitoring.metrics import (
    CLASSIFICATION_METRICS,
    DEFAULT_METRIC,
    REGRESSION_METRICS,
    label_text,
)
from omlsvc.jobs.monitoring.periods import Period, as_utc, assign, period_grid
from omlsvc.jobs.monitoring.properties import (
    DATA_BIAS,
    DATA_MONITORING,
    DataBiasProperties,
    DataMonitoringProperties,
    Limits,
    ModelMonitoringProperties,
    MonitoringProperties,
    monitoring_from_text,
)
from omlsvc.jobs.monitoring.sources import (
    CATEGORICAL,
    NUMERIC,
    Source,
    categorical_array,
    feature_kind,
    find_source,
    numeric_array,
    read_columns,
    require_time,
)
from omlsvc.jobs.plan import ScoringPlan
from omlsvc.jobs.properties import ScoringJobProperties
from omlsvc.jobs.records import JobRecord
from omlsvc.scoring.scorer import PreparedModel
from omlsvc.scoring.service import ScoringService

#: The key range of a monitoring run's one chunk (never decoded: the run is computed whole).
WHOLE_RUN = '["m", "whole run"]'


class MonitoringFailed(OmlError):
    """A monitoring run cannot be computed (too few rows, a model gone, a table changed)."""

    code = "RUN_FAILED"


@dataclass(frozen=True)
class Computed:
    """A run's result: the output table, its rows, and what ``recompute`` replaces first."""

    identity: JobIdentity
    table: Table
    rows: list[dict[str, Any]]
    #: None: append only; else the periods whose rows (and the baseline's) go first.
    replaced: list[Period | None] | None
    #: DATA_BIAS with replaceResultTable: every row goes first.
    replace_all: bool = False


@dataclass(frozen=True)
class Checked:
    """Models of a model monitoring job as checked: (id, spec) in modelList order."""

    specs: tuple[tuple[str, ScoringSpec], ...]


def is_monitoring(job_type: str) -> bool:
    return job_type in (DATA_MONITORING, "MODEL_MONITORING", DATA_BIAS)


# -- what a job reads, checked at creation and at each run ---------------------------------------------


def _feature_columns(
    base: Source, new: Source, properties: DataMonitoringProperties, limits: Limits, exclude: set[str]
) -> list[tuple[str, str, str]]:
    """(name in baseline, name in new data, NUMERIC/CATEGORICAL) of each monitored feature."""
    chosen: list[tuple[str, str, str]] = []
    if properties.feature_list is not None:
        for wanted in properties.feature_list:
            b, n = base.column(wanted, "featureList"), new.column(wanted, "featureList")
            kind = feature_kind(b)
            if kind is None or feature_kind(n) != kind:
                raise InvalidInput(
                    f"featureList: {b.name} is not a numeric or text column in both baselineData and newData."
                )
            chosen.append((b.name, n.name, kind))
        return chosen
    for column in new.shape.columns:
        kind = feature_kind(column)
        other = base.shape.find(column.name)
        if kind is None or other is None or feature_kind(other) != kind or column.name.upper() in exclude:
            continue
        chosen.append((other.name, column.name, kind))
    if len(chosen) > limits.max_features:
        raise InvalidInput(
            f"baselineData and newData share {len(chosen)} numeric and text columns, more than {limits.max_features}; "
            "name the features to monitor in featureList."
        )
    if not chosen:
        raise InvalidInput("baselineData and newData share no numeric or text column to monitor.")
    return chosen


def _optional(source: Source, name: str | None, field: str) -> str | None:
    return None if name is None else source.column(name, field).name


def _check_output_name(user: UserTables, job_id: str, output_data: str) -> None:
    limit = user.tables.max_identifier_length
    if len(lifecycle.output_table_name(job_id, output_data).encode()) > limit:
        raise InvalidInput(
            f"outputData {output_data!r} is too long: the output table {{jobId}}_{{outputData}} may have {limit} "
            f"characters on this database, which leaves {limit - len(job_id) - 1} for outputData."
        )


def _model_feeds(spec: ScoringSpec, base: Source, new: Source, reserved: set[str]) -> tuple[Any, ...]:
    dummy = ScoringJobProperties(job_name="", model_id="", input_data="", output_data="")
    feeds = fitting.input_feeds(base.shape, spec, dummy, reserved)
    for feed in feeds:
        for name in feed.columns:
            new.column(name, "newData")
    return feeds


class MonitorRuns:
    """Checks monitoring jobs' sources and computes and writes their runs."""

    def __init__(
        self,
        transactions: Transactions,
        scoring: ScoringService | None,
        owners: JobOwners,
        models: ModelRecords,
        limits: Limits = Limits(),
    ) -> None:
        self._transactions = transactions
        self._scoring = scoring
        self._owners = owners
        self._models = models
        self.limits = limits

    @property
    def _dialect(self) -> str:
        return self._transactions.engine.dialect.name

    def identity(self, owner: str) -> JobIdentity:
        return identity_of(self._owners, owner, self._dialect)

    # -- models ----------------------------------------------------------------------------------

    def check_models(
        self, identity: JobIdentity, properties: ModelMonitoringProperties, error: type[OmlError]
    ) -> Checked:
        """The models exist, are visible to the owner, are all classification or all regression."""
        specs = []
        for model_id in properties.model_list:
            record = self._models.record(model_id)
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

    # -- sources ---------------------------------------------------------------------------------

    def check_sources(
        self,
        connection: Connection,
        job_id: str,
        properties: MonitoringProperties,
        identity: JobIdentity,
        owner_of: JobOwnerOf,
        checked: Checked | None = None,
    ) -> None:
        """Everything the job reads exists, may be read by the owner and fits (at creation: a 400)."""
        with user_tables(connection, identity, owner_of) as user:
            self._sources(user, properties, checked)
            user.output_schema(properties.common.output_schema)
            _check_output_name(user, job_id, properties.common.output_data)

    def _sources(
        self, user: UserTables, properties: MonitoringProperties, checked: Checked | None
    ) -> dict[str, Any]:
        schema = properties.common.input_schema
        if isinstance(properties, DataBiasProperties):
            source = find_source(user, schema, properties.input_data, "inputData")
            sensitive = [source.column(n, "sensitiveFeatures").name for n in properties.sensitive_features]
            strata = [source.column(n, "strata").name for n in properties.strata or ()]
            outcome = source.column(properties.outcome_column, "outcomeColumn")
            if properties.outcome_threshold is not None and feature_kind(outcome) != NUMERIC:
                raise InvalidInput(
                    f"outcomeThreshold needs a numeric outcomeColumn; {outcome.name} is not numeric."
                )
            for name in (*sensitive, *strata):
                if feature_kind(source.column(name, "sensitiveFeatures")) is None:
                    raise InvalidInput(f"sensitiveFeatures/strata: {name} is not a numeric or text column.")
            return {"source": source, "sensitive": sensitive, "strata": strata, "outcome": outcome.name}
        periods = properties.periods
        base = find_source(user, schema, periods.baseline_data, "baselineData")
        new = find_source(user, schema, periods.new_data, "newData")
        time = None if periods.time_column is None else require_time(new, periods.time_column)
        caseid = (
            _optional(base, periods.caseid_column, "caseidColumn"),
            _optional(new, periods.caseid_column, "caseidColumn"),
        )
        found: dict[str, Any] = {"base": base, "new": new, "time": time, "caseid": caseid}
        if isinstance(properties, DataMonitoringProperties):
            anchor = (
                _optional(base, properties.anchor_column, "anchorColumn"),
                _optional(new, properties.anchor_column, "anchorColumn"),
            )
            exclude = {
                n.upper() for n in (periods.time_column, periods.caseid_column, properties.anchor_column) if n
            }
            found["features"] = _feature_columns(base, new, properties, self.limits, exclude)
            found["anchor"] = anchor
            return found
        target = (
            base.column(properties.target_column, "targetColumn").name,
            new.column(properties.target_column, "targetColumn").name,
        )
        reserved = {n for n in (target[0], time, caseid[0]) if n}
        found["target"] = target
        found["feeds"] = {
            model_id: _model_feeds(spec, base, new, reserved)
            for model_id, spec in (checked.specs if checked else ())
        }
        return found

    # -- a run -----------------------------------------------------------------------------------

    def compute(self, job: JobRecord, owner_of: JobOwnerOf) -> Computed:
        """Every row of the job's next run, computed from its tables as they are now."""
        properties = monitoring_from_text(job.properties_json)
        identity = self.identity(job.owner)
        checked = None
        prepared: dict[str, PreparedModel] = {}
        if isinstance(properties, ModelMonitoringProperties):
            checked = self.check_models(identity, properties, MonitoringFailed)
            assert self._scoring is not None
            for model_id, _ in checked.specs:
                record = self._models.record(model_id)
                assert record is not None
                prepared[model_id] = self._scoring.prepared_for_model(record)
        with self._transactions() as uow, user_tables(uow.connection, identity, owner_of) as user:
            try:
                found = self._sources(user, properties, checked)
                schema = user.output_schema(properties.common.output_schema)
            except InvalidInput as exc:
                raise MonitoringFailed(exc.message) from exc
            name = lifecycle.output_table_name(job.id, properties.common.output_data)
            if isinstance(properties, DataBiasProperties):
                table = output.output_table(schema, name, output.DATA_BIAS_COLUMNS, self._dialect)
                source = found["source"]
                columns = list(dict.fromkeys([*found["sensitive"], *found["strata"], found["outcome"]]))
                values = read_columns(user, source, columns)
                return Computed(
                    identity,
                    table,
                    _bias_rows(properties, found, values),
                    None,
                    properties.replace_result_table,
                )
            columns_of = (
                output.DATA_MONITORING_COLUMNS
                if isinstance(properties, DataMonitoringProperties)
                else output.MODEL_MONITORING_COLUMNS
            )
            table = output.output_table(schema, name, columns_of, self._dialect)
            existing = (
                output.existing_state(uow.connection, table)
                if user.tables.exists(table.schema, table.name)
                else (False, set())
            )
            base_cols, new_cols = self._read(user, properties, found)
        periods, period_of_row = _periods(properties, found["time"], new_cols)
        recompute = properties.periods.recompute
        wanted = {
            k for k, p in enumerate(periods) if recompute or p is None or (p.start, p.end) not in existing[1]
        }
        with_baseline = recompute or not existing[0]
        threshold = properties.periods.threshold_in_force
        if len(next(iter(base_cols.values()), [])) < (
            data.MIN_ROWS if isinstance(properties, DataMonitoringProperties) else model.MIN_ROWS
        ):
            needed = data.MIN_ROWS if isinstance(properties, DataMonitoringProperties) else model.MIN_ROWS
            raise MonitoringFailed(
                f"baselineData has fewer than {needed} rows; the analysis needs at least {needed}."
            )
        if isinstance(properties, DataMonitoringProperties):
            rows = _data_rows(
                found, base_cols, new_cols, periods, period_of_row, threshold, wanted, with_baseline
            )
        else:
            assert checked is not None
            rows = []
            for model_id, spec in checked.specs:
                rows += _model_rows(
                    model_id,
                    spec,
                    prepared[model_id],
                    found,
                    properties,
                    base_cols,
                    new_cols,
                    periods,
                    period_of_row,
                    threshold,
                    wanted,
                    with_baseline,
                )
        return Computed(identity, table, rows, periods if recompute else None)

    @staticmethod
    def _read(
        user: UserTables, properties: MonitoringProperties, found: dict[str, Any]
    ) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
        caseid_base, caseid_new = found["caseid"]
        if isinstance(properties, DataMonitoringProperties):
            base_names = [b for b, _, _ in found["features"]]
            new_names = [n for _, n, _ in found["features"]]
            anchor_base, anchor_new = found["anchor"]
            base_names += [anchor_base] if anchor_base else []
            new_names += [anchor_new] if anchor_new else []
        else:
            columns = list(
                dict.fromkeys(c for feeds in found["feeds"].values() for feed in feeds for c in feed.columns)
            )
            base_names = [*columns, found["target"][0]]
            new_names = [new_column(found["new"], c) for c in columns] + [found["target"][1]]
        if found["time"]:
            new_names.append(found["time"])
        base_cols = read_columns(
            user, found["base"], list(dict.fromkeys(base_names)), [caseid_base] if caseid_base else ()
        )
        new_cols = read_columns(
            user, found["new"], list(dict.fromkeys(new_names)), [caseid_new] if caseid_new else ()
        )
        return base_cols, new_cols

    def write(self, connection: Connection, computed: Computed) -> None:
        """Create the output table if need be and write the run's rows, in the caller's transaction."""
        dialect = self._dialect
        now = utcnow()
        with user_tables(connection, computed.identity) as user:
            user.tables.create(computed.table)
            user.guard_output(computed.table)
            if computed.replace_all:
                from sqlalchemy import delete

                connection.execute(delete(computed.table))
            elif computed.replaced is not None:
                output.delete_recomputed(connection, computed.table, computed.replaced, dialect)
            rows = []
            for row in computed.rows:
                values = dict(row)
                for name in ("START_TIME", "END_TIME"):
                    if name in values:
                        values[name] = output.time_value(values[name], dialect)
                values["CREATION_TIME"] = output.time_value(now, dialect)
                rows.append(values)
            user.tables.insert(computed.table, rows)


def new_column(source: Source, name: str) -> str:
    return source.column(name, "newData").name


def _periods(
    properties: MonitoringProperties, time: str | None, new_cols: dict[str, list[Any]]
) -> tuple[list[Period | None], np.ndarray]:
    assert not isinstance(properties, DataBiasProperties)
    periods_of = properties.periods
    count = len(next(iter(new_cols.values()), []))
    if time is None:
        return [None], np.zeros(count, dtype=np.int64)
    times: list[datetime | None] = [v if isinstance(v, datetime) else _as_datetime(v) for v in new_cols[time]]
    present = [as_utc(t) for t in times if t is not None]
    if not present:
        return [], np.full(count, -1, dtype=np.int64)
    grid = period_grid(
        min(present),
        max(present),
        start=periods_of.start_date,
        end=periods_of.end_date,
        frequency=periods_of.frequency,
    )
    return list(grid), assign(times, grid)


def _as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    from datetime import date

    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return None


def _data_rows(
    found: dict[str, Any],
    base_cols: dict[str, list[Any]],
    new_cols: dict[str, list[Any]],
    periods: list[Period | None],
    period_of_row: np.ndarray,
    threshold: float,
    wanted: set[int],
    with_baseline: bool,
) -> list[dict[str, Any]]:
    def array(values: list[Any], kind: str) -> np.ndarray:
        return numeric_array(values) if kind == NUMERIC else categorical_array(values)

    features = [
        data.Feature(n, kind, array(base_cols[b], kind), array(new_cols[n], kind))
        for b, n, kind in found["features"]
    ]
    anchor = None
    anchor_base, anchor_new = found["anchor"]
    if anchor_base and anchor_new:
        kind = feature_kind(found["new"].column(anchor_new, "anchorColumn")) or CATEGORICAL
        anchor = data.Anchor(kind, array(base_cols[anchor_base], kind), array(new_cols[anchor_new], kind))
    return data.monitor_data(
        features,
        period_of_row,
        periods,
        threshold=threshold,
        wanted=wanted,
        with_baseline=with_baseline,
        anchor=anchor,
    )


def _model_rows(
    model_id: str,
    spec: ScoringSpec,
    prepared: PreparedModel,
    found: dict[str, Any],
    properties: ModelMonitoringProperties,
    base_cols: dict[str, list[Any]],
    new_cols: dict[str, list[Any]],
    periods: list[Period | None],
    period_of_row: np.ndarray,
    threshold: float,
    wanted: set[int],
    with_baseline: bool,
) -> list[dict[str, Any]]:
    feeds = found["feeds"][model_id]
    columns = tuple(dict.fromkeys(c for feed in feeds for c in feed.columns))
    function = spec.function.value.upper()
    target_base, target_new = found["target"]
    new_source = found["new"]
    rename_new = {new_column(new_source, c): c for c in columns}
    base = {c: base_cols[c] for c in columns} | {target_base: base_cols[target_base]}
    new = {rename_new.get(k, k): v for k, v in new_cols.items() if k in rename_new} | {
        target_base: new_cols[target_new]
    }
    plan = ScoringPlan("", (), feeds, None, spec.function, 1, (), columns)

    def score(values: model.Columns) -> model.Predictions:
        rows = list(zip(*(values[c] for c in columns), strict=True))
        step = max(1, prepared.inputs.limits.max_rows)
        results: list[dict[str, Any]] = []
        try:
            for start in range(0, len(rows), step):
                results += prepared.score_records(plan.records(rows[start : start + step]), None)
        except OmlError as exc:
            raise MonitoringFailed(
                f"Scoring with model {model_id} failed: {plan.explain_failure(exc, rows)}"
            ) from exc
        if function == "REGRESSION":
            return model.Predictions(values=np.asarray([r["regression"] for r in results], dtype=np.float64))
        classes = (
            tuple(label_text(item["label"]) or "" for item in results[0]["classifications"])
            if results
            else ()
        )
        probabilities = np.asarray(
            [[item["probability"] for item in r["classifications"]] for r in results], dtype=np.float64
        ).reshape(len(results), len(classes))
        labels = [classes[i] for i in np.argmax(probabilities, axis=1)] if len(classes) else []
        return model.Predictions(labels=labels, probabilities=probabilities, classes=classes)

    metric = properties.performance_metric or DEFAULT_METRIC[function]
    return model.monitor_model(
        model_id,
        function,
        score,
        base,
        new,
        target=target_base,
        features=columns,
        period_of_row=period_of_row,
        periods=periods,
        threshold=threshold,
        metric=metric,
        wanted=wanted,
        with_baseline=with_baseline,
        positive=properties.positive_class,
    )


def _bias_rows(
    properties: DataBiasProperties, found: dict[str, Any], values: dict[str, list[Any]]
) -> list[dict[str, Any]]:
    source: Source = found["source"]

    def groups(name: str) -> np.ndarray:
        kind = feature_kind(source.column(name, "sensitiveFeatures"))
        if kind == NUMERIC:
            return bias.numeric_groups(
                numeric_array(values[name]), properties.numerical_bin_num or bias.DEFAULT_NUMERIC_BINS
            )
        return bias.categorical_groups(values[name], properties.categorical_bin_num)

    outcome = values[found["outcome"]]
    if properties.outcome_threshold is not None:
        numbers = numeric_array(outcome)
        positive = np.where(np.isnan(numbers), False, numbers >= properties.outcome_threshold)
    else:
        positive = np.asarray([label_text(v) == properties.positive_outcome for v in outcome], dtype=bool)
    strata = {name: groups(name) for name in found["strata"]}
    rows = []
    for name in found["sensitive"]:
        report = bias.bias_report(groups(name), positive, strata, pairwise=properties.pairwise_mode)
        rows.append({"FEATURE_NAME": name, "RESULT": json.dumps(report)})
    return rows


def compute_failure_message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, OmlError) else type(exc).__name__


__all__: Sequence[str] = ("WHOLE_RUN", "Computed", "MonitorRuns", "MonitoringFailed", "is_monitoring")
