"""Data drift of one period against the baseline (spec ``oml-monitoring.md`` section 8.1, our design):
a domain classifier.

Baseline rows are labelled 0 and the period's rows 1; a gradient-boosted tree classifier learns to
tell them apart on 70 % of the rows, and its ROC AUC on the other 30 % (floored at 0.5) is the
period's ``DRIFT``: 0.5 when the two are indistinguishable, 1 when fully separable. A feature's
``IMPORTANCE_VALUE`` is the share of the excess separability that goes when that feature is
shuffled in the holdout. Sampling, splitting and shuffling are seeded, so a run is repeatable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

#: Rows sampled from the baseline and from the period (spec 8.1).
MAX_SAMPLE = 50_000
SEED = 0


@dataclass(frozen=True)
class Drift:
    drift: float
    importance: dict[str, float]


def encode(values: np.ndarray, categories: list[str] | None) -> np.ndarray:
    """A feature as the classifier reads it: floats with NaN, or category codes (NaN when missing)."""
    if categories is None:
        return values.astype(np.float64)
    index = {name: float(i) for i, name in enumerate(categories)}
    other = float(len(categories))
    return np.asarray([np.nan if v is None else index.get(str(v), other) for v in values], dtype=np.float64)


def _sample(matrix: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if len(matrix) <= MAX_SAMPLE:
        return matrix
    return matrix[np.sort(rng.choice(len(matrix), MAX_SAMPLE, replace=False))]


def domain_drift(
    baseline: Mapping[str, np.ndarray], period: Mapping[str, np.ndarray], categorical: Mapping[str, bool]
) -> Drift:
    """``DRIFT`` and per-feature ``IMPORTANCE_VALUE`` of ``period`` against ``baseline``, on one
    thread: runners share their host with gunicorn workers, and OpenMP spreading a small fit over
    every core made it twenty times slower on a loaded machine."""
    with threadpool_limits(1):
        return _domain_drift(baseline, period, categorical)


def _domain_drift(
    baseline: Mapping[str, np.ndarray], period: Mapping[str, np.ndarray], categorical: Mapping[str, bool]
) -> Drift:
    """``DRIFT`` and per-feature ``IMPORTANCE_VALUE`` of ``period`` against ``baseline`` (both encoded
    by :func:`encode`, same feature order; ``categorical`` says which features are codes).

    scikit-learn is imported here, on first use, not with the module: it takes most of a second,
    which every CLI command and worker start would otherwise pay."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    names = list(baseline)
    rng = np.random.default_rng(SEED)
    base = _sample(np.column_stack([baseline[n] for n in names]), rng)
    new = _sample(np.column_stack([period[n] for n in names]), rng)
    x = np.vstack([base, new])
    y = np.concatenate([np.zeros(len(base)), np.ones(len(new))])
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=SEED, stratify=y)
    model = HistGradientBoostingClassifier(
        categorical_features=np.asarray([categorical[n] for n in names], dtype=bool),
        random_state=SEED,
        max_iter=100,
    )
    model.fit(x_train, y_train)
    auc = max(0.5, float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])))
    importance: dict[str, float] = {}
    excess = max(auc - 0.5, 0.01)
    for i, name in enumerate(names):
        shuffled = x_test.copy()
        shuffled[:, i] = rng.permutation(shuffled[:, i])
        without = max(0.5, float(roc_auc_score(y_test, model.predict_proba(shuffled)[:, 1])))
        importance[name] = max(0.0, auc - without) / excess
    return Drift(auc, importance)
