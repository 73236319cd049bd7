"""DATA_MONITORING rows (spec ``oml-monitoring.md`` sections 5.1 and 8.1): the baseline's statistics
per feature, then per period the same statistics on the baseline's bins, PSI and Jensen-Shannon
distance per feature, and the period's ``DRIFT`` with each feature's ``IMPORTANCE_VALUE``.

Pure: arrays in, rows (column name -> value) out; reading and writing is the runner's.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from omlsvc.jobs.monitoring import drift, statistics
from omlsvc.jobs.monitoring.periods import Period
from omlsvc.jobs.monitoring.sources import CATEGORICAL, NUMERIC

#: Rows the baseline and each period need (spec 2).
MIN_ROWS = 100


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # NUMERIC or CATEGORICAL
    baseline: np.ndarray
    new: np.ndarray


@dataclass(frozen=True)
class Anchor:
    kind: str
    baseline: np.ndarray
    new: np.ndarray


@dataclass(frozen=True)
class Binning:
    """A feature's baseline bins: inner edges (numeric) or top categories (categorical)."""

    edges: list[float] | None
    categories: list[str] | None

    def bin_index(self, values: np.ndarray) -> np.ndarray:
        if self.edges is not None:
            index = np.searchsorted(np.asarray(self.edges, dtype=np.float64), values, side="left")
            return np.where(np.isnan(values), -1, index)
        assert self.categories is not None
        position = {name: i for i, name in enumerate(self.categories)}
        other = len(self.categories)
        return np.asarray([-1 if v is None else position.get(str(v), other) for v in values], dtype=np.int64)

    @property
    def bins(self) -> int:
        return len(self.edges) + 1 if self.edges is not None else len(self.categories or ()) + 1


def binning(feature: Feature) -> Binning:
    if feature.kind == NUMERIC:
        return Binning(statistics.numeric_edges(feature.baseline), None)
    return Binning(None, statistics.categories_of(feature.baseline))


def feature_metrics(values: np.ndarray, kind: str, bins: Binning) -> dict[str, Any]:
    if kind == NUMERIC:
        return statistics.numeric_metrics(values, bins.edges or [])
    return statistics.categorical_metrics(values, bins.categories or [])


def shares(values: np.ndarray, kind: str, bins: Binning) -> np.ndarray:
    if kind == NUMERIC:
        return statistics.numeric_shares(values, bins.edges or [])
    return statistics.categorical_shares(values, bins.categories or [])


def anchor_statistics(
    values: np.ndarray, bins: Binning, anchor: Anchor, anchor_values: np.ndarray
) -> list[dict[str, Any]]:
    """Per feature bin: the anchor's mean (numeric anchor) or distribution (categorical), spec 5.1 [I]."""
    index = bins.bin_index(values)
    result: list[dict[str, Any]] = []
    for b in range(bins.bins):
        members = anchor_values[index == b]
        if anchor.kind == NUMERIC:
            present = members[~np.isnan(members.astype(np.float64))] if members.size else members
            result.append(
                {"bin": b, "anchor_mean": statistics.significant(present.mean()) if present.size else None}
            )
        else:
            counts = Counter(str(v) for v in members if v is not None)
            total = sum(counts.values())
            result.append(
                {
                    "bin": b,
                    "anchor_distribution": [
                        {"anchor_value": name, "percentage": statistics.significant(count / total)}
                        for name, count in sorted(counts.items())
                    ],
                }
            )
    return result


def _encoded(feature: Feature, values: np.ndarray, bins: Binning) -> np.ndarray:
    return drift.encode(values, None if feature.kind == NUMERIC else (bins.categories or []))


def monitor_data(
    features: list[Feature],
    period_of_row: np.ndarray,
    periods: list[Period | None],
    *,
    threshold: float,
    wanted: set[int],
    with_baseline: bool,
    anchor: Anchor | None = None,
    min_rows: int = MIN_ROWS,
) -> list[dict[str, Any]]:
    """The rows of one run: baseline rows (``with_baseline``), then for each period index in ``wanted``
    with at least ``min_rows`` rows, one row per feature. ``period_of_row``: each new row's period
    index (-1: none). ``START_TIME``/``END_TIME`` are UTC datetimes or None."""
    binnings = {f.name: binning(f) for f in features}
    rows: list[dict[str, Any]] = []
    if with_baseline:
        for f in features:
            metrics = feature_metrics(f.baseline, f.kind, binnings[f.name])
            if anchor is not None:
                metrics["anchor_bin_statistics"] = anchor_statistics(
                    f.baseline, binnings[f.name], anchor, anchor.baseline
                )
            rows.append(_row(None, 1, None, None, None, f, None, metrics))
    baseline_encoded = {f.name: _encoded(f, f.baseline, binnings[f.name]) for f in features}
    categorical = {f.name: f.kind == CATEGORICAL for f in features}
    for k, period in enumerate(periods):
        members = period_of_row == k
        if k not in wanted or int(members.sum()) < min_rows:
            continue
        found = drift.domain_drift(
            baseline_encoded,
            {f.name: _encoded(f, f.new[members], binnings[f.name]) for f in features},
            categorical,
        )
        has_drift = int(found.drift > threshold)
        for f in features:
            bins = binnings[f.name]
            values = f.new[members]
            metrics = feature_metrics(values, f.kind, bins)
            expected, actual = shares(f.baseline, f.kind, bins), shares(values, f.kind, bins)
            metrics["population_stability_index"] = statistics.significant(
                statistics.population_stability_index(expected, actual)
            )
            metrics["jensen_shannon_distance"] = statistics.significant(
                statistics.jensen_shannon(expected, actual)
            )
            if anchor is not None:
                metrics["anchor_bin_statistics"] = anchor_statistics(
                    values, bins, anchor, anchor.new[members]
                )
            rows.append(
                _row(period, 0, threshold, has_drift, found.drift, f, found.importance[f.name], metrics)
            )
    return rows


def _row(
    period: Period | None,
    is_baseline: int,
    threshold: float | None,
    has_drift: int | None,
    value: float | None,
    feature: Feature,
    importance: float | None,
    metrics: dict[str, Any],
) -> dict[str, Any]:
    return {
        "START_TIME": None if period is None else period.start,
        "END_TIME": None if period is None else period.end,
        "IS_BASELINE": is_baseline,
        "THRESHOLD": threshold,
        "HAS_DRIFT": has_drift,
        "DRIFT": value,
        "FEATURE_NAME": feature.name,
        "FEATURE_TYPE": feature.kind,
        "IMPORTANCE_VALUE": importance,
        "FEATURE_METRICS": json.dumps(metrics),
    }
