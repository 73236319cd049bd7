"""MODEL_MONITORING rows (spec ``oml-monitoring.md`` sections 5.2 and 8.2): each model's metrics on
the baseline and on each period, the period's drift of the chosen metric, statistics of the
predictions with their PSI against the baseline's, and permutation feature impacts.

Pure but for ``score``, the caller's function that scores rows with the model (the runner passes
the same prepared model the REST endpoint scores with).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omlsvc.jobs.monitoring import metrics as m
from omlsvc.jobs.monitoring import statistics
from omlsvc.jobs.monitoring.periods import Period

#: Rows the baseline and each period need (spec 3).
MIN_ROWS = 50
#: Rows per period the feature impact step shuffles at most (spec 8.2).
IMPACT_ROWS = 10_000
#: Features listed in ``most_impactful_features`` at most (spec 5.2).
MAX_IMPACTS = 20
SEED = 0
REGRESSION = "REGRESSION"
CLASSIFICATION = "CLASSIFICATION"


@dataclass(frozen=True)
class Predictions:
    """What a model said about some rows: values (regression) or labels with the probabilities of
    ``classes`` (classification; None when the model gives none)."""

    values: np.ndarray | None = None
    labels: list[str] | None = None
    probabilities: np.ndarray | None = None
    classes: tuple[str, ...] = ()


Columns = Mapping[str, Sequence[Any]]
Score = Callable[[Columns], Predictions]


def quality(
    function: str, actual: Sequence[Any], predicted: Predictions, positive: str | None
) -> dict[str, float | None]:
    """Every metric of the model's family, keyed as in ``MODEL_METRICS``."""
    if function == REGRESSION:
        assert predicted.values is not None
        result = m.regression_metrics(np.asarray(actual, dtype=np.float64), predicted.values)
        return dict(result)
    assert predicted.labels is not None
    return m.classification_metrics(
        [m.label_text(a) or "" for a in actual],
        predicted.labels,
        predicted.probabilities,
        predicted.classes,
        positive,
    )


def metric_key(metric: str) -> str:
    return {**m.REGRESSION_METRICS, **m.CLASSIFICATION_METRICS}[metric]


def _subset(columns: Columns, rows: np.ndarray) -> dict[str, list[Any]]:
    return {name: [values[i] for i in rows] for name, values in columns.items()}


@dataclass(frozen=True)
class PredictionBins:
    """How predictions are binned: the baseline's numeric edges (regression) or its classes."""

    edges: list[float] | None
    classes: list[str] | None

    @classmethod
    def of_baseline(cls, function: str, predicted: Predictions) -> PredictionBins:
        if function == REGRESSION:
            assert predicted.values is not None
            return cls(statistics.numeric_edges(predicted.values.astype(np.float64)), None)
        return cls(None, list(predicted.classes))

    def shares(self, predicted: Predictions) -> np.ndarray:
        if self.edges is not None:
            assert predicted.values is not None
            return statistics.numeric_shares(predicted.values.astype(np.float64), self.edges)
        return statistics.categorical_shares(np.asarray(predicted.labels, dtype=object), self.classes or [])

    def statistics(self, predicted: Predictions) -> dict[str, Any]:
        if self.edges is not None:
            assert predicted.values is not None
            stats = statistics.numeric_metrics(predicted.values.astype(np.float64), self.edges)
            return {
                k: stats[k]
                for k in ("mean_value", "min_value", "max_value", "standard_deviation", "bin_distribution")
            }
        shares = self.shares(predicted)
        return {
            "bin_distribution": [
                {"bin_value": name, "bin_percentage": statistics.significant(share)}
                for name, share in zip([*(self.classes or []), None], shares, strict=True)
                if name is not None or share > 0
            ]
        }

    def drift_statistics(self, baseline: Predictions, predicted: Predictions) -> dict[str, Any]:
        """A period's prediction statistics, led by their PSI against the baseline's."""
        return {
            "population_stability_index": statistics.significant(
                statistics.population_stability_index(self.shares(baseline), self.shares(predicted))
            ),
            **self.statistics(predicted),
        }


def _impacts(
    score: Score,
    function: str,
    columns: dict[str, list[Any]],
    target: list[Any],
    features: Sequence[str],
    metric: str,
    value: float | None,
    positive: str | None,
) -> list[dict[str, Any]]:
    rng = np.random.default_rng(SEED)
    n = len(target)
    if n > IMPACT_ROWS:
        keep = np.sort(rng.choice(n, IMPACT_ROWS, replace=False))
        columns = _subset(columns, keep)
        target = [target[i] for i in keep]
    impacts = []
    for name in features:
        shuffled = dict(columns)
        order = rng.permutation(len(target))
        shuffled[name] = [columns[name][i] for i in order]
        changed = quality(function, target, score(shuffled), positive).get(metric_key(metric))
        impact = m.feature_impact(value, changed)
        impacts.append({"feature_name": name, "feature_impact": statistics.significant(impact)})
    impacts.sort(key=lambda item: -float(item["feature_impact"] or 0.0))
    return impacts[:MAX_IMPACTS]


def monitor_model(
    model_id: str,
    function: str,
    score: Score,
    baseline: Columns,
    new: Columns,
    *,
    target: str,
    features: Sequence[str],
    period_of_row: np.ndarray,
    periods: Sequence[Period | None],
    threshold: float,
    metric: str,
    wanted: set[int],
    with_baseline: bool,
    positive: str | None = None,
    min_rows: int = MIN_ROWS,
) -> list[dict[str, Any]]:
    """The rows of one model for one run (``START_TIME``/``END_TIME`` as UTC datetimes or None).
    Rows whose target is missing are left out before anything is counted or scored."""
    base, base_target = _with_target(baseline, target)
    base_predictions = score(base)
    bins = PredictionBins.of_baseline(function, base_predictions)
    base_quality = quality(function, base_target, base_predictions, positive)
    base_metric = base_quality.get(metric_key(metric))
    rows: list[dict[str, Any]] = []
    if with_baseline:
        payload: dict[str, Any] = {
            **base_quality,
            "prediction_statistics": bins.statistics(base_predictions),
            "most_impactful_features": _impacts(
                score, function, base, base_target, features, metric, base_metric, positive
            ),
        }
        rows.append(_row(None, 1, model_id, base_metric, None, None, function, None, payload))
    present = np.asarray([not _missing(v) for v in new[target]], dtype=bool)
    for k, period in enumerate(periods):
        members = np.flatnonzero((period_of_row == k) & present)
        if k not in wanted or members.size < min_rows:
            continue
        data = _subset(new, members)
        actual = data.pop(target)
        predicted = score(data)
        period_quality = quality(function, actual, predicted, positive)
        value = period_quality.get(metric_key(metric))
        drift = m.model_drift(base_metric, value)
        payload = {
            **period_quality,
            "prediction_statistics": bins.drift_statistics(base_predictions, predicted),
            "most_impactful_features": _impacts(
                score, function, data, actual, features, metric, value, positive
            ),
        }
        has_drift = None if drift is None else int(drift > threshold)
        rows.append(_row(period, 0, model_id, value, has_drift, drift, function, threshold, payload))
    return rows


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _with_target(columns: Columns, target: str) -> tuple[dict[str, list[Any]], list[Any]]:
    """The rows whose ``target`` is set: their other columns, and their targets apart."""
    rows = np.asarray([i for i, v in enumerate(columns[target]) if not _missing(v)], dtype=np.int64)
    data = _subset(columns, rows)
    return data, data.pop(target)


def _row(
    period: Period | None,
    is_baseline: int,
    model_id: str,
    metric: float | None,
    has_drift: int | None,
    drift: float | None,
    function: str,
    threshold: float | None,
    payload: dict[str, Any],
) -> dict[str, Any]:
    rounded = {k: statistics.significant(v) if isinstance(v, float) else v for k, v in payload.items()}
    return {
        "START_TIME": None if period is None else period.start,
        "END_TIME": None if period is None else period.end,
        "IS_BASELINE": is_baseline,
        "MODEL_ID": model_id,
        "METRIC": metric,
        "HAS_DRIFT": has_drift,
        "DRIFT": drift,
        "MODEL_TYPE": function,
        "THRESHOLD": threshold,
        "MODEL_METRICS": json.dumps(rounded),
    }
