"""Model quality metrics of model monitoring (spec ``oml-monitoring.md`` sections 5.2 and 8.3), all
from scikit-learn, and the model drift formula.

Labels are compared as text (:func:`label_text`), so a target stored as ``1``, ``1.0`` or ``'1'``
matches a model label ``1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

REGRESSION_METRICS = {
    "R2": "R2",
    "MEAN_SQUARED_ERROR": "Mean squared error",
    "MEAN_ABSOLUTE_ERROR": "Mean absolute error",
    "MEDIAN_ABSOLUTE_ERROR": "Median absolute error",
}
CLASSIFICATION_METRICS = {
    "ACCURACY": "Accuracy",
    "BALANCED_ACCURACY": "Balanced accuracy",
    "AUC": "AUC",
    "F1": "F1",
    "PRECISION": "Precision",
    "RECALL": "Recall",
}
#: What ``performanceMetric`` may name.
PERFORMANCE_METRICS = (*CLASSIFICATION_METRICS, *REGRESSION_METRICS)
DEFAULT_METRIC = {"REGRESSION": "MEAN_SQUARED_ERROR", "CLASSIFICATION": "BALANCED_ACCURACY"}
#: The positive class of binary metrics when ``positiveClass`` is not given and one of these is a label.
POSITIVE_NAMES = ("1", "Y", "YES", "TRUE")


def _sklearn_metrics() -> ModuleType:
    """scikit-learn's metrics, imported on first use: importing scikit-learn takes most of a second,
    which every CLI command and every worker start would otherwise pay for a run that may never come."""
    from sklearn import metrics

    return metrics


def label_text(value: Any) -> str | None:
    """A class label as text: integral floats lose their ``.0``; None stays None."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return str(value).upper()
    return str(value)


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Every regression metric, keyed as in Oracle's ``MODEL_METRICS`` JSON."""
    sk = _sklearn_metrics()
    return {
        "R2": float(sk.r2_score(actual, predicted)),
        "Mean squared error": float(sk.mean_squared_error(actual, predicted)),
        "Mean absolute error": float(sk.mean_absolute_error(actual, predicted)),
        "Median absolute error": float(sk.median_absolute_error(actual, predicted)),
    }


def positive_class(labels: Sequence[str], given: str | None) -> str:
    """``positiveClass`` if given, else ``1``/``Y``/``YES``/``TRUE`` when a label, else the last label."""
    if given is not None:
        return given
    upper = {label.upper(): label for label in labels}
    for name in POSITIVE_NAMES:
        if name in upper:
            return upper[name]
    return sorted(labels)[-1]


def classification_metrics(
    actual: Sequence[str],
    predicted: Sequence[str],
    probabilities: np.ndarray | None,
    classes: Sequence[str],
    positive: str | None = None,
) -> dict[str, float | None]:
    """Every classification metric. ``classes``: the model's labels, the columns of ``probabilities``
    (None when the model gives none: AUC is then null). Binary problems use the positive class,
    multiclass ones macro averages."""
    sk = _sklearn_metrics()
    y = np.asarray(actual, dtype=object)
    p = np.asarray(predicted, dtype=object)
    binary = len(classes) == 2
    averaging: dict[str, Any] = (
        {"average": "binary", "pos_label": positive_class(classes, positive)}
        if binary
        else {"average": "macro"}
    )
    labels = list(classes)
    result: dict[str, float | None] = {
        "Accuracy": float(sk.accuracy_score(y, p)),
        "Balanced accuracy": float(sk.balanced_accuracy_score(y, p)),
        "AUC": None,
        "F1": float(sk.f1_score(y, p, labels=None if binary else labels, zero_division=0, **averaging)),
        "Precision": float(
            sk.precision_score(y, p, labels=None if binary else labels, zero_division=0, **averaging)
        ),
        "Recall": float(
            sk.recall_score(y, p, labels=None if binary else labels, zero_division=0, **averaging)
        ),
    }
    if probabilities is not None and len(set(y.tolist())) > 1:
        if binary:
            column = labels.index(positive_class(classes, positive))
            result["AUC"] = float(sk.roc_auc_score(y == labels[column], probabilities[:, column]))
        elif set(y.tolist()) <= set(labels):
            present = sorted(set(y.tolist()))
            if len(present) == len(labels):
                result["AUC"] = float(
                    sk.roc_auc_score(y, probabilities, multi_class="ovr", average="macro", labels=labels)
                )
    return result


def model_drift(baseline: float | None, period: float | None) -> float | None:
    """``|m_period - m_baseline| / |m_baseline|`` (spec 5.2); with a zero baseline: 0 when the period
    is 0 too, else null."""
    if baseline is None or period is None:
        return None
    if baseline == 0:
        return 0.0 if period == 0 else None
    return abs(period - baseline) / abs(baseline)


def feature_impact(metric: float | None, shuffled: float | None) -> float | None:
    """How much shuffling one feature changes the chosen metric, relative to it (spec 5.2)."""
    if metric is None or shuffled is None:
        return None
    if metric == 0:
        return abs(shuffled)
    return abs(shuffled - metric) / abs(metric)
