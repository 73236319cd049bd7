"""The pure statistics of monitoring jobs, checked against the numbers Oracle's examples show
(spec ``oml-monitoring.md``, the values marked [E] and [E✓])."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sklearn import metrics as sk

from omlsvc.jobs.monitoring import bias, drift, metrics, periods, statistics


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_the_period_grid_reproduces_oracles_three_yearly_periods() -> None:
    grid = periods.period_grid(
        utc(2006, 12, 16),
        utc(2010, 11, 26),
        start=utc(2008, 1, 1),
        end=utc(2010, 11, 26),
        frequency="Year",
    )
    assert [(p.start, p.end) for p in grid] == [
        (utc(2008, 1, 1), utc(2008, 11, 25, 23, 59, 58)),
        (utc(2008, 11, 25, 23, 59, 59), utc(2009, 11, 25, 23, 59, 59)),
        (utc(2009, 11, 26), utc(2010, 11, 26)),
    ]


def test_without_a_start_date_at_most_ten_periods_are_laid_out() -> None:
    grid = periods.period_grid(utc(2020, 1, 1), utc(2025, 2, 1), frequency="month")
    assert len(grid) == 10 and grid[-1].end == utc(2025, 2, 1) and grid[-1].start == utc(2025, 1, 1)
    assert periods.period_grid(utc(2025, 1, 20), utc(2025, 2, 1), frequency="month")[0].start == utc(
        2025, 1, 20
    )


def test_rows_in_the_one_second_gaps_belong_to_the_period_before() -> None:
    grid = periods.period_grid(utc(2008, 1, 1), utc(2010, 11, 26), frequency="year", start=utc(2008, 1, 1))
    times = [
        datetime(2008, 11, 25, 23, 59, 58, 500000),  # in the gap, zone-less: taken as UTC
        utc(2009, 11, 25, 23, 59, 59, 500000),
        utc(2010, 11, 26),
        utc(2010, 11, 26, 0, 0, 1),  # after the end
        utc(2007, 12, 31),
        None,
    ]
    assert periods.assign(times, grid).tolist() == [0, 1, 2, -1, -1, -1]


def test_bins_are_equal_width_over_the_baseline_as_in_oracles_prediction_statistics() -> None:
    # min 0.093934, max 10.073 -> edges 2.0897, 4.0855, ... [E✓]
    edges = statistics.numeric_edges(np.array([0.093934, 5.0, 10.073]))
    assert edges[:2] == [
        pytest.approx(2.0897, rel=1e-4),
        pytest.approx(4.0855, rel=1e-4),
    ]  # min, max were rounded
    shares = statistics.numeric_shares(np.array([-5.0, 2.0897, 3.0, 99.0, np.nan]), edges)
    assert shares.tolist() == [0.5, 0.25, 0.0, 0.0, 0.25]  # below min: first bin; above max: last


def test_numbers_are_written_with_five_significant_digits() -> None:
    assert [statistics.significant(v) for v in (0.00173961, 1016.43, 0.0000683279, 0.0)] == [
        0.0017396,
        1016.4,
        0.000068328,
        0.0,
    ]
    assert statistics.significant(float("nan")) is None


def test_psi_is_the_sum_of_share_differences_times_their_log_ratio() -> None:
    p = np.array([0.87908, 0.1, 0.02, 0.000932, 0.0])
    q = np.array([0.85, 0.12, 0.025, 0.004932, 0.000068])
    empty = 1e-6  # an empty baseline bin counts as 1e-6
    expected = sum((b - max(a, empty)) * np.log(b / max(a, empty)) for a, b in zip(p, q, strict=True))
    assert statistics.population_stability_index(p, q) == pytest.approx(expected)
    assert statistics.population_stability_index(p, p) == 0.0


def test_jensen_shannon_distance_is_base_two() -> None:
    assert statistics.jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert statistics.jensen_shannon(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == pytest.approx(0.0)


def test_categorical_metrics_keep_the_top_categories_and_one_bucket_for_the_rest() -> None:
    values = np.asarray(["A"] * 5 + ["B"] * 3 + ["C"] + [None], dtype=object)
    categories = statistics.categories_of(values, top=2)
    assert categories == ["A", "B"]
    result = statistics.categorical_metrics(values, categories)
    assert result["number_of_missing_values"] == 1 and result["number_of_unique_values"] == 3
    assert result["bin_distribution"] == [
        {"bin_value": "A", "bin_percentage": 0.55556},
        {"bin_value": "B", "bin_percentage": 0.33333},
        {"bin_value": None, "bin_percentage": 0.11111},
    ]


def test_model_drift_is_the_relative_change_of_the_metric() -> None:
    # Oracle's example: 0.1608 > 0.15 flags drift [E✓]; our example: |0.739 - 0.841| / 0.841
    assert metrics.model_drift(0.841, 0.739) == pytest.approx(0.12128, rel=1e-4)
    assert metrics.model_drift(0.0, 0.0) == 0.0 and metrics.model_drift(0.0, 0.1) is None


def test_classification_metrics_are_scikit_learns_for_the_positive_class() -> None:
    actual = ["Y", "N", "Y", "Y", "N", "N", "Y", "N"]
    predicted = ["Y", "N", "N", "Y", "Y", "N", "Y", "N"]
    proba = np.array(
        [[0.2, 0.8], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.4, 0.6], [0.8, 0.2], [0.1, 0.9], [0.7, 0.3]]
    )
    got = metrics.classification_metrics(actual, predicted, proba, ("N", "Y"))
    truth = np.array(actual) == "Y"
    assert got == {
        "Accuracy": sk.accuracy_score(actual, predicted),
        "Balanced accuracy": sk.balanced_accuracy_score(actual, predicted),
        "AUC": sk.roc_auc_score(truth, proba[:, 1]),
        "F1": sk.f1_score(actual, predicted, pos_label="Y"),
        "Precision": sk.precision_score(actual, predicted, pos_label="Y"),
        "Recall": sk.recall_score(actual, predicted, pos_label="Y"),
    }


def test_regression_metrics_use_oracles_keys() -> None:
    got = metrics.regression_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.1, 1.9, 3.3, 3.6]))
    assert list(got) == ["R2", "Mean squared error", "Mean absolute error", "Median absolute error"]
    assert got["Mean squared error"] == pytest.approx(0.0675)


def test_bias_metrics_reproduce_oracles_adult_numbers() -> None:
    # 21 790 male / 10 771 female, 6 662 / 1 179 earning >50K -> CI 0.33841, SP 0.19628, weights [E✓]
    groups = np.asarray(["Male"] * 21790 + ["Female"] * 10771, dtype=object)
    positive = np.concatenate([np.arange(21790) < 6662, np.arange(10771) < 1179])
    report = bias.bias_report(groups, positive)
    male = next(m for m in report["metric"] if m["group_a"] == "Male")
    assert (male["CI"], male["SP"]) == (0.33841, 0.19628)
    weights = next(w for w in report["reweighing_matrix"] if w["group_a"] == "Male")
    assert weights == {
        "group_a": "Male",
        "group_a_pos_weight": 0.78764,
        "non_group_a_pos_weight": 2.2,
        "group_a_neg_weight": 1.0935,
        "non_group_a_neg_weight": 0.85251,
    }


def test_the_domain_classifier_tells_a_shifted_feature_from_stable_ones() -> None:
    rng = np.random.default_rng(0)
    base = {"moved": rng.normal(0, 1, 500), "still": rng.normal(0, 1, 500)}
    new = {"moved": rng.normal(2, 1, 300), "still": rng.normal(0, 1, 300)}
    found = drift.domain_drift(base, new, {"moved": False, "still": False})
    assert found.drift > 0.85
    assert found.importance["moved"] > 0.5 > 0.1 > found.importance["still"]
    same = drift.domain_drift(
        base, {k: rng.normal(0, 1, 300) for k in base}, {"moved": False, "still": False}
    )
    assert same.drift < 0.7
