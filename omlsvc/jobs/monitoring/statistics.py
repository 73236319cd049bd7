"""Per-feature statistics of monitoring jobs (spec ``oml-monitoring.md`` section 5.1): summaries,
binning on the baseline's edges, population stability index and Jensen-Shannon distance.

Pure functions over numpy arrays (no SQL, no model): numeric values arrive as float arrays with NaN
for a missing value, categorical ones as object arrays with None.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Equal-width bins over the baseline's range (spec 5.1: default 5).
DEFAULT_BINS = 5
#: Categories kept by name in a categorical distribution; the rest share one ``null`` bucket.
TOP_CATEGORIES = 20
#: What an empty bin counts as in PSI (spec 5.2: replace 0 by 1e-6).
EMPTY_SHARE = 1e-6
DIGITS = 5


def significant(value: float | None, digits: int = DIGITS) -> float | None:
    """``value`` rounded to ``digits`` significant digits, as Oracle writes numbers in the metrics JSON
    (``0.0017396``, ``1016.4``); None for a missing or non-finite value."""
    if value is None:
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    if number == 0:
        return 0.0
    return float(f"{number:.{digits - 1}e}")


def numeric_edges(baseline: np.ndarray, bins: int = DEFAULT_BINS) -> list[float]:
    """The inner edges of ``bins`` equal-width bins over the non-missing baseline's [min, max]."""
    values = baseline[~np.isnan(baseline)]
    if values.size == 0:
        return []
    return [float(edge) for edge in np.linspace(values.min(), values.max(), bins + 1)[1:-1]]


def numeric_shares(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Shares of the non-missing ``values`` per bin (a value on an edge belongs to the bin below;
    below the first edge: first bin; above the last: last bin). Empty input: all zeros."""
    present = values[~np.isnan(values)]
    counts = np.bincount(
        np.searchsorted(np.asarray(edges, dtype=np.float64), present, side="left"), minlength=len(edges) + 1
    ).astype(np.float64)
    total = counts.sum()
    return counts / total if total else counts


def categories_of(baseline: np.ndarray, top: int = TOP_CATEGORIES) -> list[str]:
    """The ``top`` most frequent non-missing baseline categories, most frequent first (ties by name)."""
    counts = Counter(str(v) for v in baseline if v is not None)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [name for name, _ in ranked[:top]]


def categorical_shares(values: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """Shares of the non-missing ``values`` per category, plus a last share for every other value."""
    index = {name: i for i, name in enumerate(categories)}
    counts = np.zeros(len(categories) + 1)
    for value in values:
        if value is not None:
            counts[index.get(str(value), len(categories))] += 1
    total = counts.sum()
    return counts / total if total else counts


def population_stability_index(expected: np.ndarray, actual: np.ndarray) -> float:
    """``sum (q - p) * ln(q / p)`` over bins, p the baseline's shares, q the period's (natural log,
    empty bins counted as :data:`EMPTY_SHARE`)."""
    p = np.where(expected > 0, expected, EMPTY_SHARE)
    q = np.where(actual > 0, actual, EMPTY_SHARE)
    return float(np.sum((q - p) * np.log(q / p)))


def jensen_shannon(expected: np.ndarray, actual: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, so within [0, 1]) of two binned distributions (SciPy's,
    imported on first use so that starting a CLI command or a worker does not pay for SciPy)."""
    from scipy.spatial.distance import jensenshannon

    if expected.sum() == 0 or actual.sum() == 0:
        return 0.0
    return float(jensenshannon(expected, actual, base=2))


def _missing(count: int, total: int) -> dict[str, Any]:
    return {
        "number_of_missing_values": count,
        "percentage_missing": significant(count / total) if total else 0.0,
    }


def numeric_metrics(values: np.ndarray, edges: Sequence[float]) -> dict[str, Any]:
    """``FEATURE_METRICS`` of a numeric feature: missing values, range, mean, standard deviation
    (population, ``ddof=0``) and the distribution over the baseline's bins (last bin open)."""
    missing = int(np.isnan(values).sum())
    present = values[~np.isnan(values)]
    shares = numeric_shares(values, edges)
    bounds: list[float | None] = [significant(edge) for edge in edges]
    return {
        **_missing(missing, int(values.size)),
        "min_value": significant(present.min()) if present.size else None,
        "max_value": significant(present.max()) if present.size else None,
        "mean_value": significant(present.mean()) if present.size else None,
        "standard_deviation": significant(present.std()) if present.size else None,
        "bin_distribution": [
            {"bin_upper_boundary": bound, "bin_percentage": significant(share)}
            for bound, share in zip([*bounds, None], shares, strict=True)
        ],
    }


def categorical_metrics(values: np.ndarray, categories: Sequence[str]) -> dict[str, Any]:
    """``FEATURE_METRICS`` of a categorical feature (our layout, spec 5.1): missing values, distinct
    values, and the shares of the baseline's top categories plus one ``null`` bucket for the rest."""
    missing = sum(1 for v in values if v is None)
    unique = len({str(v) for v in values if v is not None})
    shares = categorical_shares(values, categories)
    names: list[str | None] = [*categories, None]
    return {
        **_missing(missing, len(values)),
        "number_of_unique_values": unique,
        "bin_distribution": [
            {"bin_value": name, "bin_percentage": significant(share)}
            for name, share in zip(names, shares, strict=True)
        ],
    }
