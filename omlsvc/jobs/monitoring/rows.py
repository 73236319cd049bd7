"""From the columns a run read to its output rows: the period grid over the new data's time column,
and the adapters between table values and the pure computations of :mod:`~omlsvc.jobs.monitoring.data`,
:mod:`~omlsvc.jobs.monitoring.model` and :mod:`~omlsvc.jobs.monitoring.bias` (model monitoring scores
through the same :class:`~omlsvc.scoring.scorer.PreparedModel` and column-to-input mapping as batch
scoring).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from omlsvc.core.errors import OmlError
from omlsvc.core.signature import ScoringSpec
from omlsvc.jobs.monitoring import bias, data, model
from omlsvc.jobs.monitoring.checks import BiasSource, Sources
from omlsvc.jobs.monitoring.metrics import DEFAULT_METRIC, label_text
from omlsvc.jobs.monitoring.periods import Period, as_utc, assign, period_grid
from omlsvc.jobs.monitoring.properties import DataBiasProperties, ModelMonitoringProperties
from omlsvc.jobs.monitoring.sections import Periods
from omlsvc.jobs.monitoring.sources import (
    CATEGORICAL,
    NUMERIC,
    categorical_array,
    feature_kind,
    numeric_array,
)
from omlsvc.jobs.plan import ScoringPlan
from omlsvc.scoring.scorer import PreparedModel

Values = dict[str, list[Any]]


class MonitoringFailed(OmlError):
    """A monitoring run cannot be computed (too few rows, a model gone, a table changed)."""

    code = "RUN_FAILED"


@dataclass(frozen=True)
class RunScope:
    """What a run of a job with periods covers, whatever it monitors: the period grid, each new row's
    period index, the periods whose rows are computed, the drift threshold, and whether the baseline's
    row is written."""

    periods: list[Period | None]
    period_of_row: np.ndarray
    threshold: float
    wanted: set[int]
    with_baseline: bool


def periods_of(periods: Periods, time: str | None, new: Values) -> tuple[list[Period | None], np.ndarray]:
    """The run's periods and each new row's period index (-1: in none); without a time column, one
    period without bounds holding every row."""
    count = len(next(iter(new.values()), []))
    if time is None:
        return [None], np.zeros(count, dtype=np.int64)
    times = [_instant(v) for v in new[time]]
    present = [as_utc(t) for t in times if t is not None]
    if not present:
        return [], np.full(count, -1, dtype=np.int64)
    grid = period_grid(
        min(present),
        max(present),
        start=periods.start_date,
        end=periods.end_date,
        frequency=periods.frequency,
    )
    return list(grid), assign(times, grid)


def _instant(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return None


def _array(values: list[Any], kind: str) -> np.ndarray:
    return numeric_array(values) if kind == NUMERIC else categorical_array(values)


def data_rows(
    sources: Sources,
    base: Values,
    new: Values,
    scope: RunScope,
) -> list[dict[str, Any]]:
    features = [
        data.Feature(f.names[1], f.kind, _array(base[f.names[0]], f.kind), _array(new[f.names[1]], f.kind))
        for f in sources.features
    ]
    anchor = None
    if sources.anchor is not None:
        base_name, new_name = sources.anchor
        kind = feature_kind(sources.new.column(new_name, "anchorColumn")) or CATEGORICAL
        anchor = data.Anchor(kind, _array(base[base_name], kind), _array(new[new_name], kind))
    return data.monitor_data(
        features,
        scope.period_of_row,
        scope.periods,
        threshold=scope.threshold,
        wanted=scope.wanted,
        with_baseline=scope.with_baseline,
        anchor=anchor,
    )


def model_scorer(model_id: str, spec: ScoringSpec, prepared: PreparedModel, sources: Sources) -> model.Score:
    """Scores columns (by baseline name) with the model, in chunks of its row limit, as batch scoring
    does; a failure names the model and the column, never a value."""
    feeds = sources.feeds[model_id]
    columns = tuple(dict.fromkeys(c for feed in feeds for c in feed.columns))
    plan = ScoringPlan("", (), feeds, None, spec.function, 1, (), columns)
    regression = spec.function.value.upper() == model.REGRESSION

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
        if regression:
            return model.Predictions(values=np.asarray([r["regression"] for r in results], dtype=np.float64))
        first = results[0]["classifications"] if results else []
        classes = tuple(label_text(item["label"]) or "" for item in first)
        probabilities = np.asarray(
            [[item["probability"] for item in r["classifications"]] for r in results], dtype=np.float64
        ).reshape(len(results), len(classes))
        labels = [classes[i] for i in np.argmax(probabilities, axis=1)] if classes else []
        return model.Predictions(labels=labels, probabilities=probabilities, classes=classes)

    return score


def model_rows(
    model_id: str,
    spec: ScoringSpec,
    prepared: PreparedModel,
    sources: Sources,
    properties: ModelMonitoringProperties,
    base: Values,
    new: Values,
    scope: RunScope,
) -> list[dict[str, Any]]:
    assert sources.target is not None
    columns = tuple(dict.fromkeys(c for feed in sources.feeds[model_id] for c in feed.columns))
    target_base, target_new = sources.target
    # the new data's columns under the baseline's names (they may differ in case)
    new_names = {c: sources.new.column(c, "newData").name for c in columns}
    function = spec.function.value.upper()
    return model.monitor_model(
        model_id,
        function,
        model_scorer(model_id, spec, prepared, sources),
        {c: base[c] for c in columns} | {target_base: base[target_base]},
        {c: new[new_names[c]] for c in columns} | {target_base: new[target_new]},
        target=target_base,
        features=columns,
        period_of_row=scope.period_of_row,
        periods=scope.periods,
        threshold=scope.threshold,
        metric=properties.performance_metric or DEFAULT_METRIC[function],
        wanted=scope.wanted,
        with_baseline=scope.with_baseline,
        positive=properties.positive_class,
    )


def bias_rows(properties: DataBiasProperties, found: BiasSource, values: Values) -> list[dict[str, Any]]:
    """One ``RESULT`` row per sensitive feature."""

    def groups(name: str) -> np.ndarray:
        if feature_kind(found.source.column(name, "sensitiveFeatures")) == NUMERIC:
            bins = properties.numerical_bin_num or bias.DEFAULT_NUMERIC_BINS
            return bias.numeric_groups(numeric_array(values[name]), bins)
        return bias.categorical_groups(values[name], properties.categorical_bin_num)

    outcome = values[found.outcome]
    if properties.outcome_threshold is not None:
        numbers = numeric_array(outcome)
        positive = np.where(np.isnan(numbers), False, numbers >= properties.outcome_threshold)
    else:
        positive = np.asarray([label_text(v) == properties.positive_outcome for v in outcome], dtype=bool)
    strata = {name: groups(name) for name in found.strata}
    return [
        {
            "FEATURE_NAME": name,
            "RESULT": json.dumps(
                bias.bias_report(groups(name), positive, strata, pairwise=properties.pairwise_mode)
            ),
        }
        for name in found.sensitive
    ]
